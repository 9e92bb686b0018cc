//! Reading Kafka partitions: each partition of the topic is read by exactly one worker of
//! all processes (partition `p` by global worker `p mod workers`), from an explicit start.
//!
//! Partitions that reached the end of their log are told apart from partitions that never
//! had data by the broker's log end offsets, never by a timer.

use super::{At, PartitionStatus, RawRecord, Resume, SourceError, Tracked, WorkerSource};
use rdkafka::bindings as kafka_c;
use rdkafka::consumer::{CommitMode, Consumer};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};
use std::collections::{HashMap, VecDeque};
use std::ptr::NonNull;
use std::time::{Duration, Instant};

const END_REFRESH: Duration = Duration::from_millis(100);

mod connect;
mod queue;
mod resume;
mod uri;

pub use uri::{KafkaUri, StartAt};

use connect::{
    broker_lost, committed_offsets, connect, kafka_error, KafkaConsumer, BROKER_TIMEOUT,
};
use queue::{PartitionQueue, TakenMessage, CONSUME_BATCH};
use resume::{parse_resume_metadata, resume_metadata};

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

/// A partition's first and log end offsets, asked again until `BROKER_TIMEOUT` when a broker
/// went away during the call.
fn log_bounds(
    consumer: &KafkaConsumer,
    topic: &str,
    partition: i32,
) -> Result<(i64, i64), rdkafka::error::KafkaError> {
    let deadline = Instant::now() + BROKER_TIMEOUT;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match consumer.fetch_watermarks(topic, partition, left.max(Duration::from_millis(100))) {
            Err(e) if broker_lost(&e) && Instant::now() < deadline => {
                tracing::debug!("kafka: {e}; asking again");
                std::thread::sleep(Duration::from_millis(100));
            }
            result => return result,
        }
    }
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
            let (low, high) = log_bounds(&consumer, &uri.topic, partition).map_err(kafka)?;
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
        each: &mut dyn FnMut(At, RawRecord<'_>),
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
                        each(At::log(slot, offset as u64), RawRecord::Line(payload));
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
                        At::log(slot, offset as u64),
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
