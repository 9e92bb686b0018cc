//! Dead letters and late records: rejected input, kept with its reason so nothing is lost.

use super::JsonlFile;
use serde::Serialize;
use std::sync::atomic::{AtomicU64, Ordering};

/// Where one rejected record came from and why it was rejected.
#[derive(Debug, Serialize)]
pub struct Rejected<'a> {
    /// Source URI or file.
    pub source: &'a str,
    /// Partition number.
    pub partition: usize,
    /// Line number in the partition (1-based).
    pub line: u64,
    /// Byte offset of the record in the partition.
    pub offset: u64,
    /// The output the record was too late for (late records only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output: Option<&'a str>,
    /// Why the record was rejected.
    pub reason: String,
    /// The record as read.
    pub raw: &'a str,
}

/// A JSONL destination for rejected records; without a file, the first few are logged.
pub struct RejectLog {
    what: &'static str,
    file: Option<JsonlFile>,
    logged: AtomicU64,
}

const LOGGED_WITHOUT_FILE: u64 = 10;

impl RejectLog {
    /// A log for `what` ("dead letter", "late record"), writing to `file` when given.
    pub fn new(what: &'static str, file: Option<JsonlFile>) -> RejectLog {
        RejectLog {
            what,
            file,
            logged: AtomicU64::new(0),
        }
    }

    /// Records a batch of rejected records.
    pub fn write(&self, batch: &[Rejected<'_>]) -> std::io::Result<()> {
        match &self.file {
            Some(file) => {
                let mut text = String::new();
                for rejected in batch {
                    text.push_str(&serde_json::to_string(rejected).map_err(std::io::Error::other)?);
                    text.push('\n');
                }
                file.append(&text).and_then(|()| file.flush())
            }
            None => {
                for r in batch {
                    if self.logged.fetch_add(1, Ordering::Relaxed) < LOGGED_WITHOUT_FILE {
                        tracing::warn!(
                            "{} {}:{} (partition {}, offset {}): {}",
                            self.what,
                            r.source,
                            r.line,
                            r.partition,
                            r.offset,
                            r.reason
                        );
                    }
                }
                Ok(())
            }
        }
    }

    /// Flushes the file, if any.
    pub fn flush(&self) -> std::io::Result<()> {
        self.file.as_ref().map_or(Ok(()), JsonlFile::flush)
    }
}
