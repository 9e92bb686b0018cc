//! Sources: where records come from, split into partitions that are each read in order.
//!
//! A source only produces raw records with their position; it never decodes them.

mod file;
mod generated;
mod kafka;
mod piece_reader;
mod pieces;

pub use file::{can_read_in_pieces, FileReader, FileSet};
pub use generated::{GenPartition, GenSet};
pub use kafka::{KafkaPartitions, KafkaUri, StartAt};
pub use pieces::{Prefix, SharedFiles, PIECE_BYTES};

use crate::plan::Format;
use std::path::{Path, PathBuf};
use thiserror::Error;

/// A source that cannot be opened.
#[derive(Debug, Error)]
pub enum SourceError {
    /// The URI is not one this build understands.
    #[error("`{0}` is not a source; allowed: file:PATH (a path or a glob, JSONL or CSV), kafka://HOST:PORT/TOPIC, gen:tweets|taxi|stocks?rate=N")]
    BadUri(String),
    /// A malformed generator URI.
    #[error("`{uri}` is not a generator source: {why}")]
    BadGenUri {
        /// The URI.
        uri: String,
        /// What is wrong.
        why: crate::gen::GenError,
    },
    /// A malformed Kafka URI.
    #[error(transparent)]
    BadKafkaUri(#[from] crate::uri::UriError),
    /// Kafka access settings that cannot work, or a refused login.
    #[error(transparent)]
    KafkaAccess(#[from] crate::kafka_access::AccessError),
    /// The Kafka cluster refused or could not be reached.
    #[error("{uri}: {message}")]
    Kafka {
        /// The source.
        uri: String,
        /// The client's error.
        message: String,
    },
    /// Sources of different kinds in one run.
    #[error("sources must all be files, all generators, or one Kafka topic")]
    Mixed,
    /// No such file.
    #[error("{0}: no such file")]
    Missing(String),
    /// A glob pattern that matches no file.
    #[error("{0}: no file matches this pattern")]
    NoMatch(String),
    /// A directory where a file was expected.
    #[error("{0}: is a directory, not a file (use a glob such as DIR/*.jsonl)")]
    Directory(String),
    /// The glob pattern is malformed.
    #[error("{pattern}: bad glob pattern: {message}")]
    BadGlob {
        /// The pattern.
        pattern: String,
        /// What is wrong.
        message: String,
    },
    /// A file exists but cannot be opened.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The error.
        source: std::io::Error,
    },
    /// Reading a file failed part way.
    #[error("{path}: cannot read at byte offset {offset}: {source}")]
    ReadFailed {
        /// The file.
        path: String,
        /// How many bytes were read before the failure.
        offset: u64,
        /// The error.
        source: std::io::Error,
    },
}

/// One raw record as a source read it.
pub enum RawRecord<'a> {
    /// A JSON document (a line of a file, or a message payload); may not be valid UTF-8.
    Line(&'a [u8]),
    /// A CSV row.
    Row(&'a csv::StringRecord),
    /// A CSV row that could not be read, with the reason.
    BadRow(String),
}

/// Where a partition stands, for deciding how far the frontier may move.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PartitionStatus {
    /// Records may follow; the partition holds the frontier at its watermark.
    Reading,
    /// The partition has never had a record and is at the end of its log: it holds nothing
    /// until a record arrives.
    Empty,
    /// The partition has ended (bounded input): it holds nothing, ever.
    Done,
    /// Read in pieces by every worker of the process: this worker holds the frontier at the
    /// lowest watermark a record it has yet to hand on can be judged against (`None`: none
    /// known yet, so it holds the frontier where it is).
    Pieces(Option<u64>),
}

/// Where a record was read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct At {
    /// The partition slot.
    pub slot: usize,
    /// The line number for files (within its piece, for a record of a piece), the offset
    /// for logs.
    pub line: u64,
    /// The byte offset for files, the offset for logs.
    pub offset: u64,
    /// The piece, for a partition read in pieces: its records are judged once the
    /// [`Prefix`] before the piece is known.
    pub piece: Option<usize>,
}

impl At {
    /// A record of a log, numbered by its offset.
    pub fn log(slot: usize, offset: u64) -> At {
        At {
            slot,
            line: offset,
            offset,
            piece: None,
        }
    }
}

/// The partitions of a source that one worker reads, each in order.
///
/// Partitions are numbered `0..partitions()` within the worker ("slots").
pub trait WorkerSource {
    /// How many partitions this worker reads.
    fn partitions(&self) -> usize;
    /// A name for a partition in messages (file path, `topic/partition`).
    fn label(&self, slot: usize) -> &str;
    /// The partition's number within its source.
    fn partition_number(&self, slot: usize) -> usize;
    /// The CSV header, for CSV partitions.
    fn csv_header(&self, slot: usize) -> Option<&csv::StringRecord>;
    /// Where the partition stands.
    fn status(&self, slot: usize) -> PartitionStatus;
    /// Since when a partition that had records has been at the end of its log (known to
    /// be, from the broker's offsets); `None` while it has records to read, or for sources
    /// that end instead (files).
    fn at_end_since(&self, _slot: usize) -> Option<std::time::Instant> {
        None
    }
    /// Reads up to `max` records per partition, calling `each` with where each was read.
    /// Returns the count read.
    fn read_batch(
        &mut self,
        max: usize,
        each: &mut dyn FnMut(At, RawRecord<'_>),
    ) -> Result<usize, SourceError>;
    /// The pieces, as `(slot, piece)`, whose reading ended since the last call (partitions
    /// read in pieces).
    fn ended_pieces(&mut self) -> Vec<(usize, usize)> {
        Vec::new()
    }
    /// Records the watermark the records of a read piece reach on their own, from none.
    fn piece_read(&mut self, _slot: usize, _piece: usize, _watermark: Option<u64>) {}
    /// The prefix of a piece, once every piece before it is read.
    fn piece_prefix(&self, _slot: usize, _piece: usize) -> Option<Prefix> {
        None
    }
    /// The records of a piece are handed on.
    fn piece_handed_on(&mut self, _slot: usize, _piece: usize) {}
    /// A record's bytes, for partitions read in pieces (whose rejections are judged after
    /// reading).
    fn record_bytes(&self, _slot: usize, _offset: u64, _len: usize) -> Option<&[u8]> {
        None
    }
    /// How far a partition is behind the end of its input, in [`WorkerSource::lag_unit`]s.
    fn lag(&self, slot: usize) -> u64;
    /// The position committed for a partition (offsets of logs; `None` for sources that
    /// commit nothing).
    fn committed(&self, _slot: usize) -> Option<u64> {
        None
    }
    /// The unit of [`WorkerSource::lag`] ("bytes" for files, "records" for logs).
    fn lag_unit(&self) -> &'static str;
    /// When nothing was read: how long to wait before trying again (`None`: never idle).
    fn wait_hint(&self) -> Option<std::time::Duration>;
    /// Registers the worker's source operator to wake when another worker's progress lets
    /// it read on (files read in pieces); other sources are looked at again after
    /// [`WorkerSource::wait_hint`].
    fn wake_on_progress(&self, _reader: timely::scheduling::SyncActivator) {}
    /// Where a partition resumes (restored from its committed position).
    fn resume(&self, _slot: usize) -> Resume {
        Resume::default()
    }
    /// Notes a read record: its offset (as given to `read_batch`), the frontier at which
    /// every result it touches is durable in the sinks (`done_at`), and its partition's
    /// watermark before it.
    fn track(&mut self, _record: Tracked) {}
    /// Everything results depend on below `durable` (`None`: everything) is written; sources
    /// that can, record how far they may resume from.
    fn commit_durable(&mut self, _durable: Option<u64>, _watermarks: &[Option<u64>]) {}
    /// Like [`Self::commit_durable`], at once and waiting for the commit (before a stop).
    fn commit_now(&mut self, _durable: Option<u64>, _watermarks: &[Option<u64>]) {}
}

/// What a partition resumes from after a restart.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Resume {
    /// Its watermark at the committed offset, so lateness is judged as before.
    pub watermark: Option<u64>,
    /// The durable frontier when the position was committed: windows final before it are
    /// already written, and re-read records must not touch them again.
    pub settled: u64,
}

/// A record whose position a source may commit once its results are durable.
#[derive(Clone, Copy, Debug)]
pub struct Tracked {
    /// The partition slot.
    pub slot: usize,
    /// The record's offset.
    pub offset: u64,
    /// The durable frontier at which it no longer matters.
    pub done_at: u64,
    /// The partition's watermark before the record.
    pub watermark_before: Option<u64>,
}

/// One independently ordered stream of records.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Partition {
    /// Global partition number (its position in the source listing).
    pub index: usize,
    /// The file.
    pub path: PathBuf,
    /// Its record format.
    pub format: Format,
}

/// The sources of a run, checked before any worker starts.
#[derive(Clone, Debug)]
pub enum Sources {
    /// File partitions, numbered in listing order, and those read in pieces by every worker
    /// of the process.
    Files(Vec<Partition>, SharedFiles),
    /// One Kafka topic.
    Kafka(KafkaUri),
    /// Generators, one partition each, producing events as they happen.
    Generated(Vec<GenPartition>),
}

impl Sources {
    /// Resolves source URIs: files are listed (and must exist), a Kafka topic must exist.
    /// `group` is the default consumer group. Files are read in pieces of [`PIECE_BYTES`]
    /// unless the caller sets other [`SharedFiles`].
    pub fn resolve(
        uris: &[String],
        format: Option<Format>,
        group: &str,
    ) -> Result<Sources, SourceError> {
        if let [uri] = uris {
            if uri.starts_with("kafka://") {
                let kafka = KafkaUri::parse(uri, group)?;
                if format == Some(Format::Csv) {
                    return Err(crate::uri::UriError {
                        uri: crate::uri::masked(uri),
                        what: "Kafka source",
                        why: "Kafka messages are read as JSON".into(),
                    }
                    .into());
                }
                kafka.check()?;
                return Ok(Sources::Kafka(kafka));
            }
        }
        if uris.iter().any(|u| u.starts_with("gen:")) {
            return uris
                .iter()
                .enumerate()
                .map(|(index, uri)| match uri.starts_with("gen:") {
                    true => GenPartition::parse(uri, index),
                    false => Err(SourceError::Mixed),
                })
                .collect::<Result<_, _>>()
                .map(Sources::Generated);
        }
        let mut all = Vec::new();
        for uri in uris {
            if uri.starts_with("kafka://") {
                return Err(SourceError::Mixed);
            }
            for mut partition in partitions(uri, format)? {
                partition.index = all.len();
                all.push(partition);
            }
        }
        Ok(Sources::Files(
            all,
            SharedFiles::new(PIECE_BYTES, true, false),
        ))
    }

    /// Opens this worker's share of the partitions; `local` workers run in each process.
    pub fn open(
        &self,
        worker: usize,
        peers: usize,
        local: usize,
    ) -> Result<Box<dyn WorkerSource>, SourceError> {
        Ok(match self {
            Sources::Files(all, shared) => {
                Box::new(FileSet::open(all, shared, worker, peers, local)?)
            }
            Sources::Kafka(uri) => Box::new(KafkaPartitions::open(uri, worker, peers)?),
            Sources::Generated(all) => Box::new(GenSet::open(all, worker, peers)),
        })
    }
}

/// Standard input as a `file:` path.
const STDIN: &str = "/dev/stdin";

/// Lists the partitions of a `file:` URI: one per file, globs sorted by path. `file:-` is
/// standard input. A path that exists is read as itself even when it holds glob characters
/// (`x[1].jsonl`); otherwise such a path is a pattern, which must match some file.
pub fn partitions(uri: &str, format: Option<Format>) -> Result<Vec<Partition>, SourceError> {
    let pattern = uri
        .strip_prefix("file:")
        .ok_or_else(|| SourceError::BadUri(uri.to_string()))?;
    let pattern = if pattern == "-" { STDIN } else { pattern };
    let literal = Path::new(pattern).exists();
    let paths: Vec<PathBuf> = if !literal && pattern.contains(['*', '?', '[']) {
        let mut found: Vec<PathBuf> = glob::glob(pattern)
            .map_err(|e| SourceError::BadGlob {
                pattern: pattern.to_string(),
                message: e.to_string(),
            })?
            .filter_map(Result::ok)
            .collect();
        found.sort();
        if found.is_empty() {
            return Err(SourceError::NoMatch(pattern.to_string()));
        }
        found
    } else {
        vec![PathBuf::from(pattern)]
    };
    paths
        .into_iter()
        .enumerate()
        .map(|(index, path)| {
            // Regular files, FIFOs, character devices and standard input are all read.
            match std::fs::metadata(&path) {
                Err(_) => return Err(SourceError::Missing(path.display().to_string())),
                Ok(meta) if meta.is_dir() => {
                    return Err(SourceError::Directory(path.display().to_string()))
                }
                Ok(_) => {}
            }
            let format = format.unwrap_or_else(|| format_of(&path));
            Ok(Partition {
                index,
                path,
                format,
            })
        })
        .collect()
}

fn format_of(path: &std::path::Path) -> Format {
    match path.extension().and_then(|e| e.to_str()) {
        Some(ext) if ext.eq_ignore_ascii_case("csv") => Format::Csv,
        _ => Format::Json,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_globbed_files_in_order() {
        let dir = tempfile::tempdir().expect("tempdir");
        for name in ["b.jsonl", "a.jsonl", "c.csv"] {
            std::fs::write(dir.path().join(name), "").expect("write");
        }
        let found = partitions(&format!("file:{}/*", dir.path().display()), None).expect("found");
        let names: Vec<_> = found
            .iter()
            .map(|p| p.path.file_name().expect("name").to_owned())
            .collect();
        assert_eq!(names, ["a.jsonl", "b.jsonl", "c.csv"]);
        assert_eq!(found[2].format, Format::Csv);
        assert!(matches!(
            partitions("file:/no/such/file.jsonl", None),
            Err(SourceError::Missing(_))
        ));
        assert!(matches!(
            partitions("kafka://x/y", None),
            Err(SourceError::BadUri(_))
        ));
        assert!(matches!(
            partitions(&format!("file:{}/*.nothing", dir.path().display()), None),
            Err(SourceError::NoMatch(_))
        ));
        assert!(matches!(
            partitions(&format!("file:{}", dir.path().display()), None),
            Err(SourceError::Directory(_))
        ));
    }

    #[test]
    fn an_existing_path_is_itself_even_with_glob_characters() {
        let dir = tempfile::tempdir().expect("tempdir");
        for name in ["x[1].jsonl", "x1.jsonl"] {
            std::fs::write(dir.path().join(name), "").expect("write");
        }
        let literal = format!("file:{}/x[1].jsonl", dir.path().display());
        let found = partitions(&literal, None).expect("found");
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].path.file_name().expect("name"), "x[1].jsonl");
        // Without the literal file, the same text is a pattern.
        std::fs::remove_file(dir.path().join("x[1].jsonl")).expect("remove");
        let found = partitions(&literal, None).expect("found");
        assert_eq!(found[0].path.file_name().expect("name"), "x1.jsonl");
        let stdin = partitions("file:-", None).expect("standard input");
        assert_eq!(stdin[0].path, Path::new(STDIN));
    }
}
