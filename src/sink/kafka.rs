//! The Kafka sink: every result row as one JSON message (the JSONL sink's line), keyed by
//! what identifies the row (output, window, and rank or key fields), so a compacted topic
//! keeps the latest version of each row, its final one once the window is final.
//!
//! An idempotent producer with `acks=all` sends in the background; workers hand rows over
//! without blocking (a full client queue refuses them, and they are offered again), and each
//! handover's ticket reaches zero once the brokers acknowledged all its messages. Until then
//! the write operator holds the frontier, so source offsets are never committed past a row
//! that is not in Kafka. A broker outage delays; a message refused for good (a topic that
//! is not writable, a message too large) ends the run.

use super::{Offer, RowFormat, RowSink, SinkError, Ticket};
use crate::aggregate::ResultRow;
use crate::kafka_access::{self, AccessWatch, KafkaAccess};
use crate::uri::ServiceUri;
use rdkafka::client::ClientContext;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::error::KafkaError;
use rdkafka::message::DeliveryResult;
use rdkafka::producer::{BaseRecord, Producer, ProducerContext, ThreadedProducer};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// Messages the client may hold unacknowledged before offers are refused.
const QUEUE_MESSAGES: i32 = 200_000;

/// A parsed `kafka://[USER@]HOST:PORT[,HOST:PORT]/TOPIC` sink, with the access parameters of
/// [`crate::kafka_access`].
#[derive(Clone, Debug)]
pub struct KafkaSinkUri {
    /// How to reach the brokers.
    pub access: KafkaAccess,
    /// The topic (it must exist; a compacted one keeps each row's latest version).
    pub topic: String,
}

impl KafkaSinkUri {
    /// Parses a Kafka sink URI.
    pub fn parse(uri: &str) -> Result<KafkaSinkUri, SinkError> {
        let parsed = ServiceUri::parse(uri, "kafka", "Kafka sink", "topic")?;
        let (access, own) =
            KafkaAccess::from_uri(&parsed).map_err(|e| SinkError::Kafka(e.to_string()))?;
        if let Some((key, _)) = own.first() {
            return Err(parsed.unknown(key, kafka_access::PARAMS).into());
        }
        Ok(KafkaSinkUri {
            access,
            topic: parsed.name,
        })
    }
}

/// Counts acknowledgements down on each handover's ticket and keeps the first failure.
#[derive(Default)]
struct Deliveries {
    fatal: OnceLock<String>,
    access: AccessWatch,
}

impl ClientContext for Deliveries {
    fn log(&self, level: RDKafkaLogLevel, facility: &str, message: &str) {
        self.access.note_log(message);
        kafka_access::forward_log(level, facility, message);
    }

    fn error(&self, error: KafkaError, reason: &str) {
        self.access.note(&error, reason);
        tracing::debug!("kafka sink: {error}: {reason}");
    }
}

impl ProducerContext for Deliveries {
    type DeliveryOpaque = Ticket;

    fn delivery(&self, result: &DeliveryResult<'_>, ticket: Ticket) {
        match result {
            Ok(_) => {
                ticket.fetch_sub(1, Ordering::AcqRel);
            }
            Err((error, _)) => {
                let _ = self
                    .fatal
                    .set(format!("Kafka refused a result message for good: {error}"));
            }
        }
    }
}

/// Result rows into one Kafka topic.
pub struct KafkaSink {
    producer: ThreadedProducer<Deliveries>,
    topic: String,
    /// One handover at a time: its capacity check and sends are one step.
    sending: Mutex<()>,
}

impl KafkaSink {
    /// Creates the producer and checks the topic can be written.
    pub fn connect(uri: &KafkaSinkUri) -> Result<KafkaSink, SinkError> {
        let producer: ThreadedProducer<Deliveries> = uri
            .access
            .client_config()
            .set("acks", "all")
            .set("enable.idempotence", "true")
            .set("linger.ms", "5")
            .set("compression.type", "lz4")
            .set(
                "queue.buffering.max.messages",
                (QUEUE_MESSAGES * 2).to_string(),
            )
            // Retried until delivered: a broker outage delays rows, it never drops them.
            .set("message.timeout.ms", "0")
            .create_with_context(Deliveries::default())
            .map_err(|e| SinkError::Kafka(format!("cannot create a Kafka producer: {e}")))?;
        let writable = producer
            .client()
            .fetch_metadata(Some(&uri.topic), Duration::from_secs(10))
            .map_err(|e| e.to_string())
            .and_then(
                |m| match m.topics().iter().find(|t| t.name() == uri.topic) {
                    Some(t) if t.error().is_none() && !t.partitions().is_empty() => Ok(()),
                    _ => Err(format!(
                        "topic {} does not exist (create it, compacted: cleanup.policy=compact)",
                        uri.topic
                    )),
                },
            );
        if let Err(why) = writable {
            let wait = || std::thread::sleep(Duration::from_millis(20));
            uri.access
                .explain(&producer.context().access, wait, ())
                .map_err(|e| SinkError::Kafka(e.to_string()))?;
            return Err(SinkError::Kafka(format!(
                "Kafka at {}: {why}",
                uri.access.brokers
            )));
        }
        Ok(KafkaSink {
            producer,
            topic: uri.topic.clone(),
            sending: Mutex::new(()),
        })
    }
}

impl RowSink for KafkaSink {
    fn offer(
        &self,
        rows: Vec<ResultRow>,
        _fired: Instant,
        format: &RowFormat,
    ) -> Result<Offer, SinkError> {
        let _one_at_a_time = self.sending.lock().unwrap_or_else(|p| p.into_inner());
        if self.producer.in_flight_count() + rows.len() as i32 > QUEUE_MESSAGES {
            return Ok(Offer::Refused(rows));
        }
        let ticket: Ticket = Arc::new(AtomicUsize::new(rows.len()));
        let (mut key, mut value) = (String::new(), String::new());
        for row in &rows {
            key.clear();
            value.clear();
            format.write_identity(row, &mut key);
            format.write(row, &mut value);
            let record = BaseRecord::with_opaque_to(&self.topic, Arc::clone(&ticket))
                .key(key.as_str())
                .payload(value.trim_end());
            self.producer
                .send(record)
                .map_err(|(e, _)| SinkError::Kafka(format!("cannot send a result row: {e}")))?;
        }
        Ok(Offer::Accepted(ticket))
    }

    fn kind(&self) -> &'static str {
        "kafka"
    }

    fn failure(&self) -> Option<String> {
        self.producer.context().fatal.get().cloned()
    }

    fn finish(&self) -> Result<(), SinkError> {
        loop {
            if let Some(fatal) = self.failure() {
                return Err(SinkError::Kafka(fatal));
            }
            match self.producer.flush(Duration::from_secs(1)) {
                Ok(()) => return Ok(()),
                Err(KafkaError::Flush(_)) => continue,
                Err(e) => return Err(SinkError::Kafka(e.to_string())),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_uris_and_refuses_unknown_parameters() {
        let uri = KafkaSinkUri::parse("kafka://a:9092,b:9092/rows").expect("uri");
        assert_eq!(
            (uri.access.brokers.as_str(), uri.topic.as_str()),
            ("a:9092,b:9092", "rows")
        );
        let error = KafkaSinkUri::parse("kafka://a:9092/rows?start=earliest")
            .expect_err("a source parameter")
            .to_string();
        assert!(error.contains("unknown parameter `start`"), "{error}");
    }
}
