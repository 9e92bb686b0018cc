//! The producer's state machine: sending straight to Kafka, taking messages back when a
//! broker fails, spooling, and draining the spool once a broker answers again.

use super::kafka_out::{self, Delivery, KafkaProducer};
use super::options::PUBLISH_EVERY;
use super::spool::Damage;
use super::spool::{Checkpoint, Record, Spool};
use super::{input, pace, probe, progress, replay, ProduceSummary};
use crate::failure::Failure;
use rdkafka::producer::Producer;
use std::collections::{BTreeSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Where the producer is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    /// Source messages go straight to Kafka; the spool is empty.
    Direct,
    /// Something failed: waiting for every outstanding report before spooling.
    Flushing,
    /// No broker: source messages go to the spool.
    Spooling,
    /// A broker is back: the spool is sent, new messages are appended behind it.
    Draining,
}

impl Mode {
    fn broker(self) -> &'static str {
        match self {
            Mode::Direct => "broker up",
            Mode::Flushing => "broker failing, taking messages back",
            Mode::Spooling => "broker down, spooling",
            Mode::Draining => "broker up, draining spool",
        }
    }
}

/// How many messages may be outstanding while the spool drains.
const DRAIN_IN_FLIGHT: usize = 100_000;
const CHECKPOINT_EVERY: Duration = Duration::from_millis(200);

/// How long a stopping producer waits for the acknowledgements of what is in flight.
const STOP_WAIT: Duration = Duration::from_secs(5);

/// The state of one produce run.
pub(super) struct Producing {
    pub(super) producer: Arc<KafkaProducer>,
    topic: String,
    key_path: Option<crate::decode::JsonPaths>,
    spool: Option<Spool>,
    checkpoint: Checkpoint,
    replayable: bool,
    /// The sources are those of the saved checkpoint (so handled messages are skipped).
    same_sources: bool,
    mode: Mode,
    next_seq: u64,
    /// Delivery reports still to come.
    awaiting: usize,
    /// Sent straight from the source and neither acknowledged nor spooled.
    direct_unresolved: BTreeSet<u64>,
    /// Taken back after a failure, to be spooled in order.
    taken_back: Vec<Record>,
    /// Sent from the spool and not acknowledged.
    spool_unacked: BTreeSet<u64>,
    /// Spooled records acknowledged while an older one was not (skipped when the spool is
    /// read again after a failure).
    spool_acked_ahead: BTreeSet<u64>,
    /// A spooled record the local queue had no room for.
    drain_pending: Option<Record>,
    /// (sequence number, when it was sent) every few milliseconds of sending, to see how
    /// long the oldest unacknowledged message has waited.
    sent_marks: VecDeque<(u64, Instant)>,
    ack_timeout: Duration,
    /// Reading the spool continues at this sequence number.
    spool_read_next: u64,
    spool_read_all: bool,
    summary: ProduceSummary,
    progress: progress::ProgressLine,
}

impl Producing {
    pub(super) fn new(
        producer: Arc<KafkaProducer>,
        topic: String,
        key_path: Option<crate::decode::JsonPaths>,
        mut spool: Option<Spool>,
        sources: String,
        replayable: bool,
        ack_timeout: Duration,
    ) -> Producing {
        let saved = spool
            .as_ref()
            .and_then(Spool::checkpoint)
            .unwrap_or_default();
        let same_sources = saved.sources == sources && replayable;
        let checkpoint = Checkpoint {
            sources,
            base: if same_sources {
                saved.base
            } else {
                saved.base + saved.resolved
            },
            resolved: if same_sources { saved.resolved } else { 0 },
            acked: saved.acked,
        };
        if let Some(spool) = &mut spool {
            spool.rewind(saved.acked);
        }
        let mode = match &spool {
            Some(spool) if !spool.is_empty() => Mode::Spooling,
            _ => Mode::Direct,
        };
        Producing {
            producer,
            topic,
            key_path,
            spool,
            next_seq: checkpoint.base,
            spool_read_next: checkpoint.acked,
            checkpoint,
            replayable,
            same_sources,
            mode,
            awaiting: 0,
            direct_unresolved: BTreeSet::new(),
            taken_back: Vec::new(),
            spool_unacked: BTreeSet::new(),
            spool_acked_ahead: BTreeSet::new(),
            drain_pending: None,
            sent_marks: VecDeque::new(),
            ack_timeout,
            spool_read_all: false,
            summary: ProduceSummary::default(),
            progress: progress::ProgressLine::default(),
        }
    }

    pub(super) fn run(
        &mut self,
        stop: &crate::signals::StopSignal,
        mut inputs: input::Inputs,
        mut pacer: pace::Pacer,
        mut replay: Option<replay::Replay>,
        probe: &probe::Probe,
        show_progress: bool,
    ) -> Result<ProduceSummary, Failure> {
        let mut message = Vec::with_capacity(4096);
        self.skip_handled(&mut inputs, &mut message)?;
        let mut pending: Option<Record> = None;
        let mut source_done = false;
        let mut deliveries = Vec::new();
        let mut last_checkpoint = Instant::now();
        let mut last_published = Instant::now();
        let mut failed_at = 0;
        // When a stop was asked for: read no more, wait a while for what is in flight.
        let mut stopping_since: Option<Instant> = None;
        loop {
            if stopping_since.is_none() && stop.requested() {
                tracing::info!("stopping: reading no more, waiting for acknowledgements");
                stopping_since = Some(Instant::now());
            }
            if let Some(since) = stopping_since {
                let settled = pending.is_none() && self.awaiting == 0;
                if settled || since.elapsed() >= STOP_WAIT {
                    return self.stopped(show_progress);
                }
            }
            self.take_reports(&mut deliveries, probe, &mut failed_at)?;
            self.step_mode(probe, failed_at)?;

            // The source: straight to Kafka, or behind the spool. A pending record taken from
            // the source before a stop is still sent or spooled.
            let mut idle = true;
            if !source_done && self.mode != Mode::Flushing {
                for _ in 0..1024 {
                    if pending.is_none() {
                        if stopping_since.is_some() {
                            break;
                        }
                        if !pacer.wait().is_zero() {
                            break;
                        }
                        if !inputs.next(&mut message).map_err(Failure::failed)? {
                            source_done = true;
                            break;
                        }
                        if let Some(replay) = &mut replay {
                            pacer.hold_until(replay.apply(&mut message));
                            self.summary.untimed = replay.unreadable;
                        }
                        pending = Some(self.record(&message));
                        self.summary.read += 1;
                    }
                    if !pacer.wait().is_zero() {
                        break;
                    }
                    pacer.release();
                    let record = pending.take().expect("a record");
                    match self.send_or_spool(record)? {
                        Some(full) => {
                            pending = Some(full);
                            break;
                        }
                        None => idle = false,
                    }
                }
            }

            let everything_done = source_done
                && pending.is_none()
                && self.awaiting == 0
                && self.mode == Mode::Direct
                && self.spool.as_ref().is_none_or(Spool::is_empty);
            if everything_done || last_checkpoint.elapsed() >= CHECKPOINT_EVERY {
                self.save_checkpoint()?;
                last_checkpoint = Instant::now();
            }
            if show_progress {
                self.progress.show(
                    &self.summary,
                    self.spool.as_ref(),
                    self.mode.broker(),
                    everything_done,
                );
            }
            if last_published.elapsed() >= PUBLISH_EVERY || everything_done {
                crate::prometheus::publish_produce(
                    &self.summary,
                    self.spool.as_ref().map_or(0, Spool::bytes),
                    self.mode == Mode::Direct,
                );
                last_published = Instant::now();
            }
            if everything_done {
                return Ok(self.summary.clone());
            }
            if idle {
                let wait = pacer
                    .wait()
                    .clamp(Duration::from_micros(200), Duration::from_millis(20));
                self.producer.poll(wait);
            }
        }
    }

    /// Skips the source messages a previous run with this spool handled (acknowledged or
    /// spooled).
    fn skip_handled(
        &mut self,
        inputs: &mut input::Inputs,
        message: &mut Vec<u8>,
    ) -> Result<(), Failure> {
        // Records spooled after the last checkpoint count as handled too.
        let spooled_until = self
            .spool
            .as_ref()
            .and_then(Spool::last_seq)
            .map_or(0, |s| s + 1);
        let mut skip = self.checkpoint.resolved;
        if self.same_sources {
            skip = skip.max(spooled_until.saturating_sub(self.checkpoint.base));
        } else {
            self.next_seq = self.next_seq.max(spooled_until);
            self.checkpoint.base = self.next_seq;
        }
        for _ in 0..skip {
            if !inputs.next(message).map_err(Failure::failed)? {
                break;
            }
            self.next_seq += 1;
            self.summary.skipped += 1;
        }
        if self.summary.skipped > 0 {
            tracing::info!(
                "skipped {} source messages a previous run with this spool produced",
                self.summary.skipped
            );
        }
        Ok(())
    }

    /// Ends a stopped run: what is unacknowledged now is sent again by the next run with this
    /// spool (counted as possible duplicates); the spool and its checkpoint are made durable
    /// first.
    fn stopped(&mut self, show_progress: bool) -> Result<ProduceSummary, Failure> {
        self.save_checkpoint()?;
        if let Some(spool) = &mut self.spool {
            spool
                .sync()
                .map_err(|e| Failure::Failed(format!("cannot sync the spool: {e}")))?;
        }
        if show_progress {
            self.progress
                .show(&self.summary, self.spool.as_ref(), self.mode.broker(), true);
        }
        Ok(self.summary.clone())
    }

    /// Takes the delivery reports, and with a spool, starts spooling when Kafka fails or
    /// stops answering (noting when, in `failed_at`); without one, a failure ends the run.
    fn take_reports(
        &mut self,
        deliveries: &mut Vec<Delivery>,
        probe: &probe::Probe,
        failed_at: &mut u64,
    ) -> Result<(), Failure> {
        self.producer.poll(Duration::ZERO);
        self.producer.context().take(deliveries);
        let failed = self.apply(deliveries);
        if self.spool.is_some() {
            let down = self.producer.context().brokers_went_down()
                || (self.awaiting > 0 && probe.broker_down())
                || self.stalled();
            if (failed || down) && matches!(self.mode, Mode::Direct | Mode::Draining) {
                tracing::warn!("Kafka is not taking messages; spooling to disk");
                kafka_out::purge(&self.producer);
                self.sent_marks.clear();
                self.mode = Mode::Flushing;
                *failed_at = probe.now();
            }
            Ok(())
        } else if failed {
            Err(Failure::Failed(
                "Kafka refused a message (see the log); without --spool it cannot be kept".into(),
            ))
        } else {
            Ok(())
        }
    }

    /// Moves between modes: spools what was taken back, notices Kafka is back, drains.
    fn step_mode(&mut self, probe: &probe::Probe, failed_at: u64) -> Result<(), Failure> {
        match self.mode {
            Mode::Flushing if self.awaiting == 0 => self.spool_taken_back()?,
            Mode::Spooling if probe.writable_after(failed_at) => {
                tracing::info!("Kafka is back; sending the spool");
                self.mode = Mode::Draining;
                self.spool_read_all = false;
            }
            Mode::Draining => self.drain()?,
            Mode::Direct | Mode::Flushing | Mode::Spooling => {}
        }
        Ok(())
    }

    /// Sends a source record straight to Kafka, or spools it behind the spool; hands it
    /// back when the client's queue is full.
    fn send_or_spool(&mut self, record: Record) -> Result<Option<Record>, Failure> {
        if self.mode != Mode::Direct {
            self.append(&record)?;
            return Ok(None);
        }
        match kafka_out::send(&self.producer, &self.topic, &record) {
            Ok(()) => {
                self.awaiting += 1;
                self.summary.sent += 1;
                self.direct_unresolved.insert(record.seq);
                self.mark_sent(record.seq);
                Ok(None)
            }
            Err(e) if kafka_out::is_queue_full(&e) => Ok(Some(record)),
            Err(e) => Err(Failure::Failed(format!("Kafka: {e}"))),
        }
    }

    fn mark_sent(&mut self, seq: u64) {
        if self.spool.is_some() {
            mark_sent(&mut self.sent_marks, seq);
        }
    }

    /// Whether the oldest unacknowledged message has waited longer than the ack timeout.
    fn stalled(&mut self) -> bool {
        let oldest = match (self.direct_unresolved.first(), self.spool_unacked.first()) {
            (Some(&a), Some(&b)) => a.min(b),
            (Some(&a), None) | (None, Some(&a)) => a,
            (None, None) => return false,
        };
        while self
            .sent_marks
            .get(1)
            .is_some_and(|&(seq, _)| seq <= oldest)
        {
            self.sent_marks.pop_front();
        }
        self.sent_marks
            .front()
            .is_some_and(|&(seq, at)| seq <= oldest && at.elapsed() > self.ack_timeout)
    }

    /// A source message as a record: the next sequence number, now as its timestamp, and
    /// its key.
    fn record(&mut self, message: &[u8]) -> Record {
        let seq = self.next_seq;
        self.next_seq += 1;
        let key = self.key_path.as_ref().and_then(|paths| {
            let mut slot = [None];
            paths.extract(message, &mut slot).ok()?;
            key_bytes(slot[0].take()?)
        });
        Record {
            seq,
            timestamp_ms: chrono::Utc::now().timestamp_millis(),
            key,
            payload: message.to_vec(),
        }
    }

    /// Applies delivery reports; `true` if any message failed.
    fn apply(&mut self, deliveries: &mut Vec<Delivery>) -> bool {
        let mut failed = false;
        for delivery in deliveries.drain(..) {
            self.awaiting -= 1;
            match delivery {
                Delivery::Acked(seq) => {
                    self.summary.acked += 1;
                    let from_spool =
                        !self.direct_unresolved.remove(&seq) && self.spool_unacked.remove(&seq);
                    if from_spool && self.spool_unacked.first().is_some_and(|&o| o < seq) {
                        self.spool_acked_ahead.insert(seq);
                    }
                }
                Delivery::Failed { record, in_doubt } => {
                    failed = true;
                    self.summary.in_doubt += u64::from(in_doubt);
                    // A message from the spool is still there; one sent directly is kept
                    // to be spooled.
                    if self.direct_unresolved.contains(&record.seq) {
                        self.taken_back.push(record);
                    }
                }
            }
        }
        failed
    }

    /// Every report is in after a failure: spool what was taken back, in order, and read the
    /// spool again from its oldest unacknowledged record.
    fn spool_taken_back(&mut self) -> Result<(), Failure> {
        let mut taken_back = std::mem::take(&mut self.taken_back);
        taken_back.sort_by_key(|r| r.seq);
        for record in &taken_back {
            self.append(record)?;
            self.direct_unresolved.remove(&record.seq);
        }
        debug_assert!(self.direct_unresolved.is_empty());
        let oldest = self.spool_acked_cursor();
        self.spool_unacked.clear();
        self.drain_pending = None;
        self.spool_read_next = oldest;
        if let Some(spool) = &mut self.spool {
            spool.rewind(oldest);
        }
        self.mode = Mode::Spooling;
        Ok(())
    }

    fn append(&mut self, record: &Record) -> Result<(), Failure> {
        let spool = self.spool.as_mut().expect("spooling needs a spool");
        spool
            .append(record)
            .map_err(|e| Failure::Failed(format!("cannot write the spool: {e}")))?;
        self.summary.spooled += 1;
        self.spool_read_all = false;
        Ok(())
    }

    /// Sends spooled records while there is room; back to direct once all are acknowledged.
    fn drain(&mut self) -> Result<(), Failure> {
        let Some(spool) = &mut self.spool else {
            return Ok(());
        };
        let spool_error = |e: std::io::Error| Failure::Failed(format!("spool: {e}"));
        let mut damaged = 0;
        while !self.spool_read_all && self.awaiting < DRAIN_IN_FLIGHT {
            let next = match self.drain_pending.take() {
                Some(record) => Some(record),
                None => spool
                    .read(&mut |damage: Damage| {
                        tracing::error!("{damage}");
                        damaged += 1;
                    })
                    .map_err(spool_error)?,
            };
            let Some(record) = next else {
                self.spool_read_all = true;
                break;
            };
            if self.spool_acked_ahead.remove(&record.seq) {
                self.spool_read_next = record.seq + 1;
                continue;
            }
            match kafka_out::send(&self.producer, &self.topic, &record) {
                Ok(()) => {
                    self.awaiting += 1;
                    self.summary.sent += 1;
                    self.spool_unacked.insert(record.seq);
                    self.spool_read_next = record.seq + 1;
                    mark_sent(&mut self.sent_marks, record.seq);
                }
                Err(e) if kafka_out::is_queue_full(&e) => {
                    self.drain_pending = Some(record);
                    break;
                }
                Err(e) => return Err(Failure::Failed(format!("Kafka: {e}"))),
            }
        }
        self.summary.damaged += damaged;
        let acked = self.spool_acked_cursor();
        let drained = self.spool_read_all && self.spool_unacked.is_empty();
        let spool = self.spool.as_mut().expect("a spool");
        spool.release(acked, drained).map_err(spool_error)?;
        if drained && spool.is_empty() {
            tracing::info!("spool drained; sending directly again");
            self.mode = Mode::Direct;
        }
        Ok(())
    }

    /// Every spooled record below this is acknowledged.
    fn spool_acked_cursor(&mut self) -> u64 {
        let cursor = self
            .spool_unacked
            .first()
            .copied()
            .unwrap_or(self.spool_read_next);
        while self.spool_acked_ahead.first().is_some_and(|&s| s < cursor) {
            self.spool_acked_ahead.pop_first();
        }
        cursor
    }

    fn save_checkpoint(&mut self) -> Result<(), Failure> {
        if self.spool.is_none() {
            return Ok(());
        }
        let first_unresolved = self
            .direct_unresolved
            .first()
            .copied()
            .unwrap_or(self.next_seq);
        self.checkpoint.resolved = if self.replayable {
            first_unresolved - self.checkpoint.base
        } else {
            0
        };
        if !self.replayable {
            self.checkpoint.base = first_unresolved;
        }
        self.checkpoint.acked = self.spool_acked_cursor();
        let spool = self.spool.as_mut().expect("a spool");
        spool
            .save_checkpoint(&self.checkpoint)
            .map_err(|e| Failure::Failed(format!("cannot save the spool checkpoint: {e}")))
    }
}

/// Notes when `seq` was sent, at most one mark per 10 ms.
fn mark_sent(marks: &mut VecDeque<(u64, Instant)>, seq: u64) {
    let now = Instant::now();
    if marks
        .back()
        .is_none_or(|&(_, at)| now.duration_since(at) >= Duration::from_millis(10))
    {
        marks.push_back((seq, now));
    }
}

/// A key field's value as message key bytes (text as is, anything else as JSON).
fn key_bytes(value: crate::value::Value) -> Option<Vec<u8>> {
    match value {
        crate::value::Value::Null => None,
        crate::value::Value::Str(s) => Some(s.as_bytes().to_vec()),
        other => {
            let mut text = String::new();
            other.write_json(&mut text);
            Some(text.into_bytes())
        }
    }
}
