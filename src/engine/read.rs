//! The source operator: reads this worker's partitions, decodes records, assigns event time
//! and arrival, and holds the frontier at the minimum of its partitions' watermarks.

use super::Shared;
use crate::decode::{CsvColumns, DecodeError, Decoded};
use crate::event::Event;
use crate::metrics::PartitionPosition;
use crate::plan::OutputPlan;
use crate::sink::Rejected;
use crate::source::{At, PartitionStatus, Prefix, RawRecord, Tracked, WorkerSource};
use crate::time::{format_rfc3339_millis, PartitionWatermark, WindowAssigner};
use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};
use timely::dataflow::operators::generic::operator::source;
use timely::dataflow::{ProbeHandle, Scope, Stream};

/// Records read per partition before the worker yields to downstream operators.
const BATCH: usize = 8192;

/// How long result rows may wait to be written before the sources stop reading until they
/// are: well under the write latency dashboards should see.
const SINK_BEHIND: Duration = Duration::from_millis(10);

/// How long a source waits before looking again whether the sinks caught up.
const SINK_WAIT: Duration = Duration::from_millis(1);

/// How often a stopping source looks whether everything that fired is written.
const STOP_WAIT: Duration = Duration::from_millis(20);

/// Decoding state of one partition.
struct Slot {
    csv: Option<CsvColumns>,
    watermark: PartitionWatermark,
    /// Windows final before this frontier were written before a restart; re-read records
    /// must not touch them.
    settled: u64,
    /// The frontier the source holds: no record arrives behind it, even in a partition
    /// that held nothing back while idle or empty (see [`PartitionWatermark::raise_to`]).
    floor: u64,
}

/// Per-batch tallies, added to the shared metrics once per batch.
#[derive(Default)]
struct Tally {
    read: u64,
    kept: u64,
    filtered: u64,
    late_records: u64,
    dead: BTreeMap<&'static str, u64>,
    late: BTreeMap<String, u64>,
}

/// A rejected record before it is written: (slot, line, offset, raw text, reason, output).
type Rejection = (usize, u64, u64, String, String, Option<usize>);

/// The frontiers a source watches: of what all sources have read (the events stream), and
/// of what the sinks have written.
pub struct Probes {
    /// The frontier of the events stream.
    pub read: ProbeHandle<u64>,
    /// The frontier after the sinks: what is written.
    pub written: ProbeHandle<u64>,
    /// Where open sessions hold the committed position (no stream, and so no hold, without
    /// session outputs).
    pub sessions: ProbeHandle<u64>,
}

/// Builds the source operator for this worker over the partitions `open` gives it.
pub fn read_and_decode<'s>(
    scope: Scope<'s, u64>,
    shared: Arc<Shared>,
    open: impl FnOnce(usize, usize) -> Option<Box<dyn WorkerSource>> + 'static,
    probes: Probes,
) -> Stream<'s, u64, Vec<Event>> {
    let Probes {
        read: read_probe,
        written: durable,
        sessions,
    } = probes;
    // What a source may commit: what is written, and no record of a session still open.
    let written_probe = durable.clone();
    let committable = move || {
        let written = written_probe.with_frontier(|f| f.iter().next().copied());
        match sessions.with_frontier(|f| f.iter().next().copied()) {
            Some(held) => written.map(|w| w.min(held)),
            None => written,
        }
    };
    let worker = scope.index();
    let peers = scope.peers();
    source(scope, "ReadDecode", move |capability, info| {
        let activator = scope.activator_for(info.address.clone());
        shared
            .stop
            .wake_on_stop(scope.worker().sync_activator_for(info.address.to_vec()));
        let ooo = shared.plan.time.max_out_of_orderness_ms;
        let mut input = open(worker, peers);
        let mut slots: Vec<Slot> = Vec::new();
        if let Some(input) = &input {
            input.wake_on_progress(scope.worker().sync_activator_for(info.address.to_vec()));
            for slot in 0..input.partitions() {
                let csv = input.csv_header(slot).map(|header| {
                    let columns = shared.decoder.csv_columns(header);
                    let absent = columns.absent(shared.decoder.alternatives());
                    if !absent.is_empty() {
                        tracing::warn!(
                            "{}: no column for {}; those fields are missing in every row",
                            input.label(slot),
                            absent.join(", ")
                        );
                    }
                    columns
                });
                slots.push(Slot {
                    csv,
                    watermark: PartitionWatermark::resumed(ooo, input.resume(slot).watermark),
                    settled: input.resume(slot).settled,
                    floor: 0,
                });
            }
        }
        let assigners = WindowAssigner::for_outputs(&shared.plan);
        let idle_timeout = shared.plan.time.idle_timeout_ms.map(Duration::from_millis);
        let mut capability = Some(capability);
        let mut tracked = Vec::new();
        let mut pieces = Pieces::default();
        let mut positions_published = Instant::now() - POSITIONS_EVERY;
        move |output| {
            // Stopping: read nothing more and hold the frontier where it is (no window
            // becomes final early) until what fired is written everywhere, then commit and
            // settle. A worker whose input has ended waits for the same.
            let everything_written = || {
                let written = durable.with_frontier(|f| f.iter().next().copied());
                let read = read_probe.with_frontier(|f| f.iter().next().copied());
                (written == read).then(&committable)
            };
            let (Some(cap), Some(reader)) = (capability.as_mut(), input.as_mut()) else {
                capability = None;
                if shared.stop.requested() {
                    match everything_written() {
                        Some(_) => shared.stop.settle(worker),
                        None => activator.activate_after(STOP_WAIT),
                    }
                }
                return;
            };
            if shared.stop.requested() {
                match everything_written() {
                    Some(written) => {
                        let watermarks: Vec<Option<u64>> =
                            slots.iter().map(|s| s.watermark.current()).collect();
                        reader.commit_now(written, &watermarks);
                        shared.stop.settle(worker);
                    }
                    None => activator.activate_after(STOP_WAIT),
                }
                return;
            }
            if shared.sink_lag.behind(SINK_BEHIND) {
                // Rows that fired a while ago are still being written: leave the cores to the
                // writes until they are, and read on after (backpressure).
                activator.activate_after(SINK_WAIT);
                return;
            }
            let mut events = Vec::with_capacity(BATCH);
            let mut filled = Vec::new();
            let mut tally = Tally::default();
            for slot in &mut slots {
                slot.floor = *cap.time();
            }
            let read = read_batch(
                &shared,
                reader.as_mut(),
                &mut slots,
                &mut pieces,
                &assigners,
                &mut events,
                &mut filled,
                &mut tally,
                &mut tracked,
                read_probe.with_frontier(|f| f.iter().next().copied().unwrap_or(u64::MAX)),
            );
            for mut batch in filled.into_iter().chain([events]) {
                if !batch.is_empty() {
                    output.session(&*cap).give_container(&mut batch);
                }
            }
            publish(&shared, &tally);
            // The frontier after the sinks says which results are written; sources that can
            // commit their position do so up to the records all of whose results are.
            let written = committable();
            let watermarks: Vec<Option<u64>> =
                slots.iter().map(|s| s.watermark.current()).collect();
            reader.commit_durable(written, &watermarks);
            match frontier(reader.as_ref(), &slots, idle_timeout) {
                Frontier::Closed => {
                    shared
                        .metrics
                        .set_position(worker, None, 0, reader.lag_unit());
                    publish_partitions(&shared, worker, reader.as_ref());
                    capability = None;
                    input = None;
                    // No piece comes any more: the vectors kept for the next ones go.
                    pieces.spare = Vec::new();
                    shared.source_frontiers.withdraw(worker);
                    shared.stop.input_ended(worker);
                    if shared.stop.inputs_ended() {
                        // The ids are let go before the last windows fire: their rows
                        // reuse the memory.
                        if let Some(dedup) = &shared.source_dedup {
                            dedup.forget_all();
                        }
                    }
                    return;
                }
                Frontier::At(low) if low > *cap.time() => cap.downgrade(&low),
                Frontier::At(_) | Frontier::Hold => {}
                // Every partition here is idle or empty: follow the other sources of the
                // process instead of holding them back.
                Frontier::Free => {
                    if let Some(other) = shared.source_frontiers.lowest_other(worker) {
                        if other > *cap.time() {
                            cap.downgrade(&other);
                        }
                    }
                }
            }
            shared.source_frontiers.publish(worker, *cap.time());
            let lag = (0..reader.partitions()).map(|slot| reader.lag(slot)).sum();
            shared
                .metrics
                .set_position(worker, Some(*cap.time()), lag, reader.lag_unit());
            if positions_published.elapsed() >= POSITIONS_EVERY {
                positions_published = Instant::now();
                publish_partitions(&shared, worker, reader.as_ref());
            }
            match reader.wait_hint() {
                Some(wait) if read == 0 => activator.activate_after(wait),
                _ => activator.activate(),
            }
        }
    })
}

/// How often a worker publishes where each of its partitions stands (for the metrics).
const POSITIONS_EVERY: Duration = Duration::from_secs(1);

/// Publishes each partition's lag and committed position.
fn publish_partitions(shared: &Shared, worker: usize, reader: &dyn WorkerSource) {
    let positions = (0..reader.partitions())
        .map(|slot| PartitionPosition {
            label: reader.label(slot).to_string(),
            lag: reader.lag(slot),
            committed: reader.committed(slot),
        })
        .collect();
    shared.metrics.set_partitions(worker, positions);
}

enum Frontier {
    /// Every partition has ended.
    Closed,
    /// A partition with data has no watermark yet: stay where the frontier is.
    Hold,
    /// The lowest watermark of the partitions that hold the frontier.
    At(u64),
    /// Open partitions, none of which holds the frontier (all idle or empty).
    Free,
}

/// The minimum watermark over partitions that hold the frontier: ended partitions,
/// partitions that never had data and partitions idle at the end of their log for the idle
/// timeout hold nothing; a partition with data but no watermark yet holds the frontier
/// where it is.
fn frontier(reader: &dyn WorkerSource, slots: &[Slot], idle_timeout: Option<Duration>) -> Frontier {
    let mut low: Option<u64> = None;
    let mut open = false;
    for (slot, state) in slots.iter().enumerate() {
        let watermark = match reader.status(slot) {
            PartitionStatus::Done => continue,
            PartitionStatus::Pieces(held) => match held {
                Some(w) => w,
                None => return Frontier::Hold,
            },
            status @ (PartitionStatus::Reading | PartitionStatus::Empty) => {
                let idle = idle_timeout
                    .zip(reader.at_end_since(slot))
                    .is_some_and(|(timeout, since)| since.elapsed() >= timeout);
                if idle {
                    open = true;
                    continue;
                }
                match state.watermark.current() {
                    Some(w) => w,
                    None if status == PartitionStatus::Empty => {
                        open = true;
                        continue;
                    }
                    None => return Frontier::Hold,
                }
            }
        };
        open = true;
        low = Some(low.map_or(watermark, |l| l.min(watermark)));
    }
    match (open, low) {
        (false, _) => Frontier::Closed,
        (true, Some(w)) => Frontier::At(w),
        (true, None) => Frontier::Free,
    }
}

/// A decoded record of a piece, waiting for the prefix of its piece to be judged.
struct Waiting {
    at: At,
    /// The record's length in bytes (its text is read again for a rejection).
    len: usize,
    decoded: Result<Decoded, DecodeError>,
}

/// A piece being read and its records, out of [`Pieces::waiting`] while its records come
/// one by one: looking its map entry up for every record cost about 1 % of the CPU.
type Reading = Option<((usize, usize), PieceRecords)>;

impl Pieces {
    /// The records of piece `key` (by slot and piece), which becomes the one being read.
    fn reading<'r>(
        &mut self,
        reading: &'r mut Reading,
        key: (usize, usize),
        ooo: u64,
    ) -> &'r mut PieceRecords {
        if reading.as_ref().is_some_and(|(read, _)| *read != key) {
            self.put_back(reading);
        }
        let (_, records) = reading.get_or_insert_with(|| {
            let records = self.waiting.remove(&key).unwrap_or_else(|| PieceRecords {
                watermark: PartitionWatermark::new(ooo),
                records: self.spare.pop().map_or_else(
                    || Vec::with_capacity(self.typical),
                    |mut records| {
                        records.reserve(self.typical);
                        records
                    },
                ),
                read: false,
            });
            (key, records)
        });
        records
    }

    /// Puts the piece being read back with the others.
    fn put_back(&mut self, reading: &mut Reading) {
        if let Some((key, records)) = reading.take() {
            self.waiting.insert(key, records);
        }
    }
}

/// The decoded records of a piece not judged yet, and the watermark they reach on their own.
struct PieceRecords {
    watermark: PartitionWatermark,
    records: Vec<Waiting>,
    /// Whether the piece was read to its end.
    read: bool,
}

/// Pieces of partitions read in pieces, waiting to be judged.
#[derive(Default)]
struct Pieces {
    /// By (slot, piece).
    waiting: BTreeMap<(usize, usize), PieceRecords>,
    /// How many records the last piece judged held: a new piece makes room for as many, so
    /// its records are not copied from vector to twice the size as it is read.
    typical: usize,
    /// Emptied record vectors of pieces judged, for the next pieces: their memory is in use
    /// already, where a new vector's would be touched for the first time.
    spare: Vec<Vec<Waiting>>,
}

/// How many emptied record vectors [`Pieces`] keeps at most.
const SPARE_AT_MOST: usize = 2;

/// Judges decoded records in order against their partition's watermark: counts them, sets
/// their arrival, and keeps them as events or rejects them as dead or late.
struct Judge<'a> {
    shared: &'a Shared,
    assigners: &'a [Option<WindowAssigner>],
    events: &'a mut Vec<Event>,
    /// Vectors of events filled before `events`, in order: a piece's events that do not fit
    /// in `events` start a new vector rather than grow it, which would copy every event.
    filled: &'a mut Vec<Vec<Event>>,
    tally: &'a mut Tally,
    tracked: &'a mut Vec<Tracked>,
    dead: Vec<Rejection>,
    late: Vec<Rejection>,
    finals: Vec<u64>,
}

impl Judge<'_> {
    /// Judges one record read at `at` whose text `raw` gives, against `watermark`.
    fn judge(
        &mut self,
        at: At,
        raw: &dyn Fn() -> String,
        decoded: Result<Decoded, DecodeError>,
        watermark: &mut PartitionWatermark,
        settled: u64,
    ) {
        let outputs = &self.shared.plan.outputs;
        let watermark_before = watermark.current();
        let mut done_at = 0;
        let reject = |reason: String, output: Option<usize>| {
            (at.slot, at.line, at.offset, raw(), reason, output)
        };
        match decoded {
            Ok(Decoded::Filtered) => self.tally.filtered += 1,
            Err(e) => {
                *self.tally.dead.entry(e.kind()).or_default() += 1;
                self.dead.push(reject(e.to_string(), None));
            }
            Ok(Decoded::Kept {
                time,
                fields,
                elements,
            }) => {
                let arrival = watermark.observe(time);
                // When each output's last window holding the record becomes final; per-record
                // outputs (no assigner) take every record and are done with it at once.
                self.finals.clear();
                self.finals.extend(
                    self.assigners
                        .iter()
                        .map(|a| a.as_ref().map_or(0, |a| a.final_at_last(time))),
                );
                let mut counted = false;
                for (i, assigner) in self.assigners.iter().enumerate() {
                    match assigner {
                        Some(a) if arrival >= a.late_from_given(time, self.finals[i]) => {
                            *self.tally.late.entry(outputs[i].name.clone()).or_default() += 1;
                            let reason = match a.gap() {
                                None => format!(
                                    "every window of `{}` containing {} was final at watermark {}",
                                    outputs[i].name,
                                    format_rfc3339_millis(time),
                                    format_rfc3339_millis(arrival)
                                ),
                                Some(_) => format!(
                                    "{} is more than the allowed lateness behind watermark {} \
                                     (sessions of `{}`)",
                                    format_rfc3339_millis(time),
                                    format_rfc3339_millis(arrival),
                                    outputs[i].name,
                                ),
                            };
                            self.late.push(reject(reason, Some(i)));
                        }
                        _ => counted = true,
                    }
                }
                if counted {
                    // Per-record outputs hold 0 in `finals` and are done with a record at once.
                    let final_at = self.finals.iter().copied().max().unwrap_or(0);
                    done_at = if self.assigners.iter().any(Option::is_none) {
                        final_at.max(arrival)
                    } else {
                        final_at
                    };
                    self.tally.kept += 1;
                    // After a restart, windows final before `settled` are already written:
                    // a re-read record counts only in windows after it.
                    let arrival = arrival.max(settled);
                    let written_before = self
                        .assigners
                        .iter()
                        .zip(self.finals.iter())
                        .all(|(a, &f)| a.is_some() && arrival >= f);
                    if !written_before {
                        self.events.push(Event {
                            time,
                            arrival,
                            final_at,
                            fields,
                            elements,
                        });
                    }
                } else {
                    self.tally.late_records += 1;
                }
            }
        }
        self.tracked.push(Tracked {
            slot: at.slot,
            offset: at.offset,
            done_at,
            watermark_before,
        });
    }
}

/// Decodes one raw record of a partition (`csv`: its columns, for a CSV partition).
fn decode(
    shared: &Shared,
    csv: Option<&CsvColumns>,
    raw: &RawRecord<'_>,
    now_ms: u64,
) -> Result<Decoded, DecodeError> {
    match raw {
        RawRecord::Line(bytes) => shared.decoder.decode_json(bytes, now_ms),
        RawRecord::Row(row) => match csv {
            Some(columns) => shared.decoder.decode_csv(columns, row, now_ms),
            None => Err(DecodeError::MalformedCsv("row outside a CSV file".into())),
        },
        RawRecord::BadRow(message) => Err(DecodeError::MalformedCsv(message.clone())),
    }
}

#[allow(clippy::too_many_arguments)]
fn read_batch(
    shared: &Shared,
    reader: &mut dyn WorkerSource,
    slots: &mut [Slot],
    pieces: &mut Pieces,
    assigners: &[Option<WindowAssigner>],
    events: &mut Vec<Event>,
    filled: &mut Vec<Vec<Event>>,
    tally: &mut Tally,
    tracked: &mut Vec<Tracked>,
    read_frontier: u64,
) -> usize {
    let ooo = shared.plan.time.max_out_of_orderness_ms;
    let now_ms = chrono::Utc::now().timestamp_millis().max(0) as u64;
    let mut judge = Judge {
        shared,
        assigners,
        events,
        filled,
        tally,
        tracked,
        dead: Vec::new(),
        late: Vec::new(),
        finals: Vec::with_capacity(assigners.len()),
    };
    let mut reading: Reading = None;
    let result = reader.read_batch(BATCH, &mut |at, raw| {
        judge.tally.read += 1;
        let slot = &mut slots[at.slot];
        let decoded = decode(shared, slot.csv.as_ref(), &raw, now_ms);
        match at.piece {
            None => {
                slot.watermark.raise_to(slot.floor);
                let text = || raw_text(&raw);
                judge.judge(at, &text, decoded, &mut slot.watermark, slot.settled);
            }
            // Decoded now, judged once every piece before it is read.
            Some(piece) => {
                let records = pieces.reading(&mut reading, (at.slot, piece), ooo);
                if let Ok(Decoded::Kept { time, .. }) = &decoded {
                    records.watermark.observe(*time);
                }
                let len = match raw {
                    RawRecord::Line(bytes) => bytes.len(),
                    RawRecord::Row(_) | RawRecord::BadRow(_) => 0,
                };
                records.records.push(Waiting { at, len, decoded });
            }
        }
    });
    pieces.put_back(&mut reading);
    let read = match result {
        Ok(n) => n,
        // A partition that cannot be read cannot be finished: nothing after the failure
        // can be read, and ending the partition would mark its windows final early.
        Err(e) => shared.abort(format!("read failed: {e}")),
    };
    for (slot, piece) in reader.ended_pieces() {
        let records = pieces.waiting.get_mut(&(slot, piece));
        let watermark = records.as_ref().and_then(|r| r.watermark.current());
        reader.piece_read(slot, piece, watermark);
        match records {
            Some(records) => records.read = true,
            None => reader.piece_handed_on(slot, piece),
        }
    }
    judge_pieces(&mut judge, reader, pieces, ooo, read_frontier);
    let Judge {
        dead,
        late,
        tracked,
        ..
    } = judge;
    for record in tracked.drain(..) {
        reader.track(record);
    }
    let outputs = &shared.plan.outputs;
    for (log, entries) in [(&shared.dead_letters, &dead), (&shared.late, &late)] {
        if entries.is_empty() {
            continue;
        }
        let batch: Vec<Rejected<'_>> = entries
            .iter()
            .map(|entry| to_rejected(reader, outputs, entry))
            .collect();
        if let Err(e) = log.write(&batch) {
            shared.fail(format!("cannot write rejected records: {e}"));
        }
    }
    read
}

/// Judges the read pieces whose prefix is known, each from the watermark and line count
/// before it, as a single reader of the whole file would have, and hands them on; with
/// de-duplication in the sources, de-duplicates them (`read_frontier`: the frontier of what
/// all sources read, no later than any event still to come).
fn judge_pieces(
    judge: &mut Judge<'_>,
    reader: &mut dyn WorkerSource,
    pieces: &mut Pieces,
    ooo: u64,
    read_frontier: u64,
) {
    let ready: Vec<((usize, usize), Prefix)> = pieces
        .waiting
        .iter()
        .filter(|(_, records)| records.read)
        .filter_map(|(&(slot, piece), _)| Some(((slot, piece), reader.piece_prefix(slot, piece)?)))
        .collect();
    for ((slot, piece), prefix) in ready {
        let Some(mut records) = pieces.waiting.remove(&(slot, piece)) else {
            continue;
        };
        // A little more than the last piece held, as pieces vary a little in length.
        pieces.typical = records.records.len() + records.records.len() / 16;
        let mut watermark = PartitionWatermark::resumed(ooo, prefix.watermark);
        let count = records.records.len();
        // A new vector, never a grown one: growing would copy the events, or with none yet
        // the whole untouched room, which the kernel then pages in only to be copied.
        if judge.events.capacity() - judge.events.len() < count {
            let fresh = Vec::with_capacity(count.max(BATCH));
            let full = std::mem::replace(judge.events, fresh);
            if !full.is_empty() {
                judge.filled.push(full);
            }
        }
        let first = judge.events.len();
        let mut bytes = 0;
        for Waiting { at, len, decoded } in records.records.drain(..) {
            bytes += len as u64 + 1;
            let at = At {
                line: prefix.lines + at.line,
                ..at
            };
            let text = || {
                reader
                    .record_bytes(at.slot, at.offset, len)
                    .map(|bytes| String::from_utf8_lossy(bytes).into_owned())
                    .unwrap_or_default()
            };
            judge.judge(at, &text, decoded, &mut watermark, 0);
        }
        if pieces.spare.len() < SPARE_AT_MOST {
            pieces.spare.push(records.records);
        }
        // Pieces judged in file order are de-duplicated here, in that order.
        if let Some(dedup) = &judge.shared.source_dedup {
            let dropped = dedup.keep_first(read_frontier, judge.events, first, bytes);
            judge
                .shared
                .metrics
                .duplicates
                .fetch_add(dropped, Ordering::Relaxed);
        }
        reader.piece_handed_on(slot, piece);
    }
}

fn to_rejected<'a>(
    reader: &'a dyn WorkerSource,
    outputs: &'a [OutputPlan],
    entry: &'a Rejection,
) -> Rejected<'a> {
    let (slot, line, offset, raw, reason, output) = entry;
    Rejected {
        source: reader.label(*slot),
        partition: reader.partition_number(*slot),
        line: *line,
        offset: *offset,
        output: output.map(|i| outputs[i].name.as_str()),
        reason: reason.clone(),
        raw,
    }
}

fn raw_text(raw: &RawRecord<'_>) -> String {
    match raw {
        RawRecord::Line(bytes) => String::from_utf8_lossy(bytes).into_owned(),
        RawRecord::Row(row) => row.iter().collect::<Vec<_>>().join(","),
        RawRecord::BadRow(_) => String::new(),
    }
}

fn publish(shared: &Shared, tally: &Tally) {
    let m = &shared.metrics;
    if tally.read > 0 {
        m.mark_reading();
    }
    m.read.fetch_add(tally.read, Ordering::Relaxed);
    m.kept.fetch_add(tally.kept, Ordering::Relaxed);
    m.filtered.fetch_add(tally.filtered, Ordering::Relaxed);
    m.late.fetch_add(tally.late_records, Ordering::Relaxed);
    if !tally.dead.is_empty() {
        m.add_dead_letters(&tally.dead);
    }
    if !tally.late.is_empty() {
        m.add_late(&tally.late);
    }
}
