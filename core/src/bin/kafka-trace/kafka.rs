//! Broker plumbing shared by `demo` and `inspect`: client configuration, a bounded reachability
//! check, topic creation and partition discovery. Every wait here has a deadline.

use std::time::{Duration, Instant};

pub use kafka_trace::span::now_ms;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::types::RDKafkaErrorCode;

/// The connection settings every client here shares: network timeouts that fit inside `timeout`.
fn network_config(bootstrap: &str, timeout: Duration) -> (ClientConfig, String) {
    let ms = timeout.as_millis().clamp(1_000, 300_000).to_string();
    let mut config = ClientConfig::new();
    config.set("bootstrap.servers", bootstrap).set("socket.timeout.ms", &ms).set("socket.connection.setup.timeout.ms", &ms);
    (config, ms)
}

/// A client configuration for `bootstrap` whose network timeouts fit inside `timeout`.
pub fn client_config(bootstrap: &str, timeout: Duration) -> ClientConfig {
    let (mut config, ms) = network_config(bootstrap, timeout);
    config.set("message.timeout.ms", &ms).set("request.timeout.ms", &ms);
    config
}

/// Like [`client_config`] without the producer-only settings (librdkafka warns about them).
pub fn consumer_config(bootstrap: &str, timeout: Duration) -> ClientConfig {
    let (mut config, _) = network_config(bootstrap, timeout);
    config.set("enable.auto.commit", "false").set("enable.auto.offset.store", "false");
    config
}

fn seconds(timeout: Duration) -> String {
    format!("{} s", timeout.as_secs_f64())
}

/// A metadata consumer for `bootstrap`, after checking within `timeout` that a broker answers.
pub fn connect(bootstrap: &str, timeout: Duration) -> Result<BaseConsumer, String> {
    let consumer: BaseConsumer = consumer_config(bootstrap, timeout)
        .set("group.id", "kafka-trace-metadata")
        .create()
        .map_err(|e| format!("invalid Kafka configuration for {bootstrap:?}: {e}"))?;
    match consumer.fetch_metadata(None, timeout) {
        Ok(metadata) if !metadata.brokers().is_empty() => Ok(consumer),
        Ok(_) => Err(format!("Kafka at {bootstrap} answered without any broker")),
        Err(e) => Err(format!(
            "cannot reach Kafka at {bootstrap} within {} ({e}); is a broker running there? \
             (`bash scripts/kafka.sh start` starts one; `kafka-trace demo` without --bootstrap uses an embedded mock cluster)",
            seconds(timeout)
        )),
    }
}

/// Partition ids of `topic`, or why there are none (unknown topic, unreachable broker).
pub fn partitions(consumer: &BaseConsumer, topic: &str, timeout: Duration) -> Result<Vec<i32>, String> {
    let metadata = consumer.fetch_metadata(Some(topic), timeout).map_err(|e| format!("cannot read metadata of topic {topic}: {e}"))?;
    let entry = metadata.topics().iter().find(|t| t.name() == topic).ok_or_else(|| format!("topic {topic} does not exist"))?;
    if let Some(error) = entry.error() {
        return Err(match RDKafkaErrorCode::from(error) {
            RDKafkaErrorCode::UnknownTopicOrPartition | RDKafkaErrorCode::UnknownTopic => format!("topic {topic} does not exist"),
            code => format!("topic {topic}: {code}"),
        });
    }
    let mut ids: Vec<i32> = entry.partitions().iter().map(|p| p.id()).collect();
    ids.sort_unstable();
    if ids.is_empty() {
        return Err(format!("topic {topic} has no partitions"));
    }
    Ok(ids)
}

/// Waits (up to `timeout`) until `topic` has partitions that all have a leader; returns them.
pub fn wait_for_topic(consumer: &BaseConsumer, topic: &str, timeout: Duration) -> Result<Vec<i32>, String> {
    let deadline = Instant::now() + timeout;
    loop {
        let remaining = deadline.saturating_duration_since(Instant::now()).max(Duration::from_millis(100));
        let ready = consumer
            .fetch_metadata(Some(topic), remaining)
            .ok()
            .and_then(|m| m.topics().iter().find(|t| t.name() == topic && t.error().is_none()).map(|t| t.partitions().iter().map(|p| (p.id(), p.leader())).collect::<Vec<_>>()))
            .filter(|parts| !parts.is_empty() && parts.iter().all(|(_, leader)| *leader >= 0));
        if let Some(parts) = ready {
            let mut ids: Vec<i32> = parts.into_iter().map(|(id, _)| id).collect();
            ids.sort_unstable();
            return Ok(ids);
        }
        if Instant::now() >= deadline {
            return partitions(consumer, topic, Duration::from_secs(1)).and_then(|_| Err(format!("topic {topic} has partitions without a leader after {}", seconds(timeout))));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Creates the topics on a real broker (an existing topic is fine).
pub async fn create_topics(bootstrap: &str, topics: &[&str], partitions: i32, timeout: Duration) -> Result<(), String> {
    let admin: AdminClient<DefaultClientContext> = consumer_config(bootstrap, timeout).create().map_err(|e| format!("admin client: {e}"))?;
    let new: Vec<NewTopic<'_>> = topics.iter().map(|t| NewTopic::new(t, partitions, TopicReplication::Fixed(1))).collect();
    let options = AdminOptions::new().operation_timeout(Some(timeout)).request_timeout(Some(timeout));
    let results = admin.create_topics(&new, &options).await.map_err(|e| format!("cannot create topics {topics:?} at {bootstrap}: {e}"))?;
    for result in results {
        match result {
            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((topic, code)) => return Err(format!("cannot create topic {topic}: {code}")),
        }
    }
    Ok(())
}

/// The next offset of every partition (where a consumer starting now must begin to see only
/// messages produced from now on).
pub fn high_watermarks(consumer: &BaseConsumer, topic: &str, partitions: &[i32], timeout: Duration) -> Result<Vec<(i32, i64)>, String> {
    partitions
        .iter()
        .map(|&p| {
            consumer.fetch_watermarks(topic, p, timeout).map(|(_, high)| (p, high)).map_err(|e: KafkaError| format!("cannot read the offsets of {topic}[{p}]: {e}"))
        })
        .collect()
}
