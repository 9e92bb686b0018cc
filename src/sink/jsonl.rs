//! JSON-lines files (or standard output), shared by the workers of one process.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::sync::Mutex;

/// How a JSON-lines file is opened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileMode {
    /// Replace what is there: the run starts afresh (files, or Kafka from a given start).
    Truncate,
    /// Keep what is there and add to it: the run resumes from committed positions, so the
    /// file already holds the rows of windows that were final before the restart.
    Append,
}

/// A line-oriented writer that many workers append whole batches of lines to.
pub struct JsonlFile {
    out: Mutex<BufWriter<Box<dyn Write + Send>>>,
}

impl JsonlFile {
    /// Opens a file (truncating or appending), making its folder if needed.
    pub fn create(path: &Path, mode: FileMode) -> std::io::Result<JsonlFile> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)?;
        }
        let file = match mode {
            FileMode::Truncate => File::create(path)?,
            FileMode::Append => std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)?,
        };
        Ok(JsonlFile {
            out: Mutex::new(BufWriter::with_capacity(1 << 20, Box::new(file))),
        })
    }

    /// Standard output.
    pub fn stdout() -> JsonlFile {
        JsonlFile {
            out: Mutex::new(BufWriter::with_capacity(
                1 << 16,
                Box::new(std::io::stdout()),
            )),
        }
    }

    /// Appends text made of whole lines, atomically with respect to other workers.
    pub fn append(&self, lines: &str) -> std::io::Result<()> {
        let mut out = self
            .out
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        out.write_all(lines.as_bytes())
    }

    /// Pushes buffered lines to the file.
    pub fn flush(&self) -> std::io::Result<()> {
        self.out
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .flush()
    }
}

/// Rows spelled out and appended at a time: a batch of a firing can hold many thousands,
/// and their text need not all be in memory at once.
const APPEND_ROWS: usize = 4096;

impl super::RowSink for JsonlFile {
    fn offer(
        &self,
        rows: Vec<crate::aggregate::ResultRow>,
        _fired: std::time::Instant,
        format: &super::RowFormat,
    ) -> Result<super::Offer, super::SinkError> {
        // About the length of a row of a few columns: one allocation for most parts.
        let mut text = String::with_capacity(rows.len().min(APPEND_ROWS) * 128);
        for part in rows.chunks(APPEND_ROWS) {
            text.clear();
            format.write_all(part, &mut text);
            self.append(&text)?;
        }
        // Flushed as they fire, so an unbounded run's results reach readers promptly.
        self.flush()?;
        Ok(super::Offer::Written)
    }

    fn kind(&self) -> &'static str {
        "jsonl"
    }

    fn finish(&self) -> Result<(), super::SinkError> {
        Ok(self.flush()?)
    }
}
