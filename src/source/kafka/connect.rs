//! Creating a worker's consumer, listing the topic's partitions, and reading the group's
//! committed offsets.

use super::KafkaUri;
use crate::kafka_access::AccessWatch;
use crate::source::SourceError;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::TopicPartitionList;
use std::time::{Duration, Instant};

/// How long a call to the brokers may take.
pub(super) const BROKER_TIMEOUT: Duration = Duration::from_secs(10);

/// How long the brokers have to list the topic's partitions: as long as a Kafka client's
/// default API timeout, since a cluster losing a broker or just given the topic can take
/// longer than [`BROKER_TIMEOUT`] to answer.
const LIST_TIMEOUT: Duration = Duration::from_secs(60);

/// How long one ask for the topic's partitions waits, within [`LIST_TIMEOUT`]: a broker
/// killed while it has the request may never answer it, and the next ask goes to another.
const ASK_TIMEOUT: Duration = Duration::from_secs(2);

/// The consumer of one worker.
pub(super) type KafkaConsumer = BaseConsumer<AccessWatch>;

pub(super) fn kafka_error(uri: &KafkaUri, e: rdkafka::error::KafkaError) -> SourceError {
    SourceError::Kafka {
        uri: format!("kafka://{}/{}", uri.brokers(), uri.topic),
        message: e.to_string(),
    }
}

/// Creates a consumer for the URI's group and lists the topic's partitions.
pub(super) fn connect(uri: &KafkaUri) -> Result<(KafkaConsumer, Vec<i32>), SourceError> {
    let consumer: KafkaConsumer = uri
        .access
        .client_config()
        .set("group.id", &uri.group)
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        .set("enable.partition.eof", "false")
        .set("fetch.wait.max.ms", "50")
        .set("max.partition.fetch.bytes", "8388608")
        .set("queued.min.messages", "500000")
        .set("fetch.queue.backoff.ms", "5")
        .create_with_context(AccessWatch::default())
        .map_err(|e| kafka_error(uri, e))?;
    // A broker that goes away during the call (one of several being restarted) fails it
    // at once, or leaves it unanswered for `ASK_TIMEOUT`; the others answer the next one.
    let deadline = Instant::now() + LIST_TIMEOUT;
    let metadata = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let wait = left.clamp(Duration::from_millis(100), ASK_TIMEOUT);
        match consumer.fetch_metadata(Some(&uri.topic), wait) {
            Ok(metadata) => break metadata,
            Err(e) => {
                let serve = || {
                    let _ = consumer.poll(Duration::from_millis(20));
                };
                let error = uri
                    .access
                    .explain(consumer.context(), serve, kafka_error(uri, e))?;
                if Instant::now() >= deadline {
                    return Err(error);
                }
                tracing::debug!("{error}; asking again");
            }
        }
    };
    match metadata.topics().iter().find(|t| t.name() == uri.topic) {
        Some(t) if t.error().is_none() && !t.partitions().is_empty() => {
            let partitions = t.partitions().iter().map(|p| p.id()).collect();
            Ok((consumer, partitions))
        }
        _ => Err(SourceError::Missing(format!(
            "kafka://{}/{} (no such topic)",
            uri.brokers(),
            uri.topic
        ))),
    }
}

/// Whether an error says the group's coordinator is still being chosen or loaded, as it is
/// for a while after a broker starts.
pub(super) fn coordinator_pending(error: &rdkafka::error::KafkaError) -> bool {
    use rdkafka::types::RDKafkaErrorCode::{
        CoordinatorLoadInProgress, CoordinatorNotAvailable, NotCoordinator,
    };
    matches!(
        error.rdkafka_error_code(),
        Some(NotCoordinator | CoordinatorNotAvailable | CoordinatorLoadInProgress)
    )
}

/// Whether an error says a broker went away during the call (one of several being
/// restarted): another answers when asked again.
pub(super) fn broker_lost(error: &rdkafka::error::KafkaError) -> bool {
    use rdkafka::types::RDKafkaErrorCode::{
        AllBrokersDown, BrokerDestroy, BrokerTransportFailure, DestroyBroker,
    };
    matches!(
        error.rdkafka_error_code(),
        Some(BrokerDestroy | DestroyBroker | BrokerTransportFailure | AllBrokersDown)
    )
}

/// The group's committed offsets of `wanted`, waiting up to `BROKER_TIMEOUT` for a
/// coordinator that is not ready yet or a broker that went away.
pub(super) fn committed_offsets(
    consumer: &KafkaConsumer,
    wanted: &TopicPartitionList,
) -> Result<TopicPartitionList, rdkafka::error::KafkaError> {
    let deadline = Instant::now() + BROKER_TIMEOUT;
    loop {
        match consumer.committed_offsets(wanted.clone(), BROKER_TIMEOUT) {
            Err(e) if (coordinator_pending(&e) || broker_lost(&e)) && Instant::now() < deadline => {
                tracing::debug!("kafka: {e}; asking again");
                std::thread::sleep(Duration::from_millis(200));
            }
            result => return result,
        }
    }
}
