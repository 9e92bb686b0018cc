//! Reading Kafka partitions: each partition of the topic is read by exactly one worker of
//! all processes (partition `p` by global worker `p mod workers`), from an explicit start.
//!
//! Partitions that reached the end of their log are told apart from partitions that never
//! had data by the broker's log end offsets, never by a timer.

use super::{PartitionStatus, RawRecord, Resume, SourceError, Tracked, WorkerSource};
use crate::kafka_access::{self, AccessWatch, KafkaAccess};
use crate::uri::ServiceUri;
use rdkafka::bindings as kafka_c;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};
use std::collections::{HashMap, VecDeque};
use std::ffi::CString;
use std::ptr::NonNull;
use std::time::{Duration, Instant};

const BROKER_TIMEOUT: Duration = Duration::from_secs(10);
const END_REFRESH: Duration = Duration::from_millis(100);

/// Where reading starts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StartAt {
    /// The oldest retained record.
    Earliest,
    /// Only records produced after the start.
    Latest,
    /// The group's committed offsets (the oldest record where there are none).
    Committed,
    /// The first record at or after this event time (UTC milliseconds).
    Time(i64),
}

/// A parsed `kafka://[USER@]HOST:PORT[,HOST:PORT]/TOPIC?start=..&group=..&stop=end` URI, with
/// the access parameters of [`crate::kafka_access`].
#[derive(Clone, Debug)]
pub struct KafkaUri {
    /// How to reach the brokers.
    pub access: KafkaAccess,
    /// The topic.
    pub topic: String,
    /// Where to start.
    pub start: StartAt,
    /// Consumer group (offsets are committed under it).
    pub group: String,
    /// Stop at the log end offsets seen at start (a bounded run) instead of running forever.
    pub stop_at_end: bool,
}

impl KafkaUri {
    /// Parses a Kafka source URI; `default_group` names the group when the URI does not.
    pub fn parse(uri: &str, default_group: &str) -> Result<KafkaUri, SourceError> {
        let parsed = ServiceUri::parse(uri, "kafka", "Kafka source", "topic")?;
        let (access, own) = KafkaAccess::from_uri(&parsed)?;
        let mut source = KafkaUri {
            access,
            topic: parsed.name.clone(),
            start: StartAt::Committed,
            group: default_group.to_string(),
            stop_at_end: false,
        };
        for (key, value) in &own {
            match (key.as_str(), value.as_str()) {
                ("start", "earliest") => source.start = StartAt::Earliest,
                ("start", "latest") => source.start = StartAt::Latest,
                ("start", "committed") => source.start = StartAt::Committed,
                ("start", time) => {
                    let at = chrono::DateTime::parse_from_rfc3339(time).map_err(|_| {
                        parsed
                            .error("start must be earliest, latest, committed or an RFC 3339 time")
                    })?;
                    source.start = StartAt::Time(at.timestamp_millis());
                }
                ("group", group) if !group.is_empty() => source.group = group.to_string(),
                ("stop", "end") => source.stop_at_end = true,
                ("stop", "never") => source.stop_at_end = false,
                _ => {
                    return Err(parsed
                        .unknown(
                            key,
                            &format!("start, group, stop=end|never, {}", kafka_access::PARAMS),
                        )
                        .into())
                }
            }
        }
        Ok(source)
    }

    /// The bootstrap servers.
    pub fn brokers(&self) -> &str {
        &self.access.brokers
    }
}

/// One partition's own queue of fetched messages, split off the consumer's queue so that its
/// messages are taken a batch per call (`rd_kafka_consume_batch_queue`), not one poll each.
struct PartitionQueue(NonNull<kafka_c::rd_kafka_queue_t>);

/// Messages taken from a partition queue per call at most.
const CONSUME_BATCH: usize = 1024;

impl PartitionQueue {
    /// Splits `partition`'s messages off the consumer's queue. Called before the partition is
    /// assigned, so no message of it reaches the consumer's queue first.
    fn split(consumer: &KafkaConsumer, topic: &str, partition: i32) -> Option<PartitionQueue> {
        let topic = CString::new(topic).ok()?;
        let client = consumer.client().native_ptr();
        // SAFETY: `client` is the live consumer's handle; librdkafka copies the topic name.
        let queue =
            unsafe { kafka_c::rd_kafka_queue_get_partition(client, topic.as_ptr(), partition) };
        let queue = NonNull::new(queue)?;
        // SAFETY: `queue` is a valid handle; forwarding to null stops it feeding the
        // consumer's queue, so its messages wait here.
        unsafe { kafka_c::rd_kafka_queue_forward(queue.as_ptr(), std::ptr::null_mut()) };
        Some(PartitionQueue(queue))
    }

    /// Takes up to `messages.len()` waiting messages without blocking; returns how many.
    /// The caller owns each one and wraps it in a [`TakenMessage`], which destroys it.
    fn take(&self, messages: &mut [*mut kafka_c::rd_kafka_message_t]) -> usize {
        // SAFETY: the queue is valid and `messages` has room for as many pointers as we say.
        let taken = unsafe {
            kafka_c::rd_kafka_consume_batch_queue(
                self.0.as_ptr(),
                0,
                messages.as_mut_ptr(),
                messages.len(),
            )
        };
        usize::try_from(taken).unwrap_or(0)
    }
}

impl Drop for PartitionQueue {
    fn drop(&mut self) {
        // SAFETY: the handle is valid and dropped once; `KafkaPartitions` drops its queues
        // before its consumer.
        unsafe { kafka_c::rd_kafka_queue_destroy(self.0.as_ptr()) }
    }
}

/// A fetched message taken from a partition queue, destroyed when dropped.
struct TakenMessage(NonNull<kafka_c::rd_kafka_message_t>);

impl TakenMessage {
    fn fields(&self) -> &kafka_c::rd_kafka_message_t {
        // SAFETY: librdkafka handed the message over and it lives until `drop`.
        unsafe { self.0.as_ref() }
    }

    fn payload(&self) -> &[u8] {
        let message = self.fields();
        if message.payload.is_null() {
            return &[];
        }
        // SAFETY: librdkafka guarantees `len` bytes at `payload` while the message lives.
        unsafe { std::slice::from_raw_parts(message.payload.cast::<u8>(), message.len) }
    }

    fn error(&self) -> Option<String> {
        let code = self.fields().err;
        (code != kafka_c::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR).then(|| {
            // SAFETY: a plain call into librdkafka with a code it reported.
            let text = unsafe { kafka_c::rd_kafka_err2str(code) };
            // SAFETY: librdkafka returns a static, NUL-terminated description for any code.
            unsafe { std::ffi::CStr::from_ptr(text) }
                .to_string_lossy()
                .into_owned()
        })
    }
}

impl Drop for TakenMessage {
    fn drop(&mut self) {
        // SAFETY: the message was taken from a queue and is destroyed once.
        unsafe { kafka_c::rd_kafka_message_destroy(self.0.as_ptr()) }
    }
}

struct KafkaSlot {
    partition: i32,
    label: String,
    next: i64,
    log_end: i64,
    stop_at: Option<i64>,
    had_data: bool,
    /// Since when the partition has been at its log end (checked against the broker).
    at_end_since: Option<Instant>,
    /// Read records whose results may not all be written yet, in offset order.
    pending: VecDeque<Tracked>,
    committed: i64,
    resume: Resume,
}

impl KafkaSlot {
    /// Whether the message at `offset` is to be read (not before the position, not past a
    /// bounded run's end); if so, the position moves past it.
    fn accept(&mut self, offset: i64) -> bool {
        if self.stop_at.is_some_and(|stop| offset >= stop) || offset < self.next {
            return false;
        }
        self.next = offset + 1;
        self.log_end = self.log_end.max(self.next);
        self.had_data = true;
        self.at_end_since = None;
        true
    }
}

/// How often positions are committed at most.
const COMMIT_EVERY: Duration = Duration::from_millis(100);

/// The commit metadata that carries a partition's resume point: its watermark at the
/// committed offset and the durable frontier at the time.
fn resume_metadata(resume: Resume) -> String {
    let watermark = resume
        .watermark
        .map_or("none".to_string(), |w| w.to_string());
    format!("tidemark-watermark={watermark};settled={}", resume.settled)
}

fn parse_resume_metadata(metadata: &str) -> Resume {
    let mut resume = Resume::default();
    for part in metadata.split(';') {
        match part.split_once('=') {
            Some(("tidemark-watermark", w)) => resume.watermark = w.parse().ok(),
            Some(("settled", s)) => resume.settled = s.parse().unwrap_or(0),
            _ => {}
        }
    }
    resume
}

/// The consumer of one worker.
type KafkaConsumer = BaseConsumer<AccessWatch>;

fn kafka_error(uri: &KafkaUri, e: rdkafka::error::KafkaError) -> SourceError {
    SourceError::Kafka {
        uri: format!("kafka://{}/{}", uri.brokers(), uri.topic),
        message: e.to_string(),
    }
}

/// Creates a consumer for the URI's group and lists the topic's partitions.
fn connect(uri: &KafkaUri) -> Result<(KafkaConsumer, Vec<i32>), SourceError> {
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
    let metadata = match consumer.fetch_metadata(Some(&uri.topic), BROKER_TIMEOUT) {
        Ok(metadata) => metadata,
        Err(e) => {
            let serve = || {
                let _ = consumer.poll(Duration::from_millis(20));
            };
            let error = uri
                .access
                .explain(consumer.context(), serve, kafka_error(uri, e))?;
            return Err(error);
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
fn coordinator_pending(error: &rdkafka::error::KafkaError) -> bool {
    use rdkafka::types::RDKafkaErrorCode::{
        CoordinatorLoadInProgress, CoordinatorNotAvailable, NotCoordinator,
    };
    matches!(
        error.rdkafka_error_code(),
        Some(NotCoordinator | CoordinatorNotAvailable | CoordinatorLoadInProgress)
    )
}

/// The group's committed offsets of `wanted`, waiting up to `BROKER_TIMEOUT` for a
/// coordinator that is not ready yet.
fn committed_offsets(
    consumer: &KafkaConsumer,
    wanted: &TopicPartitionList,
) -> Result<TopicPartitionList, rdkafka::error::KafkaError> {
    let deadline = Instant::now() + BROKER_TIMEOUT;
    loop {
        match consumer.committed_offsets(wanted.clone(), BROKER_TIMEOUT) {
            Err(e) if coordinator_pending(&e) && Instant::now() < deadline => {
                tracing::debug!("kafka: {e}; asking again");
                std::thread::sleep(Duration::from_millis(200));
            }
            result => return result,
        }
    }
}

impl KafkaUri {
    /// Checks that the brokers answer and the topic exists, before any worker starts.
    pub fn check(&self) -> Result<(), SourceError> {
        connect(self).map(drop)
    }
}

/// The partitions of one topic that one worker reads, through one consumer.
pub struct KafkaPartitions {
    /// One per slot, split off `consumer`'s queue; declared first so they are dropped first.
    queues: Vec<PartitionQueue>,
    consumer: KafkaConsumer,
    taken: Vec<*mut kafka_c::rd_kafka_message_t>,
    topic: String,
    slots: Vec<KafkaSlot>,
    by_partition: HashMap<i32, usize>,
    ends_checked: Instant,
    committed_at: Instant,
}

impl KafkaPartitions {
    /// Connects, finds the topic's partitions, and assigns this worker's share at their start
    /// offsets.
    pub fn open(
        uri: &KafkaUri,
        worker: usize,
        peers: usize,
    ) -> Result<KafkaPartitions, SourceError> {
        let kafka = |e: rdkafka::error::KafkaError| kafka_error(uri, e);
        let (consumer, partitions) = connect(uri)?;
        let mine: Vec<i32> = partitions
            .into_iter()
            .filter(|p| *p as usize % peers == worker)
            .collect();
        let mut slots = Vec::new();
        let mut assignment = TopicPartitionList::new();
        let committed = match uri.start {
            StartAt::Committed => {
                let mut wanted = TopicPartitionList::new();
                for &p in &mine {
                    wanted.add_partition(&uri.topic, p);
                }
                Some(committed_offsets(&consumer, &wanted).map_err(kafka)?)
            }
            _ => None,
        };
        for &partition in &mine {
            let mut resume = Resume::default();
            let (low, high) = consumer
                .fetch_watermarks(&uri.topic, partition, BROKER_TIMEOUT)
                .map_err(kafka)?;
            let start = match &uri.start {
                StartAt::Earliest => low,
                StartAt::Latest => high,
                StartAt::Committed => committed
                    .as_ref()
                    .and_then(|c| c.find_partition(&uri.topic, partition))
                    .and_then(|e| match e.offset() {
                        Offset::Offset(o) => {
                            resume = parse_resume_metadata(e.metadata());
                            Some(o)
                        }
                        _ => None,
                    })
                    .unwrap_or(low),
                StartAt::Time(ms) => {
                    let mut at = TopicPartitionList::new();
                    at.add_partition_offset(&uri.topic, partition, Offset::Offset(*ms))
                        .map_err(kafka)?;
                    let found = consumer
                        .offsets_for_times(at, BROKER_TIMEOUT)
                        .map_err(kafka)?;
                    match found
                        .find_partition(&uri.topic, partition)
                        .map(|e| e.offset())
                    {
                        Some(Offset::Offset(o)) => o,
                        _ => high,
                    }
                }
            }
            .clamp(low, high);
            assignment
                .add_partition_offset(&uri.topic, partition, Offset::Offset(start))
                .map_err(kafka)?;
            slots.push(KafkaSlot {
                partition,
                label: format!("kafka://{}/{}/{partition}", uri.brokers(), uri.topic),
                next: start,
                log_end: high,
                stop_at: uri.stop_at_end.then_some(high),
                had_data: false,
                at_end_since: None,
                pending: VecDeque::new(),
                committed: start,
                resume,
            });
        }
        let queues = slots
            .iter()
            .map(|slot| {
                PartitionQueue::split(&consumer, &uri.topic, slot.partition).ok_or_else(|| {
                    SourceError::Kafka {
                        uri: slot.label.clone(),
                        message: "cannot split off the partition's queue".into(),
                    }
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        consumer.assign(&assignment).map_err(kafka)?;
        let by_partition = slots
            .iter()
            .enumerate()
            .map(|(i, s)| (s.partition, i))
            .collect();
        Ok(KafkaPartitions {
            queues,
            consumer,
            taken: vec![std::ptr::null_mut(); CONSUME_BATCH],
            topic: uri.topic.clone(),
            slots,
            by_partition,
            ends_checked: Instant::now(),
            committed_at: Instant::now(),
        })
    }

    /// Refreshes the log end offsets of partitions that have caught up, at most every
    /// `END_REFRESH`, so an idle partition is recognised as such from the broker's offsets.
    fn refresh_ends(&mut self) {
        if self.ends_checked.elapsed() < END_REFRESH {
            return;
        }
        self.ends_checked = Instant::now();
        for slot in self.slots.iter_mut().filter(|s| s.next >= s.log_end) {
            match self.consumer.fetch_watermarks(
                &self.topic,
                slot.partition,
                Duration::from_secs(1),
            ) {
                Ok((_, high)) => {
                    slot.log_end = high;
                    if slot.next >= high {
                        slot.at_end_since.get_or_insert_with(Instant::now);
                    } else {
                        slot.at_end_since = None;
                    }
                }
                Err(e) => tracing::warn!("{}: cannot fetch log end offset: {e}", slot.label),
            }
        }
    }
}

impl WorkerSource for KafkaPartitions {
    fn partitions(&self) -> usize {
        self.slots.len()
    }

    fn label(&self, slot: usize) -> &str {
        &self.slots[slot].label
    }

    fn partition_number(&self, slot: usize) -> usize {
        self.slots[slot].partition as usize
    }

    fn csv_header(&self, _slot: usize) -> Option<&csv::StringRecord> {
        None
    }

    fn status(&self, slot: usize) -> PartitionStatus {
        let s = &self.slots[slot];
        match s.stop_at {
            Some(stop) if s.next >= stop => PartitionStatus::Done,
            _ if !s.had_data && s.next >= s.log_end => PartitionStatus::Empty,
            _ => PartitionStatus::Reading,
        }
    }

    fn at_end_since(&self, slot: usize) -> Option<Instant> {
        let s = &self.slots[slot];
        s.at_end_since.filter(|_| s.had_data && s.next >= s.log_end)
    }

    fn read_batch(
        &mut self,
        max: usize,
        each: &mut dyn FnMut(usize, u64, u64, RawRecord<'_>),
    ) -> Result<usize, SourceError> {
        let mut count = 0;
        // The consumer's own queue carries commit results and client errors (serving it runs
        // their handlers), and messages only if some were fetched before their partition's
        // queue was split off.
        while let Some(event) = self.consumer.poll(Duration::ZERO) {
            match event {
                Err(e) => {
                    tracing::warn!("kafka: {e} (the client reconnects by itself)");
                    break;
                }
                Ok(message) => {
                    let Some(&slot) = self.by_partition.get(&message.partition()) else {
                        continue;
                    };
                    let offset = message.offset();
                    if self.slots[slot].accept(offset) {
                        let payload = message.payload().unwrap_or_default();
                        each(slot, offset as u64, offset as u64, RawRecord::Line(payload));
                        count += 1;
                    }
                }
            }
        }
        for (slot, queue) in self.queues.iter().enumerate() {
            let mut from_slot = 0;
            while from_slot < max {
                let room = (max - from_slot).min(self.taken.len());
                let taken = queue.take(&mut self.taken[..room]);
                for &message in &self.taken[..taken] {
                    let Some(message) = NonNull::new(message).map(TakenMessage) else {
                        continue;
                    };
                    let state = &mut self.slots[slot];
                    if let Some(error) = message.error() {
                        tracing::warn!("{}: {error} (the client retries by itself)", state.label);
                        continue;
                    }
                    let offset = message.fields().offset;
                    if !state.accept(offset) {
                        continue;
                    }
                    each(
                        slot,
                        offset as u64,
                        offset as u64,
                        RawRecord::Line(message.payload()),
                    );
                    from_slot += 1;
                }
                if taken < room {
                    break;
                }
            }
            count += from_slot;
        }
        if count == 0 {
            self.refresh_ends();
        }
        Ok(count)
    }

    fn lag(&self, slot: usize) -> u64 {
        let s = &self.slots[slot];
        (s.stop_at.unwrap_or(s.log_end).min(s.log_end) - s.next).max(0) as u64
    }

    fn committed(&self, slot: usize) -> Option<u64> {
        u64::try_from(self.slots[slot].committed).ok()
    }

    fn lag_unit(&self) -> &'static str {
        "records"
    }

    fn wait_hint(&self) -> Option<Duration> {
        Some(Duration::from_millis(1))
    }

    fn resume(&self, slot: usize) -> Resume {
        self.slots[slot].resume
    }

    fn track(&mut self, record: Tracked) {
        self.slots[record.slot].pending.push_back(record);
    }

    /// Commits, per partition, the offset of the first record some result of which is not
    /// written yet (or the next offset when all are), with the partition's watermark there.
    fn commit_durable(&mut self, durable: Option<u64>, watermarks: &[Option<u64>]) {
        if self.committed_at.elapsed() < COMMIT_EVERY {
            return;
        }
        self.commit(durable, watermarks, CommitMode::Async);
    }

    fn commit_now(&mut self, durable: Option<u64>, watermarks: &[Option<u64>]) {
        self.commit(durable, watermarks, CommitMode::Sync);
    }
}

impl KafkaPartitions {
    /// Commits each partition's position: the first record not yet done (all of whose
    /// windows are written), or the log position when every record read is done.
    fn commit(&mut self, durable: Option<u64>, watermarks: &[Option<u64>], mode: CommitMode) {
        self.committed_at = Instant::now();
        let mut positions = TopicPartitionList::new();
        let mut moved = Vec::new();
        for (index, slot) in self.slots.iter_mut().enumerate() {
            while slot
                .pending
                .front()
                .is_some_and(|r| durable.is_none_or(|d| r.done_at <= d))
            {
                slot.pending.pop_front();
            }
            let (offset, watermark) = match slot.pending.front() {
                Some(first) => (first.offset as i64, first.watermark_before),
                None => (slot.next, watermarks[index]),
            };
            if offset == slot.committed {
                continue;
            }
            let mut position = positions.add_partition(&self.topic, slot.partition);
            if position.set_offset(Offset::Offset(offset)).is_ok() {
                position.set_metadata(resume_metadata(Resume {
                    watermark,
                    settled: durable.unwrap_or(u64::MAX),
                }));
                moved.push((index, offset));
            }
        }
        if positions.count() > 0 {
            match self.consumer.commit(&positions, mode) {
                // Positions not committed (a broker is failing over) are offered again next
                // time; until then the group's older positions stand, which is safe.
                Err(e) => tracing::warn!("kafka: cannot commit positions of {}: {e}", self.topic),
                Ok(()) => {
                    for (index, offset) in moved {
                        self.slots[index].committed = offset;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resume_metadata_round_trips() {
        let resume = Resume {
            watermark: Some(42),
            settled: 7,
        };
        assert_eq!(parse_resume_metadata(&resume_metadata(resume)), resume);
        let empty = Resume {
            watermark: None,
            settled: 0,
        };
        assert_eq!(parse_resume_metadata(&resume_metadata(empty)), empty);
        assert_eq!(
            parse_resume_metadata("written by another tool"),
            Resume::default()
        );
    }

    #[test]
    fn parses_uris() {
        let uri = KafkaUri::parse(
            "kafka://a:9092,b:9092/tweets?start=earliest&group=g&stop=end",
            "d",
        )
        .expect("uri");
        assert_eq!(uri.brokers(), "a:9092,b:9092");
        assert_eq!(uri.topic, "tweets");
        assert_eq!(uri.start, StartAt::Earliest);
        assert_eq!(uri.group, "g");
        assert!(uri.stop_at_end);
        let uri = KafkaUri::parse("kafka://a:9092/t?start=2022-09-26T03:00:00Z", "d").expect("uri");
        assert_eq!(uri.start, StartAt::Time(1_664_161_200_000));
        assert_eq!(uri.group, "d");
        assert!(KafkaUri::parse("kafka://a:9092", "d").is_err());
        assert!(KafkaUri::parse("kafka://a:9092/t?colour=red", "d").is_err());
        assert!(KafkaUri::parse("kafka://a:9092/t?start=yesterday", "d").is_err());
    }
}
