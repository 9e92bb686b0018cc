//! Generated sources: `gen:tweets|taxi|stocks?rate=N&...` for `tidemark run`, a live demo with
//! no services.
//!
//! Each `gen:` URI is one partition. Its events happen now: event time starts at the moment
//! the partition opens (unless `start` is given) and each event is handed on when its time
//! comes round, `rate` a second. Without `count` or `duration_s` it runs until stopped.

use super::{At, PartitionStatus, RawRecord, SourceError, WorkerSource};
use crate::gen::{GenKind, GenOptions, Generator};
use std::time::{Duration, Instant};

/// One generated partition, as named by its URI.
#[derive(Clone, Debug)]
pub struct GenPartition {
    /// Global partition number.
    pub index: usize,
    /// The URI, for messages.
    pub uri: String,
    /// What to generate.
    pub kind: GenKind,
    /// How.
    pub options: GenOptions,
    /// Whether `start` was given; otherwise event time starts when the partition opens.
    pub fixed_start: bool,
}

impl GenPartition {
    /// Parses `gen:KIND?NAME=VALUE&...` (the parameters `produce` takes).
    pub fn parse(uri: &str, index: usize) -> Result<GenPartition, SourceError> {
        let text = uri
            .strip_prefix("gen:")
            .ok_or_else(|| SourceError::BadUri(uri.to_string()))?;
        let parsed = GenOptions::parse_uri(text).map_err(|why| SourceError::BadGenUri {
            uri: uri.to_string(),
            why,
        })?;
        let mut options = parsed.options;
        if !parsed.count_given {
            options.count = u64::MAX;
        }
        Ok(GenPartition {
            index,
            uri: uri.to_string(),
            kind: parsed.kind,
            options,
            fixed_start: parsed.start_given,
        })
    }
}

/// A partition being generated.
struct Running {
    label: String,
    index: usize,
    generator: Generator,
    rate: u64,
    count: u64,
    opened: Instant,
    emitted: u64,
    line: String,
}

impl Running {
    /// How many events are due by now.
    fn due(&self) -> u64 {
        let elapsed = self.opened.elapsed().as_millis() as u64;
        (elapsed.saturating_mul(self.rate) / 1000 + 1).min(self.count)
    }

    fn is_done(&self) -> bool {
        self.emitted >= self.count
    }
}

/// The generated partitions one worker produces.
pub struct GenSet {
    partitions: Vec<Running>,
}

impl GenSet {
    /// Opens the partitions of `all` that belong to `worker` of `peers`.
    pub fn open(all: &[GenPartition], worker: usize, peers: usize) -> GenSet {
        let now_ms = chrono::Utc::now().timestamp_millis().max(0) as u64;
        let partitions = all
            .iter()
            .filter(|p| p.index % peers == worker)
            .map(|p| {
                let mut options = p.options.clone();
                if !p.fixed_start {
                    options.start_ms = now_ms;
                }
                Running {
                    label: p.uri.clone(),
                    index: p.index,
                    generator: Generator::new(p.kind, &options),
                    rate: options.rate.max(1),
                    count: options.count,
                    opened: Instant::now(),
                    emitted: 0,
                    line: String::with_capacity(1024),
                }
            })
            .collect();
        GenSet { partitions }
    }
}

impl WorkerSource for GenSet {
    fn partitions(&self) -> usize {
        self.partitions.len()
    }

    fn label(&self, slot: usize) -> &str {
        &self.partitions[slot].label
    }

    fn partition_number(&self, slot: usize) -> usize {
        self.partitions[slot].index
    }

    fn csv_header(&self, _slot: usize) -> Option<&csv::StringRecord> {
        None
    }

    fn status(&self, slot: usize) -> PartitionStatus {
        if self.partitions[slot].is_done() {
            PartitionStatus::Done
        } else {
            PartitionStatus::Reading
        }
    }

    fn read_batch(
        &mut self,
        max: usize,
        each: &mut dyn FnMut(At, RawRecord<'_>),
    ) -> Result<usize, SourceError> {
        let mut total = 0;
        for (slot, partition) in self.partitions.iter_mut().enumerate() {
            let due = partition.due();
            let mut read = 0;
            while partition.emitted < due && read < max {
                partition.line.clear();
                if !partition.generator.next_line(&mut partition.line) {
                    partition.count = partition.emitted;
                    break;
                }
                let offset = partition.emitted;
                partition.emitted += 1;
                let line = partition.line.trim_end().as_bytes();
                let at = At {
                    slot,
                    line: offset + 1,
                    offset,
                    piece: None,
                };
                each(at, RawRecord::Line(line));
                read += 1;
            }
            total += read;
        }
        Ok(total)
    }

    fn lag(&self, slot: usize) -> u64 {
        let partition = &self.partitions[slot];
        partition.due().saturating_sub(partition.emitted)
    }

    fn lag_unit(&self) -> &'static str {
        "records"
    }

    fn wait_hint(&self) -> Option<Duration> {
        let next = self
            .partitions
            .iter()
            .filter(|p| !p.is_done())
            .map(|p| {
                let next_ms = (p.emitted * 1000).div_ceil(p.rate);
                Duration::from_millis(next_ms).saturating_sub(p.opened.elapsed())
            })
            .min()?;
        Some(next.clamp(Duration::from_millis(1), Duration::from_millis(50)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bounded_partition_gives_count_events_paced_from_now_and_ends() {
        let partition = GenPartition::parse("gen:tweets?count=50&rate=100000", 0).expect("uri");
        assert!(!partition.fixed_start);
        let before = chrono::Utc::now().timestamp_millis() as u64;
        let mut set = GenSet::open(&[partition], 0, 1);
        let mut lines = Vec::new();
        while set.status(0) != PartitionStatus::Done {
            set.read_batch(7, &mut |at, raw| match raw {
                RawRecord::Line(bytes) => {
                    assert_eq!(at.line, at.offset + 1);
                    lines.push(String::from_utf8(bytes.to_vec()).expect("utf-8"));
                }
                RawRecord::Row(_) | RawRecord::BadRow(_) => panic!("lines only"),
            })
            .expect("read");
        }
        assert_eq!(lines.len(), 50);
        let first: serde_json::Value = serde_json::from_str(&lines[0]).expect("json");
        let created = first["data"]["created_at"].as_str().expect("time");
        let created = chrono::DateTime::parse_from_rfc3339(created).expect("rfc3339");
        assert!(
            created.timestamp_millis() as u64 >= before - 1000,
            "event time is now"
        );
    }

    #[test]
    fn unbounded_unless_told_and_names_bad_parameters() {
        let partition = GenPartition::parse("gen:taxi?rate=5", 3).expect("uri");
        assert_eq!(partition.options.count, u64::MAX);
        assert_eq!(partition.index, 3);
        let e = GenPartition::parse("gen:trains", 0).expect_err("bad");
        assert!(e.to_string().contains("tweets, taxi, stocks"), "{e}");
        let e = GenPartition::parse("gen:tweets?speed=3", 0).expect_err("bad");
        assert!(e.to_string().contains("unknown parameter `speed`"), "{e}");
    }
}
