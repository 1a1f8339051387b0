//! Shared helpers for tests against the real broker started by `scripts/kafka.sh`.
#![allow(dead_code)]

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::OwnedMessage;
use rdkafka::{Message, Offset, TopicPartitionList};

pub fn bootstrap() -> String {
    std::env::var("KAFKA_BOOTSTRAP").unwrap_or_else(|_| "127.0.0.1:9092".to_owned())
}

pub fn config() -> ClientConfig {
    let mut config = ClientConfig::new();
    config.set("bootstrap.servers", bootstrap()).set("socket.timeout.ms", "10000");
    config
}

pub fn unique_topic(prefix: &str) -> String {
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    format!("{prefix}-{}-{nanos}", std::process::id())
}

pub async fn create_topic(name: &str, partitions: i32) {
    let admin: AdminClient<DefaultClientContext> = config().create().expect("admin client");
    let topic = NewTopic::new(name, partitions, TopicReplication::Fixed(1));
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(20)));
    let results = admin.create_topics([&topic], &options).await.unwrap_or_else(|e| {
        panic!("cannot reach the Kafka broker at {} ({e}); start it with `bash scripts/kafka.sh start`", bootstrap())
    });
    for result in results {
        result.unwrap_or_else(|(topic, code)| panic!("create topic {topic}: {code}"));
    }
}

/// A consumer config (with a group) reading partition 0 of `topic` from the beginning.
pub fn consumer_config(topic: &str) -> ClientConfig {
    let mut c = config();
    c.set("group.id", format!("{topic}-group")).set("client.id", "test-consumer").set("enable.auto.commit", "false");
    c
}

pub fn assigned_consumer(topic: &str, partitions: i32) -> BaseConsumer {
    let consumer: BaseConsumer = consumer_config(topic).create().expect("consumer");
    let mut assignment = TopicPartitionList::new();
    for p in 0..partitions {
        assignment.add_partition_offset(topic, p, Offset::Beginning).expect("assignment");
    }
    consumer.assign(&assignment).expect("assign");
    consumer
}

/// Polls until `count` messages arrived or `timeout` passed (then panics with what arrived).
pub fn consume(consumer: &BaseConsumer, count: usize, timeout: Duration) -> Vec<OwnedMessage> {
    let deadline = Instant::now() + timeout;
    let mut out = Vec::with_capacity(count);
    while out.len() < count {
        assert!(Instant::now() < deadline, "only {} of {count} messages within {timeout:?}", out.len());
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(m)) => out.push(m.detach()),
            Some(Err(e)) => panic!("consume: {e}"),
            None => {}
        }
    }
    out
}

pub fn header_count(message: &OwnedMessage, name: &str) -> usize {
    use rdkafka::message::Headers;
    message.headers().map_or(0, |h| h.iter().filter(|x| x.key.eq_ignore_ascii_case(name)).count())
}
