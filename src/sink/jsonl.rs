//! JSON-lines files (or standard output), shared by the workers of one process.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::sync::Mutex;

/// A line-oriented writer that many workers append whole batches of lines to.
pub struct JsonlFile {
    out: Mutex<BufWriter<Box<dyn Write + Send>>>,
}

impl JsonlFile {
    /// Creates (truncates) a file, making its folder if needed.
    pub fn create(path: &Path) -> std::io::Result<JsonlFile> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)?;
        }
        let file = File::create(path)?;
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
