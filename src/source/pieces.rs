//! One file of JSON lines read by every worker of a process, in pieces.
//!
//! The file is mapped once per process and cut at line boundaries into pieces of about a
//! set size ([`PIECE_BYTES`] unless told), claimed in order by whichever worker is free. A record's lateness
//! depends on the watermark of everything before it in the file, so a worker decodes a piece
//! at once but judges its records only when every piece before it has been read: the
//! [`Prefix`] before a piece (the highest watermark of the pieces before it, and their line
//! count) is what a single reader of the whole file would have had there. The results are
//! those of reading the file as one partition, at any worker count.

use super::{Partition, SourceError};
use memmap2::{Advice, Mmap, UncheckedAdvice};
use std::collections::BTreeMap;
use std::fs::File;
use std::sync::{Arc, Mutex, MutexGuard};
use timely::scheduling::SyncActivator;

/// About how many bytes one piece holds by default (it ends at the first line end after
/// this).
pub const PIECE_BYTES: u64 = 1 << 20;

/// What is known before a piece: what a single reader of the whole file would have had there.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Prefix {
    /// The file's watermark before the piece (`None`: no record kept before it).
    pub watermark: Option<u64>,
    /// How many lines come before the piece.
    pub lines: u64,
}

/// A piece a worker claimed: its number and byte range.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Piece {
    /// Its number, counting from 0 at the start of the file.
    pub index: usize,
    /// Its first byte.
    pub start: u64,
    /// One past its last byte (just after a line end, or the end of the file).
    pub end: u64,
}

/// What reading a piece found, for the prefix of the pieces after it.
#[derive(Clone, Copy, Debug)]
struct Summary {
    /// The watermark the piece's own records reach, from none.
    watermark: Option<u64>,
    /// Its line count.
    lines: u64,
}

/// Which pieces were claimed and read.
struct Progress {
    /// Where the next piece starts.
    next_start: u64,
    /// How many pieces were claimed.
    claimed: usize,
    /// Pieces read whose earlier pieces are not all read yet.
    read: BTreeMap<usize, Summary>,
    /// `before[i]`: the prefix of piece `i`, for every piece whose earlier pieces are all read.
    before: Vec<Prefix>,
    /// Pieces handed on whose earlier pieces are not all handed on yet, with their ends.
    handed: BTreeMap<usize, u64>,
    /// How many pieces from the first were handed on.
    handed_through: usize,
    /// Where the pieces handed on from the first end.
    handed_end: u64,
    /// Where the bytes whose pages were not handed back start.
    released: u64,
}

/// How many bytes of the pieces handed on from the first collect before their pages are
/// handed back at once: each hand-back flushes the other cores' address translations, an
/// interrupt for every one of them, so it is done every few pieces rather than for each.
const RELEASE_EVERY: u64 = 2 << 20;

/// A file shared by the workers of a process.
pub struct SharedFile {
    /// The file's path, for messages.
    pub label: String,
    /// The file's partition number.
    pub index: usize,
    map: Mmap,
    piece_bytes: u64,
    /// Whether pieces are judged in file order, each after every piece before it was handed
    /// on (for de-duplication, which must meet a file's copies in order).
    in_order: bool,
    progress: Mutex<Progress>,
    /// The source operators reading the file, woken when a piece is read or handed on: a
    /// worker waiting for the pieces before its own reads on at once.
    readers: Mutex<Vec<SyncActivator>>,
}

impl std::fmt::Debug for SharedFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedFile")
            .field("label", &self.label)
            .field("bytes", &self.map.len())
            .finish()
    }
}

impl SharedFile {
    /// Maps a regular, non-empty file of JSON lines.
    fn open(
        partition: &Partition,
        piece_bytes: u64,
        in_order: bool,
    ) -> Result<SharedFile, SourceError> {
        let label = partition.path.display().to_string();
        let io = |source| SourceError::Io {
            path: label.clone(),
            source,
        };
        let file = File::open(&partition.path).map_err(io)?;
        // SAFETY: the map is only read, and input files must not be truncated while they
        // are read (see the `file` module).
        let map = unsafe { Mmap::map(&file) }.map_err(io)?;
        let _ = map.advise(Advice::Sequential);
        Ok(SharedFile {
            index: partition.index,
            map,
            piece_bytes: piece_bytes.max(1),
            in_order,
            progress: Mutex::new(Progress {
                next_start: 0,
                claimed: 0,
                read: BTreeMap::new(),
                before: vec![Prefix::default()],
                handed: BTreeMap::new(),
                handed_through: 0,
                handed_end: 0,
                released: 0,
            }),
            readers: Mutex::default(),
            label,
        })
    }

    fn progress(&self) -> MutexGuard<'_, Progress> {
        self.progress.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Registers a source operator reading the file, to wake when its pieces move on.
    pub fn wake_on_progress(&self, reader: SyncActivator) {
        self.readers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(reader);
    }

    /// Wakes the operators reading the file (one that has ended is no longer there).
    fn wake_readers(&self) {
        for reader in self
            .readers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
        {
            let _ = reader.activate();
        }
    }

    /// The file's bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.map
    }

    /// The file's size in bytes.
    pub fn size(&self) -> u64 {
        self.map.len() as u64
    }

    /// Claims the next piece, if any is left.
    pub fn claim(&self) -> Option<Piece> {
        let mut progress = self.progress();
        let start = progress.next_start;
        let size = self.size();
        if start >= size {
            return None;
        }
        let cut = start + self.piece_bytes;
        let end = if cut >= size {
            size
        } else {
            memchr::memchr(b'\n', &self.map[cut as usize - 1..]).map_or(size, |i| cut + i as u64)
        };
        let piece = Piece {
            index: progress.claimed,
            start,
            end,
        };
        progress.claimed += 1;
        progress.next_start = end;
        Some(piece)
    }

    /// Whether every piece was claimed.
    pub fn claimed_all(&self) -> bool {
        self.progress().next_start >= self.size()
    }

    /// Bytes not claimed yet.
    pub fn unclaimed(&self) -> u64 {
        self.size() - self.progress().next_start
    }

    /// Records what reading piece `index` found: its line count and the watermark its own
    /// records reach from none.
    pub fn read(&self, index: usize, lines: u64, watermark: Option<u64>) {
        self.note_read(index, lines, watermark);
        self.wake_readers();
    }

    fn note_read(&self, index: usize, lines: u64, watermark: Option<u64>) {
        let mut progress = self.progress();
        progress.read.insert(index, Summary { watermark, lines });
        loop {
            let next = progress.before.len() - 1;
            let Some(summary) = progress.read.remove(&next) else {
                break;
            };
            let last = progress.before[next];
            let watermark = match (last.watermark, summary.watermark) {
                (Some(a), Some(b)) => Some(a.max(b)),
                (a, b) => a.or(b),
            };
            progress.before.push(Prefix {
                watermark,
                lines: last.lines + summary.lines,
            });
        }
    }

    /// The prefix of piece `index`, once every piece before it is read (and handed on, when
    /// pieces are judged in file order).
    pub fn prefix(&self, index: usize) -> Option<Prefix> {
        let progress = self.progress();
        if self.in_order && progress.handed_through < index {
            return None;
        }
        progress.before.get(index).copied()
    }

    /// Records that `piece` was judged and handed on. Once the pieces handed on from the
    /// first reach [`RELEASE_EVERY`] bytes past those handed back (or the end of the file),
    /// their pages go back: their records are decoded and judged, and a rejected record's
    /// bytes were read when it was judged.
    pub fn handed_on(&self, piece: &Piece) {
        let (moved, release) = {
            let mut progress = self.progress();
            progress.handed.insert(piece.index, piece.end);
            let before = progress.handed_through;
            loop {
                let next = progress.handed_through;
                let Some(end) = progress.handed.remove(&next) else {
                    break;
                };
                progress.handed_through += 1;
                progress.handed_end = end;
            }
            let (from, to) = (progress.released, progress.handed_end);
            let release = (to - from >= RELEASE_EVERY || to == self.size()).then_some((from, to));
            if release.is_some() {
                progress.released = to;
            }
            (progress.handed_through > before, release)
        };
        if let Some((from, to)) = release {
            self.release(from, to);
        }
        if self.in_order && moved {
            self.wake_readers();
        }
    }

    /// The lowest watermark any record of piece `first` or later can be judged against:
    /// the prefix of `first`, or of the first piece not known yet if that comes earlier.
    pub fn lowest_from(&self, first: Option<usize>) -> Option<u64> {
        let progress = self.progress();
        let known = progress.before.len() - 1;
        progress.before[first.map_or(known, |f| f.min(known))].watermark
    }

    /// Hands the pages of bytes `from..to` back, so the process's resident memory does not
    /// grow with the file. The page `to` falls in is kept (unless `to` is the end of the
    /// file): its bytes after `to` are not handed on yet.
    fn release(&self, from: u64, to: u64) {
        const PAGE: u64 = 4096;
        let start = from / PAGE * PAGE;
        let end = if to == self.size() {
            to
        } else {
            to / PAGE * PAGE
        };
        if end <= start {
            return;
        }
        // SAFETY: the mapping is shared and read-only; a page handed back is only loaded
        // again if it is read again.
        let _ = unsafe {
            self.map.unchecked_advise_range(
                UncheckedAdvice::DontNeed,
                start as usize,
                (end - start) as usize,
            )
        };
    }
}

/// The files of a run read in pieces, opened once per process and shared by its workers.
#[derive(Clone, Debug)]
pub struct SharedFiles {
    piece_bytes: u64,
    enabled: bool,
    in_order: bool,
    open: Arc<Mutex<BTreeMap<usize, Arc<SharedFile>>>>,
}

impl SharedFiles {
    /// Files to be cut into pieces of about `piece_bytes` (none is unless `enabled`), judged
    /// in file order if `in_order`.
    pub fn new(piece_bytes: u64, enabled: bool, in_order: bool) -> SharedFiles {
        SharedFiles {
            piece_bytes,
            enabled,
            in_order,
            open: Arc::default(),
        }
    }

    /// Whether pieces are judged in file order.
    pub fn in_order(&self) -> bool {
        self.enabled && self.in_order
    }

    /// Whether files are read in pieces at all.
    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// The shared reading of `partition`, opened by the first worker that asks.
    pub fn get(&self, partition: &Partition) -> Result<Arc<SharedFile>, SourceError> {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(file) = open.get(&partition.index) {
            return Ok(Arc::clone(file));
        }
        let file = Arc::new(SharedFile::open(
            partition,
            self.piece_bytes,
            self.in_order,
        )?);
        open.insert(partition.index, Arc::clone(&file));
        Ok(file)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::Format;
    use std::io::Write;

    fn shared(text: &[u8], in_order: bool) -> (tempfile::NamedTempFile, SharedFile) {
        let mut file = tempfile::NamedTempFile::new().expect("temp file");
        file.write_all(text).expect("write");
        file.flush().expect("flush");
        let partition = Partition {
            index: 0,
            path: file.path().to_path_buf(),
            format: Format::Json,
        };
        let shared = SharedFile::open(&partition, PIECE_BYTES, in_order).expect("open");
        (file, shared)
    }

    /// Pieces cover the file without gaps, each ends just after a line end (the last at
    /// the end of the file), and each holds at least `PIECE_BYTES` unless it is the last.
    #[test]
    fn pieces_cover_the_file_at_line_ends() {
        let mut text = Vec::new();
        let mut n = 0;
        while text.len() < 3 * PIECE_BYTES as usize + 777 {
            text.extend_from_slice(
                format!("{{\"n\":{n},\"pad\":\"{}\"}}\n", "x".repeat(n % 97)).as_bytes(),
            );
            n += 1;
        }
        text.extend_from_slice(b"{\"last\":1}");
        let (_file, shared) = shared(&text, false);
        let mut at = 0;
        let mut pieces = Vec::new();
        while let Some(piece) = shared.claim() {
            assert_eq!(piece.start, at);
            assert_eq!(piece.index, pieces.len());
            if piece.end < shared.size() {
                assert_eq!(text[piece.end as usize - 1], b'\n');
                assert!(piece.end - piece.start >= PIECE_BYTES);
            }
            at = piece.end;
            pieces.push(piece);
        }
        assert_eq!(at, shared.size());
        assert!(shared.claimed_all());
        assert!(pieces.len() >= 3);
    }

    /// A prefix is known once every earlier piece is read, whatever the order they are
    /// read in; it holds the highest watermark before the piece and the lines before it.
    #[test]
    fn prefixes_follow_the_pieces_read_in_any_order() {
        let (_file, shared) = shared(b"{}\n", false);
        assert_eq!(shared.prefix(0), Some(Prefix::default()));
        shared.read(2, 5, Some(30));
        shared.read(1, 3, None);
        assert_eq!(shared.prefix(1), None);
        assert_eq!(shared.lowest_from(Some(2)), None);
        shared.read(0, 4, Some(50));
        let want = [(None, 0), (Some(50), 4), (Some(50), 7), (Some(50), 12)];
        for (i, (watermark, lines)) in want.into_iter().enumerate() {
            assert_eq!(
                shared.prefix(i),
                Some(Prefix { watermark, lines }),
                "piece {i}"
            );
        }
        assert_eq!(shared.prefix(4), None);
        assert_eq!(shared.lowest_from(Some(1)), Some(50));
        shared.read(3, 1, Some(70));
        assert_eq!(shared.lowest_from(None), Some(70));
    }

    /// Pages go back only for pieces handed on from the first, at least `RELEASE_EVERY`
    /// bytes at a time, and all of them once the last piece is handed on, in whatever order
    /// the pieces are handed on.
    #[test]
    fn pages_go_back_behind_the_pieces_handed_on_from_the_first() {
        let mut text = Vec::new();
        while text.len() < 6 * PIECE_BYTES as usize + PIECE_BYTES as usize / 2 {
            text.extend_from_slice(b"{\"pad\":\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"}\n");
        }
        let (_file, shared) = shared(&text, false);
        let pieces: Vec<Piece> = std::iter::from_fn(|| shared.claim()).collect();
        assert!(pieces.len() >= 6);
        let released = || shared.progress().released;
        let handed_end = || shared.progress().handed_end;
        let mut seen = Vec::new();
        // Out of order: 1, 3 and 2 wait for 0; then one piece, then the rest.
        for index in [1, 3, 2, 0, 4, 5].into_iter().chain(6..pieces.len()) {
            shared.handed_on(&pieces[index]);
            assert!(released() <= handed_end(), "after piece {index}");
            let step = released() - seen.last().copied().unwrap_or(0);
            if step > 0 && released() < shared.size() {
                assert!(step >= RELEASE_EVERY, "after piece {index}: {step} bytes");
            }
            seen.push(released());
        }
        assert_eq!(seen[..3], [0, 0, 0], "nothing before piece 0 is handed on");
        assert_eq!(seen[3], pieces[3].end, "pieces 0 to 3 at once");
        assert_eq!(seen[4], seen[3], "one piece more is less than a step");
        assert_eq!(seen[5], pieces[5].end, "two pieces more are a step");
        assert_eq!(released(), shared.size());
        assert_eq!(handed_end(), shared.size());
    }

    /// In file order, a piece's prefix waits until every piece before it was handed on.
    #[test]
    fn in_file_order_a_prefix_waits_for_the_pieces_before_to_be_handed_on() {
        let (_file, shared) = shared(b"{}\n", true);
        for piece in 0..3 {
            shared.read(piece, 1, Some(10 * piece as u64));
        }
        assert_eq!(shared.prefix(0).map(|p| p.lines), Some(0));
        assert_eq!(shared.prefix(2), None);
        let piece = |index| Piece {
            index,
            start: index as u64,
            end: index as u64 + 1,
        };
        shared.handed_on(&piece(1));
        assert_eq!(shared.prefix(1), None);
        shared.handed_on(&piece(0));
        assert_eq!(
            shared.prefix(2),
            Some(Prefix {
                watermark: Some(10),
                lines: 2
            })
        );
    }
}
