//! Reading one file partition: JSON lines or CSV rows, with their line numbers.

use super::{Partition, PartitionStatus, RawRecord, SourceError, WorkerSource};
use crate::spec::Format;
use std::fs::File;
use std::io::{BufRead, BufReader};

enum Reader {
    Lines {
        input: BufReader<File>,
        buffer: Vec<u8>,
    },
    Csv {
        input: csv::Reader<File>,
        row: csv::StringRecord,
        header: csv::StringRecord,
    },
}

/// Reads a file partition in order.
pub struct FileReader {
    reader: Reader,
    size: u64,
    line: u64,
    bytes_read: u64,
    done: bool,
}

impl FileReader {
    /// Opens a partition.
    pub fn open(partition: &Partition) -> Result<FileReader, SourceError> {
        let io = |source| SourceError::Io {
            path: partition.path.display().to_string(),
            source,
        };
        let file = File::open(&partition.path).map_err(io)?;
        let size = file.metadata().map_err(io)?.len();
        let reader = match partition.format {
            Format::Json => Reader::Lines {
                input: BufReader::with_capacity(1 << 20, file),
                buffer: Vec::new(),
            },
            Format::Csv => {
                let mut input = csv::ReaderBuilder::new()
                    .has_headers(true)
                    .from_reader(file);
                let header = input
                    .headers()
                    .map_err(|e| io(std::io::Error::new(std::io::ErrorKind::InvalidData, e)))?
                    .clone();
                Reader::Csv {
                    input,
                    row: csv::StringRecord::new(),
                    header,
                }
            }
        };
        let line = u64::from(partition.format == Format::Csv);
        Ok(FileReader {
            reader,
            size,
            line,
            bytes_read: 0,
            done: false,
        })
    }

    /// The CSV header, for CSV partitions.
    pub fn csv_header(&self) -> Option<&csv::StringRecord> {
        match &self.reader {
            Reader::Csv { header, .. } => Some(header),
            Reader::Lines { .. } => None,
        }
    }

    /// Whether the end of the file was reached.
    pub fn is_done(&self) -> bool {
        self.done
    }

    /// Bytes consumed so far.
    pub fn bytes_read(&self) -> u64 {
        self.bytes_read
    }

    /// Reads up to `max` records, calling `each(line_number, byte_offset, record)`.
    /// Returns how many were read; an I/O error ends the partition.
    pub fn read_batch(
        &mut self,
        max: usize,
        mut each: impl FnMut(u64, u64, RawRecord<'_>),
    ) -> Result<usize, std::io::Error> {
        let mut count = 0;
        while count < max && !self.done {
            match &mut self.reader {
                Reader::Lines { input, buffer } => {
                    let offset = self.bytes_read;
                    // A whole line in the read buffer is used in place; one split across
                    // buffer refills is copied.
                    let available = input.fill_buf()?;
                    let (n, in_place) = match memchr::memchr(b'\n', available) {
                        Some(i) => (i + 1, true),
                        None => {
                            buffer.clear();
                            (input.read_until(b'\n', buffer)?, false)
                        }
                    };
                    if n == 0 {
                        self.done = true;
                        break;
                    }
                    self.bytes_read += n as u64;
                    self.line += 1;
                    let mut line = if in_place {
                        &input.buffer()[..n]
                    } else {
                        &buffer[..]
                    };
                    while let [rest @ .., b'\n' | b'\r'] = line {
                        line = rest;
                    }
                    if line.iter().all(u8::is_ascii_whitespace) {
                        if in_place {
                            input.consume(n);
                        }
                        continue;
                    }
                    each(self.line, offset, RawRecord::Line(line));
                    if in_place {
                        input.consume(n);
                    }
                }
                Reader::Csv { input, row, .. } => {
                    let result = input.read_record(row);
                    self.bytes_read = input.position().byte();
                    match result {
                        Ok(false) => {
                            self.done = true;
                            break;
                        }
                        Ok(true) => {
                            let (line, offset) = row
                                .position()
                                .map_or((self.line + 1, 0), |p| (p.line(), p.byte()));
                            self.line = line;
                            each(line, offset, RawRecord::Row(row));
                        }
                        Err(e) => {
                            if let csv::ErrorKind::Io(_) = e.kind() {
                                return Err(std::io::Error::other(e.to_string()));
                            }
                            let (line, offset) = e
                                .position()
                                .map_or((self.line + 1, 0), |p| (p.line(), p.byte()));
                            self.line = line;
                            each(line, offset, RawRecord::BadRow(e.to_string()));
                        }
                    }
                }
            }
            count += 1;
        }
        Ok(count)
    }
}

/// The file partitions one worker reads, visited in turn.
pub struct FileSet {
    files: Vec<(String, usize, FileReader)>,
}

impl FileSet {
    /// Opens the partitions of `all` that belong to `worker` of `peers` (partition `i` goes to
    /// worker `i mod peers`).
    pub fn open(all: &[Partition], worker: usize, peers: usize) -> Result<FileSet, SourceError> {
        let files = all
            .iter()
            .filter(|p| p.index % peers == worker)
            .map(|p| Ok((p.path.display().to_string(), p.index, FileReader::open(p)?)))
            .collect::<Result<_, SourceError>>()?;
        Ok(FileSet { files })
    }
}

impl WorkerSource for FileSet {
    fn partitions(&self) -> usize {
        self.files.len()
    }

    fn label(&self, slot: usize) -> &str {
        &self.files[slot].0
    }

    fn partition_number(&self, slot: usize) -> usize {
        self.files[slot].1
    }

    fn csv_header(&self, slot: usize) -> Option<&csv::StringRecord> {
        self.files[slot].2.csv_header()
    }

    fn status(&self, slot: usize) -> PartitionStatus {
        if self.files[slot].2.is_done() {
            PartitionStatus::Done
        } else {
            PartitionStatus::Reading
        }
    }

    fn read_batch(
        &mut self,
        max: usize,
        each: &mut dyn FnMut(usize, u64, u64, RawRecord<'_>),
    ) -> Result<usize, SourceError> {
        let mut total = 0;
        for (slot, (label, _, reader)) in self.files.iter_mut().enumerate() {
            if reader.is_done() {
                continue;
            }
            total += reader
                .read_batch(max, |line, offset, raw| each(slot, line, offset, raw))
                .map_err(|source| SourceError::Io {
                    path: label.clone(),
                    source,
                })?;
        }
        Ok(total)
    }

    fn lag(&self) -> u64 {
        self.files
            .iter()
            .map(|f| f.2.size.saturating_sub(f.2.bytes_read()))
            .sum()
    }

    fn lag_unit(&self) -> &'static str {
        "bytes"
    }

    fn wait_hint(&self) -> Option<std::time::Duration> {
        None
    }
}
