//! The source operator: reads this worker's partitions, decodes records, assigns event time
//! and arrival, and holds the frontier at the minimum of its partitions' watermarks.

use super::Shared;
use crate::decode::{CsvColumns, DecodeError, Decoded};
use crate::event::Event;
use crate::sink::Rejected;
use crate::source::{FileReader, Partition, RawRecord};
use crate::spec::OutputPlan;
use crate::time::{PartitionWatermark, WindowAssigner};
use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use timely::dataflow::operators::generic::operator::source;
use timely::dataflow::{Scope, Stream};

/// Records read per partition before the worker yields to downstream operators.
const BATCH: usize = 8192;

struct OpenPartition {
    label: String,
    index: usize,
    reader: FileReader,
    csv: Option<CsvColumns>,
    watermark: PartitionWatermark,
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

/// Builds the source operator for this worker: partition `i` is read by worker `i % peers`.
pub fn read_and_decode<'s>(
    scope: Scope<'s, u64>,
    shared: Arc<Shared>,
) -> Stream<'s, u64, Vec<Event>> {
    let worker = scope.index();
    let peers = scope.peers();
    source(scope, "ReadDecode", move |capability, info| {
        let activator = scope.activator_for(info.address);
        let ooo = shared.plan.time.max_out_of_orderness_ms;
        let mut open: Vec<OpenPartition> = shared
            .partitions
            .iter()
            .filter(|(_, p)| p.index % peers == worker)
            .filter_map(|(label, p)| open_partition(&shared, label, p, ooo))
            .collect();
        let assigners = WindowAssigner::for_outputs(&shared.plan);
        let mut capability = Some(capability);
        move |output| {
            let Some(cap) = capability.as_mut() else {
                return;
            };
            let mut events = Vec::with_capacity(BATCH);
            let mut tally = Tally::default();
            let mut bytes_before = 0;
            let mut bytes_after = 0;
            for partition in open.iter_mut().filter(|p| !p.reader.is_done()) {
                bytes_before += partition.reader.bytes_read();
                read_batch(&shared, partition, &assigners, &mut events, &mut tally);
                bytes_after += partition.reader.bytes_read();
            }
            if !events.is_empty() {
                output.session(&*cap).give_container(&mut events);
            }
            publish(&shared, &tally, bytes_after - bytes_before);
            let live: Vec<&OpenPartition> = open.iter().filter(|p| !p.reader.is_done()).collect();
            if live.is_empty() {
                shared.metrics.set_watermark(worker, None);
                capability = None;
                return;
            }
            if let Some(low) = live
                .iter()
                .map(|p| p.watermark.current())
                .collect::<Option<Vec<u64>>>()
                .and_then(|w| w.into_iter().min())
            {
                if low > *cap.time() {
                    cap.downgrade(&low);
                }
            }
            shared.metrics.set_watermark(worker, Some(*cap.time()));
            activator.activate();
        }
    })
}

fn open_partition(
    shared: &Shared,
    label: &str,
    partition: &Partition,
    ooo: u64,
) -> Option<OpenPartition> {
    match FileReader::open(partition) {
        Ok(reader) => {
            let csv = reader.csv_header().map(|header| {
                let columns = shared.decoder.csv_columns(header);
                let absent = columns.absent(shared.decoder.paths());
                if !absent.is_empty() {
                    tracing::warn!(
                        "{label}: no column for {}; those fields are missing in every row",
                        absent.join(", ")
                    );
                }
                columns
            });
            Some(OpenPartition {
                label: label.to_string(),
                index: partition.index,
                reader,
                csv,
                watermark: PartitionWatermark::new(ooo),
            })
        }
        Err(e) => {
            shared.fail(e.to_string());
            None
        }
    }
}

fn read_batch(
    shared: &Shared,
    partition: &mut OpenPartition,
    assigners: &[WindowAssigner],
    events: &mut Vec<Event>,
    tally: &mut Tally,
) {
    let mut dead = Vec::new();
    let mut late = Vec::new();
    let outputs = &shared.plan.outputs;
    let OpenPartition {
        label,
        index,
        reader,
        csv,
        watermark,
    } = partition;
    let result = reader.read_batch(BATCH, |line, offset, raw| {
        tally.read += 1;
        let decoded = match &raw {
            RawRecord::Line(bytes) => match std::str::from_utf8(bytes) {
                Ok(text) => shared.decoder.decode_json(text),
                Err(_) => Err(DecodeError::InvalidUtf8),
            },
            RawRecord::Row(row) => match csv {
                Some(columns) => shared.decoder.decode_csv(columns, row),
                None => Err(DecodeError::MalformedCsv("row outside a CSV file".into())),
            },
            RawRecord::BadRow(message) => Err(DecodeError::MalformedCsv(message.clone())),
        };
        let reject =
            |reason: String, output: Option<usize>| (line, offset, raw_text(&raw), reason, output);
        match decoded {
            Ok(Decoded::Filtered) => tally.filtered += 1,
            Err(e) => {
                *tally.dead.entry(e.kind()).or_default() += 1;
                dead.push(reject(e.to_string(), None));
            }
            Ok(Decoded::Kept { time, fields }) => {
                let arrival = watermark.observe(time);
                let mut counted = false;
                for (i, assigner) in assigners.iter().enumerate() {
                    if assigner.is_too_late(time, arrival) {
                        *tally.late.entry(outputs[i].name.clone()).or_default() += 1;
                        late.push(reject(
                            format!(
                                "every window of `{}` containing {} was final at watermark {}",
                                outputs[i].name,
                                crate::time::format_rfc3339_millis(time),
                                crate::time::format_rfc3339_millis(arrival)
                            ),
                            Some(i),
                        ));
                    } else {
                        counted = true;
                    }
                }
                if counted {
                    tally.kept += 1;
                    events.push(Event {
                        time,
                        arrival,
                        fields,
                    });
                } else {
                    tally.late_records += 1;
                }
            }
        }
    });
    if let Err(e) = result {
        shared.fail(format!(
            "{label}: read failed after line {}: {e}",
            tally.read
        ));
    }
    for (log, entries) in [(&shared.dead_letters, &dead), (&shared.late, &late)] {
        if entries.is_empty() {
            continue;
        }
        let batch: Vec<Rejected<'_>> = entries
            .iter()
            .map(|entry| to_rejected(label, *index, outputs, entry))
            .collect();
        if let Err(e) = log.write(&batch) {
            shared.fail(format!("cannot write rejected records: {e}"));
        }
    }
}

type Rejection = (u64, u64, String, String, Option<usize>);

fn to_rejected<'a>(
    label: &'a str,
    partition: usize,
    outputs: &'a [OutputPlan],
    entry: &'a Rejection,
) -> Rejected<'a> {
    let (line, offset, raw, reason, output) = entry;
    Rejected {
        source: label,
        partition,
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

fn publish(shared: &Shared, tally: &Tally, bytes: u64) {
    let m = &shared.metrics;
    m.read.fetch_add(tally.read, Ordering::Relaxed);
    m.kept.fetch_add(tally.kept, Ordering::Relaxed);
    m.filtered.fetch_add(tally.filtered, Ordering::Relaxed);
    m.late.fetch_add(tally.late_records, Ordering::Relaxed);
    m.bytes_read.fetch_add(bytes, Ordering::Relaxed);
    if !tally.dead.is_empty() {
        m.add_dead_letters(&tally.dead);
    }
    if !tally.late.is_empty() {
        m.add_late(&tally.late);
    }
}
