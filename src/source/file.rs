//! Reading one file partition: JSON lines or CSV rows, with their line numbers.
//!
//! A regular file of JSON lines is memory-mapped and its lines are handed on in place: no
//! copy from the kernel's page cache into a read buffer, which costs as much as finding the
//! lines. (So an input file must not be truncated while it is read, as with any mapped file;
//! appending is harmless, but what is appended after the file was opened is not read.)
//! Anything else that is not CSV (a pipe, a device, standard input) is read through a
//! buffer, without blocking: when it has nothing to give yet, the worker goes on with the
//! rest of the dataflow (windows still fire, a stop is still heard) and looks again soon.

use super::piece_reader::PieceReader;
use super::pieces::SharedFiles;
use super::{At, Partition, PartitionStatus, Prefix, RawRecord, SourceError, WorkerSource};
use crate::decode::{next_line, record_of_line};
use crate::plan::Format;
use memmap2::{Advice, Mmap, UncheckedAdvice};
use std::fs::File;
use std::io::{BufRead, BufReader};

/// How much of a mapped file is read before its pages are handed back, so that the
/// process's resident memory does not grow with the file; a multiple of every page size.
const RELEASE_EVERY: usize = 8 << 20;

enum Reader {
    /// JSON lines of a regular file, read in place; `at` is where the next line starts, and
    /// the pages before `released` were handed back.
    Mapped {
        map: Mmap,
        at: usize,
        released: usize,
    },
    /// JSON lines of anything else, read without blocking: a line whole in the read buffer
    /// is used in place; the start of one split across reads is kept in `partial`.
    Lines {
        input: BufReader<File>,
        partial: Vec<u8>,
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
    waiting: bool,
}

/// Makes reads from `file` return `WouldBlock` instead of waiting for data. (Set after the
/// open, which for a FIFO waits for a writer: a FIFO opened without blocking reads as ended
/// until one comes.)
fn set_nonblocking(file: &File) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    let fd = file.as_raw_fd();
    // SAFETY: `fd` is an open descriptor owned by `file` for the duration of both calls;
    // F_GETFL and F_SETFL only read and set its status flags.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    if flags < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: as above.
    if unsafe { libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK) } < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

impl FileReader {
    /// Opens a partition.
    pub fn open(partition: &Partition) -> Result<FileReader, SourceError> {
        let io = |source| SourceError::Io {
            path: partition.path.display().to_string(),
            source,
        };
        let file = File::open(&partition.path).map_err(io)?;
        let metadata = file.metadata().map_err(io)?;
        let size = metadata.len();
        let reader = match partition.format {
            Format::Json if metadata.is_file() && size > 0 => {
                // SAFETY: the map is only read, and the module's contract is that input
                // files are not truncated while they are read (see the module doc).
                let map = unsafe { Mmap::map(&file) }.map_err(io)?;
                // Only a hint: the lines are read front to back, once.
                let _ = map.advise(Advice::Sequential);
                Reader::Mapped {
                    map,
                    at: 0,
                    released: 0,
                }
            }
            Format::Json => {
                set_nonblocking(&file).map_err(io)?;
                Reader::Lines {
                    input: BufReader::with_capacity(1 << 20, file),
                    partial: Vec::new(),
                }
            }
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
            waiting: false,
        })
    }

    /// The CSV header, for CSV partitions.
    pub fn csv_header(&self) -> Option<&csv::StringRecord> {
        match &self.reader {
            Reader::Csv { header, .. } => Some(header),
            Reader::Mapped { .. } | Reader::Lines { .. } => None,
        }
    }

    /// Whether the end of the file was reached.
    pub fn is_done(&self) -> bool {
        self.done
    }

    /// Whether the last read found no data ready yet (a pipe or device still open).
    pub fn is_waiting(&self) -> bool {
        self.waiting
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
                Reader::Mapped { map, at, released } => {
                    if *at - *released >= RELEASE_EVERY {
                        let end = *at / RELEASE_EVERY * RELEASE_EVERY;
                        // SAFETY: every line before `at` was handed on and is no longer
                        // borrowed, so nothing refers to these pages; the mapping is shared
                        // and read-only, so reading them again would only load them again.
                        let _ = unsafe {
                            map.unchecked_advise_range(
                                UncheckedAdvice::DontNeed,
                                *released,
                                end - *released,
                            )
                        };
                        *released = end;
                    }
                    let rest = &map[*at..];
                    let (n, record) = next_line(rest);
                    if n == 0 {
                        self.done = true;
                        break;
                    }
                    let offset = self.bytes_read;
                    *at += n;
                    self.bytes_read += n as u64;
                    self.line += 1;
                    let line = self.line;
                    let Some(record) = record else {
                        continue;
                    };
                    each(line, offset, RawRecord::Line(record));
                }
                Reader::Lines { input, partial } => {
                    let available = match input.fill_buf() {
                        Ok(available) => available,
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                            self.waiting = true;
                            break;
                        }
                        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                        Err(e) => return Err(e),
                    };
                    self.waiting = false;
                    if available.is_empty() {
                        // The end: a last line without a line ending is still a line.
                        self.done = true;
                        if partial.is_empty() {
                            break;
                        }
                        let offset = self.bytes_read - partial.len() as u64;
                        self.line += 1;
                        let line = self.line;
                        let offered = offer_line(partial, &mut |raw| each(line, offset, raw));
                        partial.clear();
                        if !offered {
                            break;
                        }
                        count += 1;
                        break;
                    }
                    let Some(end) = memchr::memchr(b'\n', available) else {
                        partial.extend_from_slice(available);
                        let n = available.len();
                        input.consume(n);
                        self.bytes_read += n as u64;
                        continue;
                    };
                    let n = end + 1;
                    let offset = self.bytes_read - partial.len() as u64;
                    self.bytes_read += n as u64;
                    self.line += 1;
                    let line = self.line;
                    let offered = if partial.is_empty() {
                        let offered =
                            offer_line(&available[..n], &mut |raw| each(line, offset, raw));
                        input.consume(n);
                        offered
                    } else {
                        partial.extend_from_slice(&available[..n]);
                        input.consume(n);
                        let offered = offer_line(partial, &mut |raw| each(line, offset, raw));
                        partial.clear();
                        offered
                    };
                    if !offered {
                        continue;
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

/// Hands `line` (with its line ending) on as a record, unless it is blank; false when blank.
fn offer_line(line: &[u8], each: &mut impl FnMut(RawRecord<'_>)) -> bool {
    match record_of_line(line) {
        Some(record) => {
            each(RawRecord::Line(record));
            true
        }
        None => false,
    }
}

/// One partition a worker reads: a whole file, or its part of a file read in pieces.
enum Slot {
    Whole {
        label: String,
        index: usize,
        reader: FileReader,
    },
    Pieces(PieceReader),
}

/// The file partitions one worker reads, visited in turn.
pub struct FileSet {
    slots: Vec<Slot>,
}

/// Whether a partition can be read in pieces: a regular, non-empty file of JSON lines.
pub fn can_read_in_pieces(partition: &Partition) -> bool {
    partition.format == Format::Json
        && std::fs::metadata(&partition.path).is_ok_and(|m| m.is_file() && m.len() > 0)
}

/// Whether a partition is read in pieces by every worker of a process: one that can be, when
/// a process runs more than one worker and pieces are enabled.
fn in_pieces(partition: &Partition, shared: &SharedFiles, local: usize) -> bool {
    local > 1 && shared.enabled() && can_read_in_pieces(partition)
}

impl FileSet {
    /// Opens the partitions of `all` that belong to `worker` of `peers`, `local` of them in
    /// each process. A file read in pieces belongs to every worker of process `i mod
    /// processes`; any other partition `i` to worker `i mod peers`.
    pub fn open(
        all: &[Partition],
        shared: &SharedFiles,
        worker: usize,
        peers: usize,
        local: usize,
    ) -> Result<FileSet, SourceError> {
        let local = local.max(1);
        let (process, processes) = (worker / local, (peers / local).max(1));
        let mut slots = Vec::new();
        for p in all {
            if in_pieces(p, shared, local) {
                if p.index % processes == process {
                    let lead = worker % local == p.index % local;
                    slots.push(Slot::Pieces(PieceReader::new(shared.get(p)?, lead)));
                }
            } else if p.index % peers == worker {
                slots.push(Slot::Whole {
                    label: p.path.display().to_string(),
                    index: p.index,
                    reader: FileReader::open(p)?,
                });
            }
        }
        Ok(FileSet { slots })
    }

    fn pieces(&self, slot: usize) -> Option<&PieceReader> {
        match &self.slots[slot] {
            Slot::Pieces(reader) => Some(reader),
            Slot::Whole { .. } => None,
        }
    }
}

impl WorkerSource for FileSet {
    fn partitions(&self) -> usize {
        self.slots.len()
    }

    fn label(&self, slot: usize) -> &str {
        match &self.slots[slot] {
            Slot::Whole { label, .. } => label,
            Slot::Pieces(reader) => reader.label(),
        }
    }

    fn partition_number(&self, slot: usize) -> usize {
        match &self.slots[slot] {
            Slot::Whole { index, .. } => *index,
            Slot::Pieces(reader) => reader.index(),
        }
    }

    fn csv_header(&self, slot: usize) -> Option<&csv::StringRecord> {
        match &self.slots[slot] {
            Slot::Whole { reader, .. } => reader.csv_header(),
            Slot::Pieces(_) => None,
        }
    }

    fn status(&self, slot: usize) -> PartitionStatus {
        match &self.slots[slot] {
            Slot::Whole { reader, .. } if reader.is_done() => PartitionStatus::Done,
            Slot::Whole { .. } => PartitionStatus::Reading,
            Slot::Pieces(reader) => reader.status(),
        }
    }

    fn read_batch(
        &mut self,
        max: usize,
        each: &mut dyn FnMut(At, RawRecord<'_>),
    ) -> Result<usize, SourceError> {
        let mut total = 0;
        for (slot, state) in self.slots.iter_mut().enumerate() {
            match state {
                Slot::Whole { reader, .. } if reader.is_done() => {}
                Slot::Whole { label, reader, .. } => {
                    let read = reader.read_batch(max, |line, offset, raw| {
                        let at = At {
                            slot,
                            line,
                            offset,
                            piece: None,
                        };
                        each(at, raw)
                    });
                    total += read.map_err(|source| SourceError::ReadFailed {
                        path: label.clone(),
                        offset: reader.bytes_read(),
                        source,
                    })?;
                }
                Slot::Pieces(reader) => total += reader.read_batch(slot, max, each),
            }
        }
        Ok(total)
    }

    fn ended_pieces(&mut self) -> Vec<(usize, usize)> {
        let mut ended = Vec::new();
        for (slot, state) in self.slots.iter_mut().enumerate() {
            match state {
                Slot::Pieces(reader) => {
                    ended.extend(reader.take_ended().into_iter().map(|piece| (slot, piece)))
                }
                Slot::Whole { .. } => {}
            }
        }
        ended
    }

    fn piece_read(&mut self, slot: usize, piece: usize, watermark: Option<u64>) {
        if let Some(reader) = self.pieces(slot) {
            reader.summarize(piece, watermark);
        }
    }

    fn piece_prefix(&self, slot: usize, piece: usize) -> Option<Prefix> {
        self.pieces(slot).and_then(|reader| reader.prefix(piece))
    }

    fn piece_handed_on(&mut self, slot: usize, piece: usize) {
        match &mut self.slots[slot] {
            Slot::Pieces(reader) => reader.handed_on(piece),
            Slot::Whole { .. } => {}
        }
    }

    fn record_bytes(&self, slot: usize, offset: u64, len: usize) -> Option<&[u8]> {
        self.pieces(slot).map(|reader| reader.bytes(offset, len))
    }

    fn lag(&self, slot: usize) -> u64 {
        match &self.slots[slot] {
            Slot::Whole { reader, .. } => reader.size.saturating_sub(reader.bytes_read()),
            Slot::Pieces(reader) => reader.lag(),
        }
    }

    fn lag_unit(&self) -> &'static str {
        "bytes"
    }

    fn wake_on_progress(&self, reader: timely::scheduling::SyncActivator) {
        for slot in &self.slots {
            match slot {
                Slot::Pieces(pieces) => pieces.wake_on_progress(reader.clone()),
                Slot::Whole { .. } => {}
            }
        }
    }

    fn wait_hint(&self) -> Option<std::time::Duration> {
        // A pipe is looked at again in a while; a piece waits for another worker, which
        // wakes this one when it reads or hands a piece on (looked at again in a while too).
        self.slots
            .iter()
            .filter_map(|slot| match slot {
                Slot::Whole { reader, .. } => reader
                    .is_waiting()
                    .then_some(std::time::Duration::from_millis(5)),
                Slot::Pieces(reader) => reader
                    .is_waiting()
                    .then_some(std::time::Duration::from_millis(5)),
            })
            .min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    /// A JSON-lines partition of `file`.
    fn json_partition(file: &tempfile::NamedTempFile) -> Partition {
        Partition {
            index: 0,
            path: file.path().to_path_buf(),
            format: Format::Json,
        }
    }

    /// Every record of a reader as (line number, byte offset, bytes), read in small batches.
    fn records(mut reader: FileReader) -> Vec<(u64, u64, Vec<u8>)> {
        let mut out = Vec::new();
        while !reader.is_done() {
            reader
                .read_batch(7, |line, offset, raw| match raw {
                    RawRecord::Line(bytes) => out.push((line, offset, bytes.to_vec())),
                    _ => panic!("JSON lines give lines"),
                })
                .expect("read");
        }
        out
    }

    /// A mapped file and the same file read through a buffer give the same lines, numbers
    /// and offsets: blank lines skipped, CR LF endings, a last line without an ending, and
    /// more than one release of mapped pages.
    #[test]
    fn mapped_and_buffered_lines_agree() {
        let mut file = tempfile::NamedTempFile::new().expect("temp file");
        let mut want_lines = 0;
        let mut written = 0;
        let mut n = 0u64;
        while written < 2 * RELEASE_EVERY + 12_345 {
            let line = match n % 5 {
                0 => "\n".to_string(),
                1 => format!(
                    "{{\"n\":{n},\"pad\":\"{}\"}}\r\n",
                    "x".repeat((n % 300) as usize)
                ),
                2 => "   \t \n".to_string(),
                _ => format!("{{\"n\":{n}}}\n"),
            };
            want_lines += usize::from(n % 5 == 1 || n % 5 >= 3);
            written += line.len();
            file.write_all(line.as_bytes()).expect("write");
            n += 1;
        }
        file.write_all(b"{\"last\":true}").expect("write");
        want_lines += 1;
        file.flush().expect("flush");
        let partition = json_partition(&file);
        let mapped = FileReader::open(&partition).expect("open");
        assert!(matches!(mapped.reader, Reader::Mapped { .. }));
        let mut buffered = FileReader::open(&partition).expect("open");
        buffered.reader = Reader::Lines {
            input: BufReader::with_capacity(4096, File::open(file.path()).expect("open")),
            partial: Vec::new(),
        };
        let (mapped, buffered) = (records(mapped), records(buffered));
        assert_eq!(mapped.len(), want_lines);
        assert_eq!(mapped, buffered);
        let text = std::fs::read(file.path()).expect("read back");
        let line_starts: Vec<usize> = std::iter::once(0)
            .chain(memchr::memchr_iter(b'\n', &text).map(|i| i + 1))
            .collect();
        for (line, offset, bytes) in &mapped {
            let at = *offset as usize;
            assert_eq!(&text[at..at + bytes.len()], &bytes[..], "line {line}");
            assert_eq!(line_starts[*line as usize - 1], at, "line {line}");
        }
        assert_eq!(
            mapped.last().map(|r| &r.2[..]),
            Some(&b"{\"last\":true}"[..])
        );
    }

    /// An empty file is read through a buffer (nothing to map) and ends at once.
    #[test]
    fn empty_file_ends_at_once() {
        let file = tempfile::NamedTempFile::new().expect("temp file");
        let reader = FileReader::open(&json_partition(&file)).expect("open");
        assert!(matches!(reader.reader, Reader::Lines { .. }));
        assert!(records(reader).is_empty());
    }
}
