//! One spelling of every option, for every binding: snake_case in Rust, Python and C
//! (`kt_options_set`), camelCase in Node, `kafka_trace.<snake>` as a librdkafka property.

/// One option and its spellings.
///
/// # Examples
///
/// ```
/// use kafka_trace::lifecycle::{OptionName, OPTION_NAMES};
///
/// let key: &OptionName = OPTION_NAMES.iter().find(|o| o.snake == "record_message_key").unwrap();
/// assert_eq!(key.camel, "recordMessageKey");
/// assert!(key.doc.contains("messaging.kafka.message.key"));
/// ```
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct OptionName {
    /// Rust, Python and C spelling.
    pub snake: &'static str,
    /// Node spelling.
    pub camel: &'static str,
    /// What it does.
    pub doc: &'static str,
}

/// Every option a binding accepts.
///
/// # Examples
///
/// ```
/// use kafka_trace::lifecycle::OPTION_NAMES;
///
/// let snake: Vec<&str> = OPTION_NAMES.iter().map(|o| o.snake).collect();
/// assert_eq!(
///     snake,
///     ["strategy", "record_message_key", "record_body_size", "include_topics", "exclude_topics", "client_id", "consumer_group", "bootstrap_servers"]
/// );
/// // A librdkafka plugin property is `kafka_trace.<snake>`.
/// assert_eq!(format!("kafka_trace.{}", OPTION_NAMES[3].snake), "kafka_trace.include_topics");
/// ```
pub const OPTION_NAMES: [OptionName; 8] = [
    OptionName {
        snake: "strategy",
        camel: "strategy",
        doc: "`parent` (default: the producer's context is the parent) or `link`",
    },
    OptionName {
        snake: "record_message_key",
        camel: "recordMessageKey",
        doc: "record UTF-8 keys as `messaging.kafka.message.key` (default true)",
    },
    OptionName {
        snake: "record_body_size",
        camel: "recordBodySize",
        doc: "record `messaging.message.body.size` (default false)",
    },
    OptionName {
        snake: "include_topics",
        camel: "includeTopics",
        doc: "only these topics (exact names or `*` globs)",
    },
    OptionName {
        snake: "exclude_topics",
        camel: "excludeTopics",
        doc: "never these topics (wins over include)",
    },
    OptionName {
        snake: "client_id",
        camel: "clientId",
        doc: "`messaging.client.id`",
    },
    OptionName {
        snake: "consumer_group",
        camel: "consumerGroup",
        doc: "`messaging.consumer.group.name`",
    },
    OptionName {
        snake: "bootstrap_servers",
        camel: "bootstrapServers",
        doc: "`server.address`/`server.port` from the first entry",
    },
];
