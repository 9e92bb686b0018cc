//! Kafka for the tests: topics, producing, reading back, committed offsets.

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use serde_json::Value;
use std::time::Duration;

/// The Kafka bootstrap address the tests use.
pub fn broker() -> String {
    std::env::var("TIDEMARK_KAFKA").unwrap_or_else(|_| "127.0.0.1:9092".to_string())
}

/// Creates a topic with a name no other test run uses.
pub fn topic(prefix: &str, partitions: i32) -> String {
    topic_on(&broker(), prefix, partitions, 1)
}

/// Creates a topic on `brokers` with `replication` copies of each partition, named so that
/// no other test run uses it.
pub fn topic_on(brokers: &str, prefix: &str, partitions: i32, replication: i32) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_nanos();
    let name = format!("{prefix}-{}-{nanos}", std::process::id());
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .create()
        .expect("admin client");
    let created = futures_executor::block_on(admin.create_topics(
        &[NewTopic::new(
            &name,
            partitions,
            TopicReplication::Fixed(replication),
        )],
        &AdminOptions::new().operation_timeout(Some(Duration::from_secs(10))),
    ))
    .expect("create topic (is Kafka running? scripts/services.sh up)");
    assert!(created.iter().all(Result::is_ok), "{created:?}");
    name
}

/// Produces lines to explicit partitions (`partition_of(index)`), and waits for every ack.
pub fn produce(topic: &str, lines: &[String], partition_of: impl Fn(usize) -> i32) {
    produce_to(&broker(), topic, lines, partition_of)
}

/// Produces lines to explicit partitions of a topic on `brokers`, and waits for every ack.
pub fn produce_to(
    brokers: &str,
    topic: &str,
    lines: &[String],
    partition_of: impl Fn(usize) -> i32,
) {
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("acks", "all")
        .set("enable.idempotence", "true")
        .create()
        .expect("producer");
    for (i, line) in lines.iter().enumerate() {
        let record = BaseRecord::<(), str>::to(topic)
            .payload(line.as_str())
            .partition(partition_of(i));
        producer.send(record).map_err(|(e, _)| e).expect("send");
        producer.poll(Duration::ZERO);
    }
    producer
        .flush(Duration::from_secs(30))
        .expect("all messages acknowledged");
}

/// Every message value in the topic, read from the start to the current end of each partition.
pub fn consume_all(topic: &str) -> Vec<Vec<u8>> {
    consume_all_from(&broker(), topic)
}

/// Every message value in a topic on `brokers`, read from the start to the current end.
pub fn consume_all_from(brokers: &str, topic: &str) -> Vec<Vec<u8>> {
    consume_messages_from(brokers, topic)
        .into_iter()
        .map(|(_, value)| value)
        .collect()
}

/// Every message (key, value) in a topic on `brokers`, from the start to the current end,
/// each partition in order.
pub fn consume_messages_from(brokers: &str, topic: &str) -> Vec<(Option<Vec<u8>>, Vec<u8>)> {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    use rdkafka::message::Message;
    use rdkafka::{Offset, TopicPartitionList};
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", "tidemark-tests-reader")
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    let metadata = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .expect("metadata");
    let partitions: Vec<i32> = metadata.topics()[0]
        .partitions()
        .iter()
        .map(|p| p.id())
        .collect();
    let mut assignment = TopicPartitionList::new();
    let mut remaining = 0;
    for &p in &partitions {
        let (low, high) = consumer
            .fetch_watermarks(topic, p, Duration::from_secs(10))
            .expect("watermarks");
        remaining += high - low;
        assignment
            .add_partition_offset(topic, p, Offset::Beginning)
            .expect("assign");
    }
    consumer.assign(&assignment).expect("assign");
    let mut values = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    while remaining > 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "topic {topic} not read in time"
        );
        if let Some(message) = consumer.poll(Duration::from_millis(500)) {
            let message = message.expect("message");
            values.push((
                message.key().map(<[u8]>::to_vec),
                message.payload().unwrap_or_default().to_vec(),
            ));
            remaining -= 1;
        }
    }
    values
}

/// The `data.id` of every tweet message in the topic, with repeats.
pub fn tweet_ids(topic: &str) -> Vec<String> {
    consume_all(topic)
        .iter()
        .map(|v| {
            let tweet: Value = serde_json::from_slice(v).expect("a JSON tweet");
            tweet["data"]["id"].as_str().expect("data.id").to_string()
        })
        .collect()
}

/// Offsets `group` has committed on each partition of a topic on `brokers` (-1: none).
pub fn committed_offsets(brokers: &str, group: &str, topic: &str, partitions: i32) -> Vec<i64> {
    let consumer: rdkafka::consumer::BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", group)
        .create()
        .expect("consumer");
    let mut wanted = rdkafka::TopicPartitionList::new();
    for p in 0..partitions {
        wanted.add_partition(topic, p);
    }
    // A broker that has just started answers "not coordinator" for a while.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let found = loop {
        match rdkafka::consumer::Consumer::committed_offsets(
            &consumer,
            wanted.clone(),
            Duration::from_secs(10),
        ) {
            Ok(found) => break found,
            Err(e) if std::time::Instant::now() < deadline => {
                eprintln!("committed offsets: {e}; asking again");
                std::thread::sleep(Duration::from_millis(200));
            }
            Err(e) => panic!("committed offsets: {e}"),
        }
    };
    (0..partitions)
        .map(
            |p| match found.find_partition(topic, p).map(|e| e.offset()) {
                Some(rdkafka::Offset::Offset(o)) => o,
                _ => -1,
            },
        )
        .collect()
}

/// How many messages the partitions of a topic on `brokers` hold (their log end offsets).
pub fn messages_in(brokers: &str, topic: &str, partitions: i32) -> i64 {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", "tidemark-tests-reader")
        .create()
        .expect("consumer");
    (0..partitions)
        .map(|p| {
            consumer
                .fetch_watermarks(topic, p, Duration::from_secs(10))
                .map_or(0, |(_, high)| high)
        })
        .sum()
}

/// Waits (at most 90 s) until `group` has committed a position on every partition of a
/// topic on `brokers`; `logs` gives what the engines printed, for the failure message.
pub fn wait_committed(
    brokers: &str,
    group: &str,
    topic: &str,
    partitions: i32,
    logs: impl Fn() -> String,
) {
    let deadline = std::time::Instant::now() + Duration::from_secs(90);
    while committed_offsets(brokers, group, topic, partitions)
        .iter()
        .any(|&o| o <= 0)
    {
        assert!(
            std::time::Instant::now() < deadline,
            "nothing committed: {}",
            logs()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}
