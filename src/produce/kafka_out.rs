//! The Kafka side of `tidemark produce`: an idempotent `acks=all` producer whose delivery
//! reports come back as acknowledged sequence numbers or failed messages (with their bytes,
//! so they can be spooled), and a probe that tells whether a broker takes writes.

use super::spool::Record;
use crate::kafka_access::{AccessError, AccessWatch, KafkaAccess};
use crate::uri::ServiceUri;
use crate::uri::UriError;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{BorrowedMessage, Message};
use rdkafka::producer::{
    BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext, PurgeConfig,
};
use rdkafka::ClientContext;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::Duration;
use thiserror::Error;

/// A parsed `kafka://[USER@]HOST:PORT[,HOST:PORT]/TOPIC` destination, with the access
/// parameters of [`crate::kafka_access`].
#[derive(Clone, Debug)]
pub struct Destination {
    /// How to reach the brokers.
    pub access: KafkaAccess,
    /// The topic.
    pub topic: String,
}

impl Destination {
    /// Parses a `--to` URI.
    pub fn parse(uri: &str) -> Result<Destination, KafkaOutError> {
        let parsed = ServiceUri::parse(uri, "kafka", "Kafka destination", "topic")?;
        let (access, own) = KafkaAccess::from_uri(&parsed)?;
        if let Some((key, _)) = own.first() {
            return Err(parsed.unknown(key, crate::kafka_access::PARAMS).into());
        }
        Ok(Destination {
            access,
            topic: parsed.name,
        })
    }

    /// The bootstrap servers.
    pub fn brokers(&self) -> &str {
        &self.access.brokers
    }

    /// The error that explains why the brokers could not be reached, if it is a refused
    /// login or a failed TLS handshake the producer saw.
    pub fn refused(&self, producer: &KafkaProducer) -> Option<AccessError> {
        // Polling serves the client's log and error callbacks (delivery reports are kept).
        let serve = || producer.poll(Duration::from_millis(20));
        self.access
            .explain(&producer.context().access, serve, ())
            .err()
    }
}

/// Why the producer cannot reach its topic.
#[derive(Debug, Error)]
pub enum KafkaOutError {
    /// A malformed destination URI.
    #[error(transparent)]
    Uri(#[from] UriError),
    /// Access settings that cannot work, or a refused login.
    #[error(transparent)]
    Access(#[from] AccessError),
    /// The client could not be created.
    #[error("cannot create a Kafka client for {brokers}: {source}")]
    Client {
        /// The bootstrap servers.
        brokers: String,
        /// Why.
        source: KafkaError,
    },
    /// No broker answered.
    #[error("cannot reach Kafka at {brokers}: {source}")]
    Unreachable {
        /// The bootstrap servers.
        brokers: String,
        /// Why.
        source: KafkaError,
    },
    /// The topic could not be created or read.
    #[error("cannot create topic {topic} at {brokers}: {reason}")]
    Topic {
        /// The topic.
        topic: String,
        /// The bootstrap servers.
        brokers: String,
        /// Why.
        reason: String,
    },
}

/// What came back from the broker for one message.
pub enum Delivery {
    /// Acknowledged by all in-sync replicas.
    Acked(u64),
    /// Not delivered (timed out, purged or refused); the message is returned. `in_doubt`:
    /// it may have reached the broker anyway (sending it again may duplicate it).
    Failed {
        /// The message.
        record: Record,
        /// Whether it was possibly written.
        in_doubt: bool,
    },
}

/// Collects delivery reports and notices when every broker is down.
#[derive(Default)]
pub struct Reports {
    deliveries: Mutex<Vec<Delivery>>,
    all_brokers_down: AtomicBool,
    access: AccessWatch,
}

impl Reports {
    /// Takes the reports collected since the last call.
    pub fn take(&self, into: &mut Vec<Delivery>) {
        into.append(&mut self.deliveries.lock().unwrap_or_else(|p| p.into_inner()));
    }

    /// Whether librdkafka said every broker is down since the last call.
    pub fn brokers_went_down(&self) -> bool {
        self.all_brokers_down.swap(false, Ordering::Relaxed)
    }
}

impl ClientContext for Reports {
    fn log(&self, level: RDKafkaLogLevel, facility: &str, message: &str) {
        self.access.note_log(message);
        crate::kafka_access::forward_log(level, facility, message);
    }

    fn error(&self, error: KafkaError, reason: &str) {
        if matches!(error, KafkaError::Global(RDKafkaErrorCode::AllBrokersDown)) {
            self.all_brokers_down.store(true, Ordering::Relaxed);
        }
        self.access.note(&error, reason);
        tracing::debug!("kafka: {error}: {reason}");
    }
}

impl ProducerContext for Reports {
    type DeliveryOpaque = usize;

    fn delivery(&self, result: &DeliveryResult<'_>, seq: usize) {
        let delivery = match result {
            Ok(_) => Delivery::Acked(seq as u64),
            Err((_, message)) => Delivery::Failed {
                record: Record {
                    seq: seq as u64,
                    timestamp_ms: message.timestamp().to_millis().unwrap_or(0),
                    key: message.key().map(<[u8]>::to_vec),
                    payload: message.payload().unwrap_or_default().to_vec(),
                },
                in_doubt: possibly_persisted(message),
            },
        };
        self.deliveries
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(delivery);
    }
}

/// Whether the broker may have written a failed message: librdkafka's own verdict, which
/// knows that a message purged from the queue may still have been sent before (a retry that
/// went back to the queue), not just whether it was in flight.
fn possibly_persisted(message: &BorrowedMessage<'_>) -> bool {
    // SAFETY: the pointer is the live message the delivery report borrows, and
    // `rd_kafka_message_status` only reads its status field.
    let status = unsafe { rdkafka::bindings::rd_kafka_message_status(message.ptr()) };
    status != rdkafka::bindings::rd_kafka_msg_status_t::RD_KAFKA_MSG_STATUS_NOT_PERSISTED
}

/// The producer.
pub type KafkaProducer = BaseProducer<Reports>;

/// Creates the producer. Messages not acknowledged within `ack_timeout` come back failed.
pub fn connect(to: &Destination, ack_timeout: Duration) -> Result<KafkaProducer, KafkaOutError> {
    to.access
        .client_config()
        .set("acks", "all")
        .set("enable.idempotence", "true")
        .set("linger.ms", "5")
        .set("batch.size", "1000000")
        .set("compression.type", "lz4")
        .set("queue.buffering.max.messages", "100000")
        .set("message.timeout.ms", ack_timeout.as_millis().to_string())
        .create_with_context(Reports::default())
        .map_err(|source| KafkaOutError::Client {
            brokers: to.brokers().to_string(),
            source,
        })
}

/// Sends one message; on a full local queue the message is handed back.
pub fn send<'a>(
    producer: &KafkaProducer,
    topic: &'a str,
    record: &'a Record,
) -> Result<(), KafkaError> {
    let mut message = BaseRecord::with_opaque_to(topic, record.seq as usize)
        .payload(&record.payload[..])
        .timestamp(record.timestamp_ms);
    if let Some(key) = &record.key {
        message = message.key(&key[..]);
    }
    producer.send(message).map_err(|(e, _)| e)
}

/// Whether `error` means "the local queue is full, poll and try again".
pub fn is_queue_full(error: &KafkaError) -> bool {
    matches!(
        error,
        KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull)
    )
}

/// Hands every queued and in-flight message back as failed (their reports follow).
pub fn purge(producer: &KafkaProducer) {
    producer.purge(PurgeConfig::default().queue().inflight());
}

/// Whether a broker answers with a leader for every partition of the topic.
pub fn topic_writable(producer: &KafkaProducer, topic: &str, timeout: Duration) -> bool {
    producer
        .client()
        .fetch_metadata(Some(topic), timeout)
        .ok()
        .and_then(|m| {
            m.topics()
                .iter()
                .find(|t| t.name() == topic)
                .map(|t| t.error().is_none() && t.partitions().iter().all(|p| p.leader() >= 0))
        })
        .unwrap_or(false)
}

/// Creates the topic with `partitions` partitions unless it exists; says so if it exists
/// with a different count.
pub fn ensure_topic(to: &Destination, partitions: i32) -> Result<(), KafkaOutError> {
    let admin: AdminClient<AccessWatch> = to
        .access
        .client_config()
        .create_with_context(AccessWatch::default())
        .map_err(|source| KafkaOutError::Client {
            brokers: to.brokers().to_string(),
            source,
        })?;
    let wait = || std::thread::sleep(Duration::from_millis(20));
    let explained =
        |otherwise: KafkaOutError| match to.access.explain(admin.inner().context(), wait, ()) {
            Ok(()) => otherwise,
            Err(refused) => KafkaOutError::Access(refused),
        };
    let topic_error = |reason: String| KafkaOutError::Topic {
        topic: to.topic.clone(),
        brokers: to.brokers().to_string(),
        reason,
    };
    // Reaching the brokers first: an admin request to brokers that refuse the login waits
    // for ever.
    admin
        .inner()
        .fetch_metadata(Some(&to.topic), Duration::from_secs(10))
        .map_err(|source| {
            explained(KafkaOutError::Unreachable {
                brokers: to.brokers().to_string(),
                source,
            })
        })?;
    let created = futures_executor::block_on(admin.create_topics(
        &[NewTopic::new(
            &to.topic,
            partitions,
            // -1: the brokers' `default.replication.factor` (2 in the compose stack).
            TopicReplication::Fixed(-1),
        )],
        &AdminOptions::new().operation_timeout(Some(Duration::from_secs(10))),
    ))
    .map_err(|e| explained(topic_error(e.to_string())))?;
    match created.first() {
        Some(Ok(_)) => {
            tracing::info!("created topic {} with {partitions} partitions", to.topic);
            Ok(())
        }
        Some(Err((_, RDKafkaErrorCode::TopicAlreadyExists))) => {
            let metadata = admin
                .inner()
                .fetch_metadata(Some(&to.topic), Duration::from_secs(10))
                .map_err(|e| topic_error(e.to_string()))?;
            let existing = metadata
                .topics()
                .first()
                .map_or(0, |t| t.partitions().len());
            if existing != partitions as usize {
                tracing::warn!(
                    "topic {} exists with {existing} partitions (not {partitions}); producing into it as it is",
                    to.topic
                );
            }
            Ok(())
        }
        Some(Err((_, code))) => Err(explained(topic_error(code.to_string()))),
        None => Err(topic_error("no answer".to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_destinations() {
        let to = Destination::parse("kafka://a:9092,b:9092/tweets").expect("uri");
        assert_eq!(
            (to.brokers(), to.topic.as_str()),
            ("a:9092,b:9092", "tweets")
        );
        assert!(Destination::parse("kafka://a:9092").is_err());
        assert!(Destination::parse("kafka://a:9092/t?start=earliest").is_err());
        assert!(Destination::parse("file:x").is_err());
    }
}
