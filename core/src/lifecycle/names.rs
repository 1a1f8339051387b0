//! One spelling of every option, for every binding: snake_case in Rust, Python and C
//! (`kt_options_set`), camelCase in Node, `kafka_trace.<snake>` as a librdkafka property.

/// One option and its spellings.
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
