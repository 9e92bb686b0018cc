//! A JSON document's structure as bit masks, one word per 64 bytes: where its unescaped
//! quotes, its backslashes and its control bytes (below 0x20) are, and which brackets lie
//! outside strings; and where its first non-ASCII byte's block starts, so that UTF-8
//! validation can skip the ASCII prefix.
//!
//! Built in one pass with 16-byte vector compares (SSE2, part of every x86_64; a byte loop
//! elsewhere) and the carry tricks of simdjson's first stage, it lets the walker find a
//! string's end or a skipped container's end with a few bit operations per 64 bytes instead
//! of a byte scan per string.

/// The masks of one 64-byte block; bit `i` stands for byte `64 * block + i`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Block {
    /// Quotes not escaped by a backslash: every string's opening and closing quote.
    quotes: u64,
    /// Backslashes, escaped or not.
    backslashes: u64,
    /// Bytes below 0x20 (control characters, which JSON allows in strings only escaped).
    controls: u64,
    /// `{` and `[` outside strings.
    opens: u64,
    /// `}` and `]` outside strings.
    closes: u64,
}

/// The structure of one document; reused from document to document.
#[derive(Default)]
pub(super) struct StructureIndex {
    blocks: Vec<Block>,
    /// The first block holding a byte of 0x80 or above (`blocks.len()` when none does).
    first_non_ascii: usize,
}

impl StructureIndex {
    /// Indexes `bytes`, replacing what was indexed before.
    pub fn build(&mut self, bytes: &[u8]) {
        self.build_to::<false>(bytes);
    }

    /// Indexes the line `bytes` starts with: up to its first `\n`, or all of `bytes` when none
    /// comes. Returns the line's length, the newline left out. The index is the one
    /// [`Self::build`] makes of the line, found in the same pass as the line's end.
    pub fn build_line(&mut self, bytes: &[u8]) -> usize {
        self.build_to::<true>(bytes)
    }

    /// Indexes `bytes`, or with `LINE` its first line; returns the length indexed.
    #[inline(always)]
    fn build_to<const LINE: bool>(&mut self, bytes: &[u8]) -> usize {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the processor has AVX2, checked just above.
            return unsafe { self.build_avx2::<LINE>(bytes) };
        }
        self.build_with::<LINE>(bytes, raw_masks)
    }

    /// [`Self::build_to`] with 32-byte compares.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    fn build_avx2<const LINE: bool>(&mut self, bytes: &[u8]) -> usize {
        self.build_with::<LINE>(bytes, |block| raw_masks_avx2(block))
    }

    /// Indexes `bytes` a block at a time with `raw`, which classifies one block's bytes;
    /// with `LINE` it stops at the first newline, cutting that block's masks there so that
    /// no bit stands for a byte past the line. Returns the length indexed.
    #[inline(always)]
    fn build_with<const LINE: bool>(
        &mut self,
        bytes: &[u8],
        raw: impl Fn(&[u8; 64]) -> RawMasks,
    ) -> usize {
        self.blocks.clear();
        if !LINE {
            self.blocks.reserve(bytes.len().div_ceil(64));
        }
        let mut escape_carry = 0u64;
        let mut in_string_carry = 0u64;
        let mut first_non_ascii = None;
        let mut push = |blocks: &mut Vec<Block>, raw: RawMasks| {
            if raw.non_ascii != 0 && first_non_ascii.is_none() {
                first_non_ascii = Some(blocks.len());
            }
            // Most blocks hold no backslash, and then escape nothing.
            let escaped = if raw.backslashes == 0 && escape_carry == 0 {
                0
            } else {
                escaped_bytes(raw.backslashes, &mut escape_carry)
            };
            let quotes = raw.quotes & !escaped;
            // Bits from each opening quote up to (not including) its closing quote.
            let in_string = prefix_xor(quotes) ^ in_string_carry;
            in_string_carry = ((in_string as i64) >> 63) as u64;
            blocks.push(Block {
                quotes,
                backslashes: raw.backslashes,
                controls: raw.controls,
                opens: raw.opens & !in_string,
                closes: raw.closes & !in_string,
            });
        };
        let mut at = 0;
        let indexed = loop {
            let padded;
            let block: &[u8; 64] = match bytes.get(at..at + 64) {
                Some(block) => block.try_into().expect("64 bytes"),
                None if at >= bytes.len() => break bytes.len(),
                None => {
                    let mut tail = [b' '; 64];
                    tail[..bytes.len() - at].copy_from_slice(&bytes[at..]);
                    padded = tail;
                    &padded
                }
            };
            if LINE {
                // The lines after this one: a page ahead, where the processor's own
                // prefetching, which stops at page boundaries, has not reached yet.
                crate::prefetch::prefetch(bytes.as_ptr().wrapping_add(at + AHEAD));
            }
            let mut masks = raw(block);
            // A newline is a control byte, and most blocks hold none.
            if LINE && masks.controls != 0 {
                if let Some(newline) = first_newline(block, masks.controls) {
                    if newline > 0 {
                        masks.cut(newline);
                        push(&mut self.blocks, masks);
                    }
                    break at + newline;
                }
            }
            push(&mut self.blocks, masks);
            at += 64;
        };
        self.first_non_ascii = first_non_ascii.unwrap_or(self.blocks.len());
        indexed
    }

    /// Where the part of the document that may hold non-ASCII bytes starts: the start of
    /// the first 64-byte block holding one (the document's length when it is all ASCII).
    /// Everything before it is ASCII, so it ends on a character boundary.
    #[inline]
    pub fn non_ascii_from(&self, len: usize) -> usize {
        (self.first_non_ascii * 64).min(len)
    }

    /// The position of the first unescaped quote at or after `from`.
    #[inline]
    pub fn next_quote(&self, from: usize) -> Option<usize> {
        let mut block = from / 64;
        let mut bits = self.blocks.get(block)?.quotes & (!0u64 << (from % 64));
        while bits == 0 {
            block += 1;
            bits = self.blocks.get(block)?.quotes;
        }
        Some(block * 64 + bits.trailing_zeros() as usize)
    }

    /// Whether a backslash lies in `from..to`.
    #[inline(always)]
    pub fn has_backslash(&self, from: usize, to: usize) -> bool {
        self.first_in(from, to, |b| b.backslashes).is_some()
    }

    /// The first control byte (below 0x20) in `from..to`.
    #[inline(always)]
    pub fn first_control(&self, from: usize, to: usize) -> Option<usize> {
        self.first_in(from, to, |b| b.controls)
    }

    /// The first position in `from..to` whose bit is set in the mask `of` picks.
    #[inline(always)]
    fn first_in(&self, from: usize, to: usize, of: impl Fn(&Block) -> u64) -> Option<usize> {
        if to <= from {
            return None;
        }
        let (first, last) = (from / 64, (to - 1) / 64);
        // Bits from `from` on in the first block, and up to `to` in the last.
        let head = !0u64 << (from % 64);
        let tail = !0u64 >> (63 - (to - 1) % 64);
        if first == last {
            // Most strings are short: one block, one mask.
            let bits = of(&self.blocks[first]) & head & tail;
            return (bits != 0).then(|| first * 64 + bits.trailing_zeros() as usize);
        }
        (first..=last).find_map(|block| {
            let mut bits = of(&self.blocks[block]);
            if block == first {
                bits &= head;
            }
            if block == last {
                bits &= tail;
            }
            (bits != 0).then(|| block * 64 + bits.trailing_zeros() as usize)
        })
    }

    /// The position just past the bracket that closes the one at `open`, counting brackets
    /// outside strings; `None` when the document ends first.
    #[inline]
    pub fn container_end(&self, open: usize) -> Option<usize> {
        self.close_from(open, 0)
    }

    /// The position just past the bracket that closes the container `from` lies inside
    /// (`from` itself not being a bracket); `None` when the document ends first.
    #[inline]
    pub fn enclosing_end(&self, from: usize) -> Option<usize> {
        self.close_from(from, 1)
    }

    /// The position just past the closing bracket that leaves `depth` open containers behind,
    /// counting brackets outside strings from `start` on.
    #[inline]
    fn close_from(&self, start: usize, mut depth: u32) -> Option<usize> {
        let mut block = start / 64;
        let from = !0u64 << (start % 64);
        loop {
            let Block { opens, closes, .. } = *self.blocks.get(block)?;
            let (mut opens, mut closes) = (opens, closes);
            if block == start / 64 {
                opens &= from;
                closes &= from;
            }
            if closes.count_ones() < depth {
                // Fewer closing brackets than open ones: the container goes on past here.
                depth = depth + opens.count_ones() - closes.count_ones();
            } else {
                let mut brackets = opens | closes;
                while brackets != 0 {
                    let bit = brackets.trailing_zeros();
                    if opens & (1u64 << bit) != 0 {
                        depth += 1;
                    } else {
                        depth -= 1;
                        if depth == 0 {
                            return Some(block * 64 + bit as usize + 1);
                        }
                    }
                    brackets &= brackets - 1;
                }
            }
            block += 1;
        }
    }
}

/// Byte classes of one 64-byte block, before escapes and strings are taken into account.
struct RawMasks {
    quotes: u64,
    backslashes: u64,
    controls: u64,
    opens: u64,
    closes: u64,
    /// Bytes of 0x80 and above.
    non_ascii: u64,
}

impl RawMasks {
    /// Keeps the bits of the bytes before `len` only.
    #[inline]
    fn cut(&mut self, len: usize) {
        let keep = (1u64 << len) - 1;
        self.quotes &= keep;
        self.backslashes &= keep;
        self.controls &= keep;
        self.opens &= keep;
        self.closes &= keep;
        self.non_ascii &= keep;
    }
}

/// How far past the block being indexed a line's indexing asks for the bytes to come: lines
/// are read front to back from memory they were never in cache from, and the processor's
/// own prefetching does not cross into the next page.
const AHEAD: usize = 4096;

/// The position of the first `\n` in `block`, given the block's control bytes.
#[inline]
fn first_newline(block: &[u8; 64], mut controls: u64) -> Option<usize> {
    while controls != 0 {
        let at = controls.trailing_zeros() as usize;
        if block[at] == b'\n' {
            return Some(at);
        }
        controls &= controls - 1;
    }
    None
}

/// Classifies one block's bytes with 16-byte compares.
#[cfg(target_arch = "x86_64")]
#[inline]
fn raw_masks(block: &[u8; 64]) -> RawMasks {
    // SAFETY: SSE2 is part of every x86_64 processor.
    unsafe { raw_masks_sse2(block) }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "sse2")]
#[inline]
fn raw_masks_sse2(block: &[u8; 64]) -> RawMasks {
    use std::arch::x86_64::{
        __m128i, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_max_epu8, _mm_movemask_epi8, _mm_or_si128,
        _mm_set1_epi8,
    };
    let mut masks = RawMasks {
        quotes: 0,
        backslashes: 0,
        controls: 0,
        opens: 0,
        closes: 0,
        non_ascii: 0,
    };
    // With SSE2 enabled its intrinsics are safe to call; only the loads read memory.
    let quote = _mm_set1_epi8(b'"' as i8);
    let backslash = _mm_set1_epi8(b'\\' as i8);
    // `[` and `]` differ from `{` and `}` only in bit 5.
    let bit5 = _mm_set1_epi8(0x20);
    let open = _mm_set1_epi8(b'{' as i8);
    let close = _mm_set1_epi8(b'}' as i8);
    // A byte is below 0x20 when its unsigned maximum with 0x1F is 0x1F.
    let control = _mm_set1_epi8(0x1F);
    for (lane, chunk) in block.chunks_exact(16).enumerate() {
        // SAFETY: `chunk` holds 16 readable bytes (unaligned loads are allowed).
        let bytes = unsafe { _mm_loadu_si128(chunk.as_ptr().cast::<__m128i>()) };
        let folded = _mm_or_si128(bytes, bit5);
        let mask = |v| u64::from(_mm_movemask_epi8(v) as u16) << (16 * lane);
        masks.quotes |= mask(_mm_cmpeq_epi8(bytes, quote));
        masks.backslashes |= mask(_mm_cmpeq_epi8(bytes, backslash));
        masks.controls |= mask(_mm_cmpeq_epi8(_mm_max_epu8(bytes, control), control));
        masks.opens |= mask(_mm_cmpeq_epi8(folded, open));
        masks.closes |= mask(_mm_cmpeq_epi8(folded, close));
        masks.non_ascii |= mask(bytes);
    }
    masks
}

/// [`raw_masks`] with two 32-byte halves.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[inline]
fn raw_masks_avx2(block: &[u8; 64]) -> RawMasks {
    use std::arch::x86_64::{
        __m256i, _mm256_cmpeq_epi8, _mm256_loadu_si256, _mm256_max_epu8, _mm256_movemask_epi8,
        _mm256_or_si256, _mm256_set1_epi8,
    };
    let quote = _mm256_set1_epi8(b'"' as i8);
    let backslash = _mm256_set1_epi8(b'\\' as i8);
    // `[` and `]` differ from `{` and `}` only in bit 5.
    let bit5 = _mm256_set1_epi8(0x20);
    let open = _mm256_set1_epi8(b'{' as i8);
    let close = _mm256_set1_epi8(b'}' as i8);
    // A byte is below 0x20 when its unsigned maximum with 0x1F is 0x1F.
    let control = _mm256_set1_epi8(0x1F);
    let mut masks = RawMasks {
        quotes: 0,
        backslashes: 0,
        controls: 0,
        opens: 0,
        closes: 0,
        non_ascii: 0,
    };
    for (half, chunk) in block.chunks_exact(32).enumerate() {
        // SAFETY: `chunk` holds 32 readable bytes (unaligned loads are allowed).
        let bytes = unsafe { _mm256_loadu_si256(chunk.as_ptr().cast::<__m256i>()) };
        let folded = _mm256_or_si256(bytes, bit5);
        let mask = |v| u64::from(_mm256_movemask_epi8(v) as u32) << (32 * half);
        masks.quotes |= mask(_mm256_cmpeq_epi8(bytes, quote));
        masks.backslashes |= mask(_mm256_cmpeq_epi8(bytes, backslash));
        masks.controls |= mask(_mm256_cmpeq_epi8(_mm256_max_epu8(bytes, control), control));
        masks.opens |= mask(_mm256_cmpeq_epi8(folded, open));
        masks.closes |= mask(_mm256_cmpeq_epi8(folded, close));
        masks.non_ascii |= mask(bytes);
    }
    masks
}

#[cfg(not(target_arch = "x86_64"))]
#[inline]
fn raw_masks(block: &[u8; 64]) -> RawMasks {
    let mut masks = RawMasks {
        quotes: 0,
        backslashes: 0,
        controls: 0,
        opens: 0,
        closes: 0,
        non_ascii: 0,
    };
    for (i, &byte) in block.iter().enumerate() {
        let bit = 1u64 << i;
        match byte {
            b'"' => masks.quotes |= bit,
            b'\\' => masks.backslashes |= bit,
            0..=0x1f => masks.controls |= bit,
            b'{' | b'[' => masks.opens |= bit,
            b'}' | b']' => masks.closes |= bit,
            0x80.. => masks.non_ascii |= bit,
            _ => {}
        }
    }
    masks
}

/// The bytes escaped by a backslash (the byte after each odd-length run of backslashes);
/// `carry` says whether the first byte of this block is escaped by the previous block's last
/// backslash, and is updated for the next block.
#[inline]
fn escaped_bytes(backslashes: u64, carry: &mut u64) -> u64 {
    const EVEN_BITS: u64 = 0x5555_5555_5555_5555;
    let backslashes = backslashes & !*carry;
    let follows_escape = (backslashes << 1) | *carry;
    // Runs starting on an odd bit, added to the backslashes, carry past their end.
    let odd_starts = backslashes & !EVEN_BITS & !follows_escape;
    let (even_starts, overflow) = odd_starts.overflowing_add(backslashes);
    *carry = u64::from(overflow);
    let invert = even_starts << 1;
    (EVEN_BITS ^ invert) & follows_escape
}

/// Bit `i` of the result is the parity of bits `0..=i` of `bits`.
#[inline]
fn prefix_xor(mut bits: u64) -> u64 {
    for shift in [1, 2, 4, 8, 16, 32] {
        bits ^= bits << shift;
    }
    bits
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Quote positions, byte by byte: a quote is escaped after an odd run of backslashes.
    fn naive_quotes(bytes: &[u8]) -> Vec<usize> {
        let mut quotes = Vec::new();
        let mut escaped = false;
        for (i, &b) in bytes.iter().enumerate() {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                quotes.push(i);
            }
        }
        quotes
    }

    fn indexed_quotes(index: &StructureIndex) -> Vec<usize> {
        let mut quotes = Vec::new();
        let mut from = 0;
        while let Some(q) = index.next_quote(from) {
            quotes.push(q);
            from = q + 1;
        }
        quotes
    }

    proptest! {
        /// Every way of classifying bytes this build can use gives the same index.
        #[test]
        fn vector_widths_agree(text in "[\\\\\"a{}\\[\\] \u{1}\u{1f}\n\t\u{7f}é]{0,300}") {
            let mut portable = StructureIndex::default();
            portable.build_with::<false>(text.as_bytes(), raw_masks);
            let mut chosen = StructureIndex::default();
            chosen.build(text.as_bytes());
            prop_assert_eq!(portable.blocks, chosen.blocks);
        }

        /// A line's index, built while finding its end, is the index of the line alone,
        /// wherever the newline falls in a block and whatever comes after it.
        #[test]
        fn indexes_a_line_as_the_line_alone(
            text in "[\\\\\"a{}\\[\\] \r\n\u{1}é]{0,300}",
            skip in 0usize..200,
        ) {
            let bytes = &text.as_bytes()[skip.min(text.len())..];
            let mut line = StructureIndex::default();
            let len = line.build_line(bytes);
            let end = bytes.iter().position(|&b| b == b'\n').unwrap_or(bytes.len());
            prop_assert_eq!(len, end);
            let mut alone = StructureIndex::default();
            alone.build(&bytes[..end]);
            prop_assert_eq!(&line.blocks, &alone.blocks);
            prop_assert_eq!(line.first_non_ascii, alone.first_non_ascii);
            let mut portable = StructureIndex::default();
            prop_assert_eq!(portable.build_with::<true>(bytes, raw_masks), end);
            prop_assert_eq!(&portable.blocks, &alone.blocks);
        }

        /// Control bytes are found exactly in any range, wherever blocks split the text.
        #[test]
        fn finds_the_first_control_byte_of_a_range(text in "[a\u{1}\u{1f} \n\u{7f}é]{0,200}") {
            let bytes = text.as_bytes();
            let mut index = StructureIndex::default();
            index.build(bytes);
            for from in 0..bytes.len() {
                for to in from..=bytes.len() {
                    let naive = (from..to).find(|&i| bytes[i] < 0x20);
                    prop_assert_eq!(index.first_control(from, to), naive);
                }
            }
        }

        /// Escapes are found exactly, whatever the runs of backslashes and wherever blocks
        /// split them.
        #[test]
        fn finds_the_same_quotes_as_a_byte_scan(text in "[\\\\\"a{}]{0,300}") {
            let mut index = StructureIndex::default();
            index.build(text.as_bytes());
            prop_assert_eq!(indexed_quotes(&index), naive_quotes(text.as_bytes()));
            for from in 0..text.len() {
                for to in from..=text.len() {
                    prop_assert_eq!(
                        index.has_backslash(from, to),
                        text.as_bytes()[from..to].contains(&b'\\')
                    );
                }
            }
        }

        /// A container ends where a byte scan that skips strings says it does.
        #[test]
        fn finds_container_ends(text in "[\\[\\]{}\"\\\\ab]{0,200}") {
            let bytes = text.as_bytes();
            let mut index = StructureIndex::default();
            index.build(bytes);
            let quotes = naive_quotes(bytes);
            let in_string = |i: usize| quotes.iter().filter(|&&q| q < i).count() % 2 == 1
                && !quotes.contains(&i);
            let outside = |i: usize| !in_string(i) && !quotes.contains(&i);
            // Just past the bracket, outside strings, that brings `depth` open brackets to
            // none, scanning from `from`.
            let naive_end = |from: usize, mut depth: i32| {
                for (i, &b) in bytes.iter().enumerate().skip(from).filter(|&(i, _)| outside(i)) {
                    match b {
                        b'{' | b'[' => depth += 1,
                        b'}' | b']' => depth -= 1,
                        _ => continue,
                    }
                    if depth == 0 {
                        return Some(i + 1);
                    }
                }
                None
            };
            for open in (0..bytes.len()).filter(|&i| b"{[".contains(&bytes[i]) && outside(i)) {
                prop_assert_eq!(index.container_end(open), naive_end(open, 0), "open at {}", open);
            }
            // From inside a container its end is where one more closing than opening bracket
            // has been seen.
            for from in (0..bytes.len()).filter(|&i| outside(i) && !b"{[]}".contains(&bytes[i])) {
                prop_assert_eq!(index.enclosing_end(from), naive_end(from, 1), "from {}", from);
            }
        }
    }

    #[test]
    fn handles_long_documents_and_runs_across_blocks() {
        let mut text = "x".repeat(63);
        text.push_str(r#""\\\"a" "#);
        text.push_str(&"[".repeat(100));
        text.push_str(&"]".repeat(100));
        let mut index = StructureIndex::default();
        index.build(text.as_bytes());
        assert_eq!(indexed_quotes(&index), naive_quotes(text.as_bytes()));
        assert_eq!(index.container_end(71), Some(text.len()));
    }
}
