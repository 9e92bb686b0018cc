//! The on-disk spool: where messages wait while no broker takes them.
//!
//! A spool directory holds append-only segment files `spool-<first seq>.log` (records framed
//! as [`framing`] says) and a `checkpoint` file ([`checkpoint`]). Records are read back in the order they were written; a segment is
//! deleted only once every record in it is acknowledged by the broker.
//!
//! Durability: appends go to the operating system at every checkpoint (a few times a
//! second) and are fsynced at least once a second and when a segment is closed, so killing
//! the producer loses nothing that was spooled; a machine crash can lose up to the last
//! second. A record that fails its checksum, or is cut short by a crash, is reported with its
//! segment and byte offset and skipped; reading resumes at the next intact record.

mod checkpoint;
mod framing;

pub use checkpoint::Checkpoint;
pub use framing::Record;

use framing::{frame, parse_at};
use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use thiserror::Error;

/// A segment is closed once it holds this many bytes.
const SEGMENT_BYTES: u64 = 64 << 20;
const SYNC_EVERY: Duration = Duration::from_secs(1);

/// A spool directory that cannot be used.
#[derive(Debug, Error)]
pub enum SpoolError {
    /// Another producer holds its lock.
    #[error("spool {} is in use by another producer", .0.display())]
    InUse(PathBuf),
    /// The directory or a segment cannot be created, listed or read.
    #[error("spool {}: {what}: {source}", dir.display())]
    Io {
        /// The spool directory.
        dir: PathBuf,
        /// What was being done.
        what: &'static str,
        /// Why it failed.
        source: std::io::Error,
    },
}

/// A damaged stretch of a segment that reading skipped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Damage {
    /// The segment file.
    pub segment: PathBuf,
    /// Byte offset where the damage starts.
    pub offset: u64,
    /// Bytes skipped.
    pub skipped: u64,
    /// What was wrong.
    pub reason: &'static str,
}

impl std::fmt::Display for Damage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "spool segment {} at byte offset {}: {}; skipped {} bytes to the next intact record",
            self.segment.display(),
            self.offset,
            self.reason,
            self.skipped
        )
    }
}

struct Segment {
    path: PathBuf,
    first_seq: u64,
    bytes: u64,
}

/// Reads records back from a segment, in memory, resuming where it stopped.
struct Cursor {
    segment: usize,
    data: Vec<u8>,
    pos: usize,
    file: File,
}

/// A spool directory, open for appending and reading back.
pub struct Spool {
    dir: PathBuf,
    segments: VecDeque<Segment>,
    writer: Option<BufWriter<File>>,
    reader: Option<Cursor>,
    /// Skip records below this sequence number when reading.
    read_from: u64,
    last_sync: Instant,
    next_seq: u64,
    last_seq: Option<u64>,
    _lock: File,
}

/// Makes the directory's entries (a new or renamed file) durable.
fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

fn segment_name(first_seq: u64) -> String {
    format!("spool-{first_seq:020}.log")
}

impl Spool {
    /// Opens (creating) a spool directory and locks it against a second producer.
    pub fn open(dir: &Path) -> Result<Spool, SpoolError> {
        let fail = |what: &'static str, source: std::io::Error| SpoolError::Io {
            dir: dir.to_path_buf(),
            what,
            source,
        };
        std::fs::create_dir_all(dir).map_err(|e| fail("cannot create it", e))?;
        let lock = File::create(dir.join("lock")).map_err(|e| fail("cannot lock it", e))?;
        lock.try_lock()
            .map_err(|_| SpoolError::InUse(dir.to_path_buf()))?;
        let mut segments = Vec::new();
        for entry in std::fs::read_dir(dir).map_err(|e| fail("cannot list it", e))? {
            let entry = entry.map_err(|e| fail("cannot list it", e))?;
            let name = entry.file_name().to_string_lossy().to_string();
            let Some(first_seq) = name
                .strip_prefix("spool-")
                .and_then(|n| n.strip_suffix(".log"))
                .and_then(|n| n.parse::<u64>().ok())
            else {
                continue;
            };
            let bytes = entry.metadata().map(|m| m.len()).unwrap_or(0);
            segments.push(Segment {
                path: entry.path(),
                first_seq,
                bytes,
            });
        }
        segments.sort_by_key(|s| s.first_seq);
        let mut last_seq = None;
        for segment in segments.iter().rev() {
            let data = std::fs::read(&segment.path).map_err(|e| fail("cannot read it", e))?;
            let mut pos = 0;
            while pos < data.len() {
                match parse_at(&data, pos) {
                    Ok((record, end)) => {
                        last_seq = Some(record.seq);
                        pos = end;
                    }
                    Err(_) => pos += 1,
                }
            }
            if last_seq.is_some() {
                break;
            }
        }
        Ok(Spool {
            dir: dir.to_path_buf(),
            segments: segments.into(),
            writer: None,
            reader: None,
            read_from: 0,
            last_sync: Instant::now(),
            next_seq: last_seq.map_or(0, |s| s + 1),
            last_seq,
            _lock: lock,
        })
    }

    /// The saved checkpoint, if any.
    pub fn checkpoint(&self) -> Option<Checkpoint> {
        let text = std::fs::read_to_string(self.dir.join("checkpoint")).ok()?;
        Checkpoint::parse(&text)
    }

    /// Saves a checkpoint after handing every append to the operating system, so it never
    /// claims more than the segments hold. Replaces the old one atomically and durably: the
    /// new file is fsynced before it is renamed into place and the directory after, so a
    /// machine crash leaves the old checkpoint or the new one, never an empty file.
    pub fn save_checkpoint(&mut self, checkpoint: &Checkpoint) -> std::io::Result<()> {
        self.flush()?;
        let tmp = self.dir.join("checkpoint.tmp");
        {
            let mut file = File::create(&tmp)?;
            file.write_all(checkpoint.to_text().as_bytes())?;
            file.sync_all()?;
        }
        std::fs::rename(tmp, self.dir.join("checkpoint"))?;
        sync_dir(&self.dir)?;
        if self.last_sync.elapsed() >= SYNC_EVERY {
            self.sync()?;
        }
        Ok(())
    }

    /// The sequence number of the last record spooled (including by an earlier run).
    pub fn last_seq(&self) -> Option<u64> {
        self.last_seq
    }

    /// Whether no segment is left.
    pub fn is_empty(&self) -> bool {
        self.segments.is_empty()
    }

    /// Bytes held in segments.
    pub fn bytes(&self) -> u64 {
        self.segments.iter().map(|s| s.bytes).sum()
    }

    /// Appends one record. Its sequence number must be above every one spooled before.
    pub fn append(&mut self, record: &Record) -> std::io::Result<()> {
        let frame = frame(record);
        let needs_segment = self.writer.is_none()
            || self
                .segments
                .back()
                .is_none_or(|s| s.bytes + frame.len() as u64 > SEGMENT_BYTES);
        if needs_segment {
            self.start_segment(record.seq)?;
        }
        let writer = self.writer.as_mut().expect("a segment is open");
        writer.write_all(&frame)?;
        if let Some(segment) = self.segments.back_mut() {
            segment.bytes += frame.len() as u64;
        }
        self.next_seq = record.seq + 1;
        self.last_seq = Some(record.seq);
        Ok(())
    }

    fn start_segment(&mut self, first_seq: u64) -> std::io::Result<()> {
        if let Some(mut old) = self.writer.take() {
            old.flush()?;
            old.get_ref().sync_data()?;
        }
        // A segment left empty by a producer killed just after creating it starts where
        // this one does: it is reopened, never registered twice (a second entry for one file
        // would let `release` delete the file while it still holds records).
        if let Some(last) = self.segments.back().filter(|s| s.first_seq == first_seq) {
            let file = OpenOptions::new().append(true).open(&last.path)?;
            self.writer = Some(BufWriter::with_capacity(1 << 20, file));
            return Ok(());
        }
        let path = self.dir.join(segment_name(first_seq));
        let file = OpenOptions::new().create(true).append(true).open(&path)?;
        self.writer = Some(BufWriter::with_capacity(1 << 20, file));
        self.segments.push_back(Segment {
            path,
            first_seq,
            bytes: 0,
        });
        sync_dir(&self.dir)?;
        Ok(())
    }

    /// Hands buffered appends to the operating system.
    pub fn flush(&mut self) -> std::io::Result<()> {
        match &mut self.writer {
            Some(writer) => writer.flush(),
            None => Ok(()),
        }
    }

    /// Makes every append durable (fsync of the open segment).
    pub fn sync(&mut self) -> std::io::Result<()> {
        self.last_sync = Instant::now();
        match &mut self.writer {
            Some(writer) => {
                writer.flush()?;
                writer.get_ref().sync_data()
            }
            None => Ok(()),
        }
    }

    /// Makes reading start again at the first record with a sequence number of at least
    /// `seq` (the oldest one not acknowledged).
    pub fn rewind(&mut self, seq: u64) {
        self.reader = None;
        self.read_from = seq;
    }

    /// The next record to send, `Ok(None)` once everything spooled has been read. Damaged
    /// stretches are passed to `damaged` and skipped.
    pub fn read(&mut self, damaged: &mut impl FnMut(Damage)) -> std::io::Result<Option<Record>> {
        loop {
            if self.reader.is_none() {
                let Some(index) = self.segment_to_read() else {
                    return Ok(None);
                };
                self.flush()?;
                let file = File::open(&self.segments[index].path)?;
                self.reader = Some(Cursor {
                    segment: index,
                    data: Vec::new(),
                    pos: 0,
                    file,
                });
            }
            let is_last = self
                .reader
                .as_ref()
                .is_some_and(|r| r.segment + 1 == self.segments.len());
            if is_last {
                self.flush()?;
            }
            let cursor = self.reader.as_mut().expect("reader");
            if cursor.pos == cursor.data.len() {
                cursor.data.clear();
                cursor.pos = 0;
                let mut more = Vec::new();
                cursor.file.read_to_end(&mut more)?;
                cursor.data = more;
            }
            let path = &self.segments[cursor.segment].path;
            match next_record(cursor, path, damaged) {
                Some(record) if record.seq < self.read_from => continue,
                Some(record) => {
                    self.read_from = record.seq + 1;
                    return Ok(Some(record));
                }
                None if is_last => return Ok(None),
                None => {
                    let next = cursor.segment + 1;
                    let file = File::open(&self.segments[next].path)?;
                    *cursor = Cursor {
                        segment: next,
                        data: Vec::new(),
                        pos: 0,
                        file,
                    };
                }
            }
        }
    }

    /// The first segment that may hold records at or above `read_from`.
    fn segment_to_read(&self) -> Option<usize> {
        if self.segments.is_empty() {
            return None;
        }
        let after = self
            .segments
            .iter()
            .position(|s| s.first_seq > self.read_from)
            .unwrap_or(self.segments.len());
        Some(after.saturating_sub(1))
    }

    /// Deletes the segments whose records are all below `acked` (acknowledged). With
    /// `everything_read`, the spool is drained: the open segment goes too.
    pub fn release(&mut self, acked: u64, everything_read: bool) -> std::io::Result<()> {
        while self.segments.len() > 1 && self.segments[1].first_seq <= acked {
            self.remove_first()?;
        }
        if everything_read && self.segments.len() == 1 && acked >= self.next_seq {
            self.writer = None;
            self.remove_first()?;
        }
        Ok(())
    }

    fn remove_first(&mut self) -> std::io::Result<()> {
        if let Some(segment) = self.segments.pop_front() {
            std::fs::remove_file(&segment.path)?;
        }
        match &mut self.reader {
            Some(cursor) if cursor.segment == 0 => self.reader = None,
            Some(cursor) => cursor.segment -= 1,
            None => {}
        }
        Ok(())
    }
}

/// Parses the record at the cursor, skipping damage; `None` at the end of the data.
fn next_record(
    cursor: &mut Cursor,
    path: &Path,
    damaged: &mut impl FnMut(Damage),
) -> Option<Record> {
    let data = &cursor.data;
    let start = cursor.pos;
    let mut pos = start;
    let mut reason = None;
    while pos < data.len() {
        match parse_at(data, pos) {
            Ok((record, end)) => {
                if let Some(reason) = reason {
                    damaged(Damage {
                        segment: path.to_path_buf(),
                        offset: start as u64,
                        skipped: (pos - start) as u64,
                        reason,
                    });
                }
                cursor.pos = end;
                return Some(record);
            }
            Err(why) => {
                reason.get_or_insert(why);
                pos += 1;
            }
        }
    }
    if let Some(reason) = reason {
        damaged(Damage {
            segment: path.to_path_buf(),
            offset: start as u64,
            skipped: (data.len() - start) as u64,
            reason,
        });
    }
    cursor.pos = data.len();
    None
}

#[cfg(test)]
mod tests {
    use super::framing::{BODY_FIXED, HEADER};
    use super::*;

    fn record(seq: u64) -> Record {
        Record {
            seq,
            timestamp_ms: 1_700_000_000_000 + seq as i64,
            key: seq
                .is_multiple_of(2)
                .then(|| format!("k{seq}").into_bytes()),
            payload: format!("{{\"n\": {seq}}}").into_bytes(),
        }
    }

    fn read_all(spool: &mut Spool) -> (Vec<Record>, Vec<Damage>) {
        let mut damage = Vec::new();
        let mut out = Vec::new();
        while let Some(r) = spool.read(&mut |d| damage.push(d)).expect("read") {
            out.push(r);
        }
        (out, damage)
    }

    #[test]
    fn records_come_back_in_order_while_appending_continues() {
        let dir = tempfile::tempdir().expect("dir");
        let mut spool = Spool::open(dir.path()).expect("open");
        for seq in 0..100 {
            spool.append(&record(seq)).expect("append");
        }
        let (first, _) = read_all(&mut spool);
        for seq in 100..150 {
            spool.append(&record(seq)).expect("append");
        }
        let (second, damage) = read_all(&mut spool);
        assert!(damage.is_empty());
        let all: Vec<Record> = first.into_iter().chain(second).collect();
        assert_eq!(all, (0..150).map(record).collect::<Vec<_>>());
    }

    #[test]
    fn an_empty_segment_left_by_a_kill_is_reopened_not_registered_twice() {
        let dir = tempfile::tempdir().expect("dir");
        for name in ["spool-3.log".to_string(), segment_name(3)] {
            let _ = std::fs::remove_dir_all(dir.path());
            {
                let mut spool = Spool::open(dir.path()).expect("open");
                for seq in 0..3 {
                    spool.append(&record(seq)).expect("append");
                }
                spool.flush().expect("flush");
            }
            // Killed just after creating the next segment.
            std::fs::write(dir.path().join(&name), b"").expect("empty segment");
            {
                let mut spool = Spool::open(dir.path()).expect("reopen");
                spool.append(&record(3)).expect("append");
                spool.release(3, false).expect("release");
                spool.append(&record(4)).expect("append");
                spool.flush().expect("flush");
            }
            let mut spool = Spool::open(dir.path()).expect("reopen");
            spool.rewind(3);
            let (read, damage) = read_all(&mut spool);
            assert!(damage.is_empty(), "{name}: {damage:?}");
            assert_eq!(read, (3..5).map(record).collect::<Vec<_>>(), "{name}");
        }
    }

    #[test]
    fn a_reopened_spool_reads_from_the_acknowledged_point() {
        let dir = tempfile::tempdir().expect("dir");
        {
            let mut spool = Spool::open(dir.path()).expect("open");
            for seq in 10..20 {
                spool.append(&record(seq)).expect("append");
            }
            let checkpoint = Checkpoint {
                sources: "file:x".into(),
                base: 10,
                resolved: 10,
                acked: 14,
            };
            spool.save_checkpoint(&checkpoint).expect("checkpoint");
        }
        let mut spool = Spool::open(dir.path()).expect("reopen");
        let checkpoint = spool.checkpoint().expect("saved");
        assert_eq!((checkpoint.base, checkpoint.acked), (10, 14));
        spool.rewind(checkpoint.acked);
        let (read, _) = read_all(&mut spool);
        assert_eq!(read, (14..20).map(record).collect::<Vec<_>>());
    }

    #[test]
    fn a_second_producer_cannot_open_a_spool_in_use() {
        let dir = tempfile::tempdir().expect("dir");
        let _first = Spool::open(dir.path()).expect("open");
        let second = Spool::open(dir.path()).err().expect("refused");
        assert!(second.to_string().contains("in use"), "{second}");
    }

    #[test]
    fn a_corrupted_record_is_reported_with_its_offset_and_skipped() {
        let dir = tempfile::tempdir().expect("dir");
        let path;
        {
            let mut spool = Spool::open(dir.path()).expect("open");
            for seq in 0..10 {
                spool
                    .append(&Record {
                        key: Some(b"k".to_vec()),
                        ..record(seq)
                    })
                    .expect("append");
            }
            spool.flush().expect("flush");
            path = spool.segments[0].path.clone();
        }
        let mut bytes = std::fs::read(&path).expect("read");
        // Records 0..10 all have the same length; flip a payload byte of record 3.
        let record_len = bytes.len() / 10;
        bytes[3 * record_len + HEADER + BODY_FIXED + 3] ^= 0xff;
        std::fs::write(&path, &bytes).expect("write");

        let mut spool = Spool::open(dir.path()).expect("reopen");
        let (read, damage) = read_all(&mut spool);
        let seqs: Vec<u64> = read.iter().map(|r| r.seq).collect();
        assert_eq!(seqs, vec![0, 1, 2, 4, 5, 6, 7, 8, 9]);
        assert_eq!(damage.len(), 1, "{damage:?}");
        assert_eq!(damage[0].offset, 3 * record_len as u64);
        assert_eq!(damage[0].skipped, record_len as u64);
        assert_eq!(damage[0].reason, "checksum mismatch");
        assert!(damage[0]
            .to_string()
            .contains(&format!("byte offset {}", 3 * record_len)));
    }

    #[test]
    fn a_torn_last_record_is_reported_and_the_rest_reads() {
        let dir = tempfile::tempdir().expect("dir");
        let path;
        {
            let mut spool = Spool::open(dir.path()).expect("open");
            for seq in 0..5 {
                spool.append(&record(seq)).expect("append");
            }
            spool.flush().expect("flush");
            path = spool.segments[0].path.clone();
        }
        let len = std::fs::metadata(&path).expect("metadata").len();
        let file = OpenOptions::new().write(true).open(&path).expect("open");
        file.set_len(len - 7).expect("truncate");
        let mut spool = Spool::open(dir.path()).expect("reopen");
        let (read, damage) = read_all(&mut spool);
        assert_eq!(read.len(), 4);
        assert_eq!(damage.len(), 1);
        assert_eq!(damage[0].reason, "record cut short (a torn write)");
    }

    #[test]
    fn acknowledged_segments_are_deleted_and_a_drained_spool_is_empty() {
        let dir = tempfile::tempdir().expect("dir");
        let mut spool = Spool::open(dir.path()).expect("open");
        spool.append(&record(0)).expect("append");
        spool.start_segment(1).expect("segment");
        spool.append(&record(1)).expect("append");
        spool.append(&record(2)).expect("append");
        let (read, _) = read_all(&mut spool);
        assert_eq!(read.len(), 3);
        spool.release(1, false).expect("release");
        assert_eq!(spool.segments.len(), 1);
        spool.release(2, true).expect("release");
        assert_eq!(spool.segments.len(), 1, "record 2 is not acknowledged yet");
        spool.release(3, true).expect("release");
        assert!(spool.is_empty());
        let left = std::fs::read_dir(dir.path())
            .expect("list")
            .filter(|e| {
                e.as_ref()
                    .is_ok_and(|e| e.file_name().to_string_lossy().ends_with(".log"))
            })
            .count();
        assert_eq!(left, 0);
        spool.append(&record(3)).expect("append after draining");
        assert_eq!(read_all(&mut spool).0, vec![record(3)]);
    }
}
