//! One worker's part in reading a shared file: the pieces it claims, reads and hands on.

use super::pieces::{Piece, Prefix, SharedFile};
use super::{At, PartitionStatus, RawRecord};
use crate::decode::next_line;
use std::collections::BTreeMap;
use std::sync::Arc;
use timely::scheduling::SyncActivator;

/// How many pieces a worker may hold read but not handed on (waiting for the pieces before
/// them); it claims no more until one is handed on, so memory stays bounded when another
/// worker is slow.
const HELD_AT_MOST: usize = 4;

/// The piece being read: where the next line starts and how many lines came before it.
struct Reading {
    piece: Piece,
    at: u64,
    lines: u64,
}

/// A worker's reader of a shared file.
pub struct PieceReader {
    file: Arc<SharedFile>,
    /// Whether this worker reports the bytes nobody has claimed yet as its lag.
    lead: bool,
    reading: Option<Reading>,
    /// Pieces claimed and not yet handed on, with their line counts once read.
    held: BTreeMap<usize, (Piece, Option<u64>)>,
    /// Pieces read since [`PieceReader::take_ended`] was last called.
    ended: Vec<usize>,
}

impl PieceReader {
    /// A reader of `file`; `lead` reports the unclaimed bytes as lag.
    pub fn new(file: Arc<SharedFile>, lead: bool) -> PieceReader {
        PieceReader {
            file,
            lead,
            reading: None,
            held: BTreeMap::new(),
            ended: Vec::new(),
        }
    }

    /// Registers this worker's source operator to wake when the file's pieces move on.
    pub fn wake_on_progress(&self, reader: SyncActivator) {
        self.file.wake_on_progress(reader);
    }

    /// The file's path.
    pub fn label(&self) -> &str {
        &self.file.label
    }

    /// The file's partition number.
    pub fn index(&self) -> usize {
        self.file.index
    }

    /// Where this worker's part stands: done when nothing is left to claim and nothing it
    /// claimed is still held; otherwise it holds the frontier at the lowest watermark a
    /// record it has yet to hand on can be judged against.
    pub fn status(&self) -> PartitionStatus {
        if self.reading.is_none() && self.held.is_empty() && self.file.claimed_all() {
            return PartitionStatus::Done;
        }
        PartitionStatus::Pieces(self.file.lowest_from(self.held.keys().next().copied()))
    }

    /// Bytes behind: the rest of the piece being read, and for the lead worker the bytes
    /// nobody has claimed.
    pub fn lag(&self) -> u64 {
        let reading = self.reading.as_ref().map_or(0, |r| r.piece.end - r.at);
        reading + if self.lead { self.file.unclaimed() } else { 0 }
    }

    /// Whether this worker has nothing to read now: it holds as many pieces as it may, or
    /// every piece was claimed, while some it holds wait for the pieces before them.
    pub fn is_waiting(&self) -> bool {
        self.reading.is_none() && !self.held.is_empty()
    }

    /// Reads up to `max` records of the pieces this worker claims, to the end of a piece at
    /// most, calling `each` with the record's line within its piece.
    pub fn read_batch(
        &mut self,
        slot: usize,
        max: usize,
        each: &mut dyn FnMut(At, RawRecord<'_>),
    ) -> usize {
        let mut count = 0;
        while count < max {
            let reading = match &mut self.reading {
                Some(reading) => reading,
                None => {
                    if self.held.len() >= HELD_AT_MOST {
                        break;
                    }
                    let Some(piece) = self.file.claim() else {
                        break;
                    };
                    self.held.insert(piece.index, (piece, None));
                    self.reading.insert(Reading {
                        piece,
                        at: piece.start,
                        lines: 0,
                    })
                }
            };
            let bytes = &self.file.bytes()[reading.at as usize..reading.piece.end as usize];
            if bytes.is_empty() {
                let index = reading.piece.index;
                if let Some(held) = self.held.get_mut(&index) {
                    held.1 = Some(reading.lines);
                }
                self.ended.push(index);
                self.reading = None;
                // Back to the caller, which judges what became ready before reading on.
                break;
            }
            let (n, record) = next_line(bytes);
            let offset = reading.at;
            reading.at += n as u64;
            reading.lines += 1;
            let at = At {
                slot,
                line: reading.lines,
                offset,
                piece: Some(reading.piece.index),
            };
            if let Some(record) = record {
                each(at, RawRecord::Line(record));
                count += 1;
            }
        }
        count
    }

    /// The pieces read since the last call.
    pub fn take_ended(&mut self) -> Vec<usize> {
        std::mem::take(&mut self.ended)
    }

    /// Records the watermark the records of read piece `index` reach on their own (from
    /// none), so the pieces after it learn their prefix.
    pub fn summarize(&self, index: usize, watermark: Option<u64>) {
        if let Some((_, Some(lines))) = self.held.get(&index) {
            self.file.read(index, *lines, watermark);
        }
    }

    /// The prefix of piece `index`, once every piece before it is read.
    pub fn prefix(&self, index: usize) -> Option<Prefix> {
        self.file.prefix(index)
    }

    /// A record's bytes (for a rejection judged after its piece was read).
    pub fn bytes(&self, offset: u64, len: usize) -> &[u8] {
        let start = offset as usize;
        &self.file.bytes()[start..start + len]
    }

    /// The records of piece `index` are handed on: it is no longer held (its pages go back
    /// with those of the pieces around it, [`SharedFile::handed_on`]).
    pub fn handed_on(&mut self, index: usize) {
        if let Some((piece, _)) = self.held.remove(&index) {
            self.file.handed_on(&piece);
        }
    }
}
