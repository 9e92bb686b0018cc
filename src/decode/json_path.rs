//! Selective JSON decoding: extracts only the paths a dataflow names from one JSON document.
//!
//! The walk follows the wanted paths and skips everything else without building it: strings
//! and containers end where the document's structure index says they do. What lies on a
//! wanted path is checked as strictly as any JSON reader checks it: the member names of every
//! object the walk enters, every string, number and literal it reads, and the whole text of
//! a wanted array or object; raw control characters, bad escapes, unpaired surrogates and
//! numbers JSON forbids make the document malformed there. Skipped values are checked only
//! for balanced brackets, terminated strings and well-formed numbers: the price of not parsing
//! what nobody reads.
//!
//! A member name that repeats is read the way JSON readers that keep the last value read it:
//! every wanted path below a repeated member comes from its last occurrence, whatever the
//! order. So objects on a wanted path are walked to their end; arrays stop at their last
//! wanted element. This is the decoder's hot path: tweets carry hundreds of bytes of text
//! nobody aggregates.

use super::json_index::StructureIndex;
use crate::plan::FieldUse;
use crate::value::{number, write_json_string, Composite, Value};
use compact_str::CompactString;
use std::borrow::Cow;
use std::cell::RefCell;
use thiserror::Error;

thread_local! {
    /// Each thread's structure index, rebuilt for every document it decodes unless it was
    /// built while finding that document's line.
    static INDEX: RefCell<Indexed> = RefCell::default();
}

/// A thread's structure index and the record it was built for, if [`next_line`] built it.
#[derive(Default)]
struct Indexed {
    index: StructureIndex,
    /// The address and length of the record of the line last indexed by [`next_line`];
    /// taken by the next decode, which builds its own index unless it decodes exactly those
    /// bytes.
    line: Option<(usize, usize)>,
}

/// The record a line holds: the line without its line ending (`\n`, `\r\n` or more `\r`s);
/// `None` for a blank line, which holds none.
pub fn record_of_line(line: &[u8]) -> Option<&[u8]> {
    let mut record = line;
    while let [rest @ .., b'\n' | b'\r'] = record {
        record = rest;
    }
    (!record.iter().all(u8::is_ascii_whitespace)).then_some(record)
}

/// The line `bytes` starts with: how many bytes it takes (its newline included; all of
/// `bytes` when none comes) and its record (see [`record_of_line`]). The line's end is found
/// in the pass that indexes its JSON structure, so a decode of the record that follows on
/// the same thread reads its bytes once instead of twice.
pub fn next_line(bytes: &[u8]) -> (usize, Option<&[u8]>) {
    INDEX.with_borrow_mut(|indexed| {
        let len = indexed.index.build_line(bytes);
        let record = record_of_line(&bytes[..len]);
        indexed.line = record.map(|record| (record.as_ptr() as usize, record.len()));
        ((len + 1).min(bytes.len()), record)
    })
}

/// Where and why a document is not valid JSON.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JsonError {
    /// Byte offset in the document.
    pub offset: usize,
    /// What was expected.
    pub message: &'static str,
}

/// A compiled set of paths, each filling one output slot.
#[derive(Clone, Debug)]
pub struct JsonPaths {
    nodes: Vec<Node>,
}

#[derive(Clone, Debug, Default)]
struct Node {
    slot: Option<usize>,
    /// The slot wants only the value's truthiness (see [`FieldUse::Truthiness`]).
    truthiness: bool,
    by_key: Vec<(MemberName, usize)>,
    by_index: Vec<(usize, usize)>,
    /// The slots of this node and of every node below it: cleared when the walk reaches the
    /// node, so that a repeated member replaces what an earlier one filled.
    below: Vec<usize>,
    /// The lengths of the member names in `by_key`, as [`length_bit`]s.
    name_lengths: u64,
}

/// A bit standing for a member name's length: bit `len` below 63, bit 63 for any longer.
#[inline]
fn length_bit(len: usize) -> u64 {
    1u64 << len.min(63)
}

/// A member name a path steps through, kept so that comparing a document's member name with
/// it is a length check and one or two 8-byte compares for names up to 16 bytes, with no
/// call out: a short name's word is masked; a longer one is checked by its first and its
/// last 8 bytes (overlapping when it is shorter than 16), which together cover it.
#[derive(Clone, Debug, PartialEq, Eq)]
struct MemberName {
    head: u64,
    last: u64,
    bytes: Box<[u8]>,
}

/// The first 8 bytes of `bytes` as one word, zero-padded.
#[inline]
fn head_word(bytes: &[u8]) -> u64 {
    match bytes.first_chunk::<8>() {
        Some(head) => u64::from_le_bytes(*head),
        None => {
            let mut head = [0u8; 8];
            head[..bytes.len()].copy_from_slice(bytes);
            u64::from_le_bytes(head)
        }
    }
}

/// The last 8 bytes of `bytes` as one word (0 when it is shorter).
#[inline]
fn last_word(bytes: &[u8]) -> u64 {
    bytes
        .last_chunk::<8>()
        .map_or(0, |last| u64::from_le_bytes(*last))
}

impl MemberName {
    fn new(name: &str) -> MemberName {
        MemberName {
            head: head_word(name.as_bytes()),
            last: last_word(name.as_bytes()),
            bytes: name.as_bytes().into(),
        }
    }

    #[inline]
    fn matches(&self, name: &[u8]) -> bool {
        name == &self.bytes[..]
    }

    /// [`Self::matches`] for the name at `doc[start..end]`, read in place.
    #[inline]
    fn matches_in(&self, doc: &[u8], start: usize, end: usize) -> bool {
        let len = end - start;
        if len != self.bytes.len() {
            return false;
        }
        if len >= 8 {
            let name = &doc[start..end];
            return head_word(name) == self.head
                && last_word(name) == self.last
                && (len <= 16 || name[8..len - 8] == self.bytes[8..len - 8]);
        }
        let head = match doc.get(start..start + 8) {
            Some(word) => {
                let word = u64::from_le_bytes(word.try_into().expect("8 bytes"));
                word & ((1u64 << (8 * len)) - 1)
            }
            None => head_word(&doc[start..end]),
        };
        head == self.head
    }
}

enum Step {
    Key(String),
    Index(usize),
}

const MAX_DEPTH: usize = 128;

/// A field path that cannot be compiled.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum PathError {
    /// Not `a.b[0].c` shaped.
    #[error("`{0}` is not a field path (like `a.b[0].c`)")]
    Malformed(String),
    /// A `[` without its `]`.
    #[error("`{0}`: unclosed `[`")]
    Unclosed(String),
    /// Something other than a number between brackets.
    #[error("`{path}`: `{index}` is not an index")]
    BadIndex {
        /// The path.
        path: String,
        /// What stood between the brackets.
        index: String,
    },
    /// The same path twice.
    #[error("path `{0}` is named twice")]
    Twice(String),
}

impl JsonPaths {
    /// Compiles paths like `includes.places[0].full_name`; slot `i` receives path `i`, whole.
    pub fn compile<'a>(paths: impl IntoIterator<Item = &'a str>) -> Result<JsonPaths, PathError> {
        JsonPaths::compile_with(paths.into_iter().map(|p| (p, FieldUse::Whole)))
    }

    /// Like [`Self::compile`], each path with how much of its value is read: a path read for
    /// its truthiness gets `true` for a non-empty value, `false` for an empty one (`false`,
    /// zero, `""`, `[]`, `{}`) and `null` for `null`, after the value is checked as strictly.
    pub fn compile_with<'a>(
        paths: impl IntoIterator<Item = (&'a str, FieldUse)>,
    ) -> Result<JsonPaths, PathError> {
        let mut nodes = vec![Node::default()];
        for (slot, (path, used)) in paths.into_iter().enumerate() {
            let mut at = 0;
            for step in parse_path(path)? {
                let child = match &step {
                    Step::Key(k) => nodes[at]
                        .by_key
                        .iter()
                        .find(|(name, _)| name.matches(k.as_bytes()))
                        .map(|(_, c)| *c),
                    Step::Index(i) => nodes[at]
                        .by_index
                        .iter()
                        .find(|(n, _)| n == i)
                        .map(|(_, c)| *c),
                };
                at = match child {
                    Some(c) => c,
                    None => {
                        nodes.push(Node::default());
                        let c = nodes.len() - 1;
                        match step {
                            Step::Key(k) => {
                                nodes[at].name_lengths |= length_bit(k.len());
                                nodes[at].by_key.push((MemberName::new(&k), c))
                            }
                            Step::Index(i) => nodes[at].by_index.push((i, c)),
                        }
                        c
                    }
                };
            }
            if nodes[at].slot.is_some() {
                return Err(PathError::Twice(path.to_string()));
            }
            nodes[at].slot = Some(slot);
            nodes[at].truthiness = match used {
                FieldUse::Whole => false,
                FieldUse::Truthiness => true,
            };
        }
        // Children are always pushed after their parent, so walking backwards sees every
        // child's complete list before its parent's.
        for at in (0..nodes.len()).rev() {
            let node = &nodes[at];
            let mut below: Vec<usize> = node.slot.into_iter().collect();
            for &child in node
                .by_key
                .iter()
                .map(|(_, c)| c)
                .chain(node.by_index.iter().map(|(_, c)| c))
            {
                below.extend_from_slice(&nodes[child].below);
            }
            nodes[at].below = below;
        }
        Ok(JsonPaths { nodes })
    }

    /// Fills `out[slot]` for every path present in `doc`; `out` must hold `None` in every
    /// slot, which absent paths keep.
    ///
    /// `doc` must be UTF-8: it is validated from its first non-ASCII block on, which the
    /// structure index finds while it is built, so an ASCII document costs no extra pass.
    pub fn extract(&self, doc: &[u8], out: &mut [Option<Value>]) -> Result<(), DocumentError> {
        INDEX.with_borrow_mut(|indexed| {
            let Indexed { index, line } = indexed;
            if line.take() != Some((doc.as_ptr() as usize, doc.len())) {
                index.build(doc);
            }
            let ascii = index.non_ascii_from(doc.len());
            simdutf8::basic::from_utf8(&doc[ascii..]).map_err(|_| DocumentError::InvalidUtf8)?;
            // SAFETY: `doc[..ascii]` is ASCII (the index found no byte of 0x80 or above
            // there), so it is UTF-8 and ends on a character boundary; `doc[ascii..]` was
            // validated just above. Together they are UTF-8.
            let text = unsafe { std::str::from_utf8_unchecked(doc) };
            debug_assert!(out.iter().all(Option::is_none), "slots start empty");
            let mut walker = Walker {
                bytes: doc,
                doc: text,
                pos: 0,
                index,
                paths: self,
                out,
                visited: 0,
            };
            walker.skip_ws();
            if walker.peek() != Some(b'{') {
                return Err(walker.error("expected a JSON object").into());
            }
            walker.value(0, 0)?;
            walker.skip_ws();
            if walker.pos != walker.bytes.len() {
                return Err(walker.error("unexpected text after the JSON object").into());
            }
            Ok(())
        })
    }
}

/// Why a document could not be read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DocumentError {
    /// The document is not UTF-8.
    InvalidUtf8,
    /// The document is not a well-formed JSON object.
    Malformed(JsonError),
}

impl From<JsonError> for DocumentError {
    fn from(error: JsonError) -> DocumentError {
        DocumentError::Malformed(error)
    }
}

fn parse_path(path: &str) -> Result<Vec<Step>, PathError> {
    let mut steps = Vec::new();
    for part in path.split('.') {
        let (name, mut rest) = match part.find('[') {
            Some(i) => (&part[..i], &part[i..]),
            None => (part, ""),
        };
        if name.is_empty() && (steps.is_empty() || rest.is_empty()) {
            return Err(PathError::Malformed(path.to_string()));
        }
        if !name.is_empty() {
            steps.push(Step::Key(name.to_string()));
        }
        while let Some(inner) = rest.strip_prefix('[') {
            let close = inner
                .find(']')
                .ok_or_else(|| PathError::Unclosed(path.to_string()))?;
            let index = inner[..close].parse().map_err(|_| PathError::BadIndex {
                path: path.to_string(),
                index: inner[..close].to_string(),
            })?;
            steps.push(Step::Index(index));
            rest = &inner[close + 1..];
        }
        if !rest.is_empty() {
            return Err(PathError::Malformed(path.to_string()));
        }
    }
    Ok(steps)
}

struct Walker<'d, 'p, 'o> {
    bytes: &'d [u8],
    doc: &'d str,
    pos: usize,
    index: &'p StructureIndex,
    paths: &'p JsonPaths,
    out: &'o mut [Option<Value>],
    /// The path nodes already walked in this document (bit `n` for node `n < 128`).
    visited: u128,
}

/// A truth value as an output slot holds it: copied from a constant, where one assembled
/// byte by byte on the stack and then moved would stall the copy.
#[inline]
fn truth(non_empty: bool) -> Option<Value> {
    const TRUE: Option<Value> = Some(Value::Bool(true));
    const FALSE: Option<Value> = Some(Value::Bool(false));
    if non_empty {
        TRUE
    } else {
        FALSE
    }
}

impl<'d> Walker<'d, '_, '_> {
    #[cold]
    fn error(&self, message: &'static str) -> JsonError {
        JsonError {
            offset: self.pos,
            message,
        }
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn skip_ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.pos += 1;
        }
    }

    fn expect(&mut self, byte: u8, message: &'static str) -> Result<(), JsonError> {
        self.skip_ws();
        if self.peek() == Some(byte) {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.error(message))
        }
    }

    /// Walks one value that sits on path node `node`.
    fn value(&mut self, node: usize, depth: usize) -> Result<(), JsonError> {
        if depth > MAX_DEPTH {
            return Err(self.error("nesting too deep"));
        }
        self.skip_ws();
        let here = &self.paths.nodes[node];
        // A node met again (a repeated member name) replaces what its first visit filled.
        // (Nodes past the first 128 are not tracked and always cleared.)
        let bit = 1u128.checked_shl(node as u32).unwrap_or(0);
        if bit == 0 || self.visited & bit != 0 {
            for &slot in &here.below {
                self.out[slot] = None;
            }
        }
        self.visited |= bit;
        let slot = here.slot;
        let truthiness = here.truthiness;
        let has_children = !here.by_key.is_empty() || !here.by_index.is_empty();
        let value = match self.peek() {
            Some(open @ (b'{' | b'[')) => {
                let start = self.pos;
                match (has_children, slot) {
                    (false, None) => return self.skip_value(),
                    (true, _) if open == b'{' => self.object(node, depth)?,
                    (true, _) => self.array(node, depth)?,
                    (false, Some(_)) => {}
                }
                if slot.is_none() {
                    return Ok(());
                }
                // The container itself is wanted: read all of it, strictly.
                self.pos = start;
                if truthiness {
                    Value::Bool(self.check(depth)?)
                } else {
                    let mut json = String::new();
                    self.canonical(depth, &mut json)?;
                    let composite = Composite::new(json);
                    if open == b'{' {
                        Value::Map(composite)
                    } else {
                        Value::List(composite)
                    }
                }
            }
            Some(b'"') => {
                self.pos += 1;
                return match slot {
                    Some(slot) => self.string_into(slot, truthiness),
                    None => self.skip_string(),
                };
            }
            Some(b't') => self.literal(b"true", Value::Bool(true))?,
            Some(b'f') => self.literal(b"false", Value::Bool(false))?,
            Some(b'n') => self.literal(b"null", Value::Null)?,
            Some(b'-' | b'0'..=b'9') => self.number()?,
            _ => return Err(self.error("expected a value")),
        };
        if let Some(slot) = slot {
            self.out[slot] = match value {
                Value::Null => Some(Value::Null),
                value if truthiness => truth(value.is_non_empty()),
                value => Some(value),
            };
        }
        Ok(())
    }

    /// Reads one whole value as strictly as [`Self::canonical`] without writing it out;
    /// returns whether it is a non-empty container.
    fn check(&mut self, depth: usize) -> Result<bool, JsonError> {
        if depth > MAX_DEPTH {
            return Err(self.error("nesting too deep"));
        }
        self.skip_ws();
        let (close, message) = match self.peek() {
            Some(b'{') => (b'}', "expected `,` or `}` in an object"),
            Some(b'[') => (b']', "expected `,` or `]` in an array"),
            Some(b'"') => {
                self.pos += 1;
                self.string()?;
                return Ok(false);
            }
            Some(b't') => return self.literal(b"true", Value::Null).map(|_| false),
            Some(b'f') => return self.literal(b"false", Value::Null).map(|_| false),
            Some(b'n') => return self.literal(b"null", Value::Null).map(|_| false),
            Some(b'-' | b'0'..=b'9') => return self.number().map(|_| false),
            _ => return Err(self.error("expected a value")),
        };
        self.pos += 1;
        self.skip_ws();
        if self.peek() == Some(close) {
            self.pos += 1;
            return Ok(false);
        }
        loop {
            if close == b'}' {
                self.expect(b'"', "expected a member name")?;
                self.string()?;
                self.expect(b':', "expected `:` after a member name")?;
            }
            self.check(depth + 1)?;
            if self.list_ends(close, message)? {
                return Ok(true);
            }
        }
    }

    /// Reads one whole value strictly and writes its canonical JSON text (see
    /// [`Composite`]).
    fn canonical(&mut self, depth: usize, out: &mut String) -> Result<(), JsonError> {
        if depth > MAX_DEPTH {
            return Err(self.error("nesting too deep"));
        }
        self.skip_ws();
        match self.peek() {
            Some(b'{') => {
                let mut members: Vec<(String, String)> = Vec::new();
                self.pos += 1;
                self.skip_ws();
                if self.peek() == Some(b'}') {
                    self.pos += 1;
                } else {
                    loop {
                        self.expect(b'"', "expected a member name")?;
                        let name = self.string()?.into_owned();
                        self.expect(b':', "expected `:` after a member name")?;
                        let mut value = String::new();
                        self.canonical(depth + 1, &mut value)?;
                        members.push((name, value));
                        if self.list_ends(b'}', "expected `,` or `}` in an object")? {
                            break;
                        }
                    }
                }
                // Sorted by name (stably, so a repeated name's members stay in document
                // order), keeping the last of each name.
                members.sort_by(|a, b| a.0.cmp(&b.0));
                out.push('{');
                let mut first = true;
                for (i, (name, value)) in members.iter().enumerate() {
                    if members.get(i + 1).is_some_and(|next| &next.0 == name) {
                        continue;
                    }
                    if !first {
                        out.push(',');
                    }
                    first = false;
                    write_json_string(name, out);
                    out.push(':');
                    out.push_str(value);
                }
                out.push('}');
                Ok(())
            }
            Some(b'[') => {
                self.pos += 1;
                self.skip_ws();
                out.push('[');
                if self.peek() == Some(b']') {
                    self.pos += 1;
                } else {
                    loop {
                        self.canonical(depth + 1, out)?;
                        if self.list_ends(b']', "expected `,` or `]` in an array")? {
                            break;
                        }
                        out.push(',');
                    }
                }
                out.push(']');
                Ok(())
            }
            Some(b'"') => {
                self.pos += 1;
                let text = self.string()?;
                write_json_string(&text, out);
                Ok(())
            }
            Some(b't') => self.scalar(b"true", Value::Bool(true), out),
            Some(b'f') => self.scalar(b"false", Value::Bool(false), out),
            Some(b'n') => self.scalar(b"null", Value::Null, out),
            Some(b'-' | b'0'..=b'9') => {
                self.number()?.write_json(out);
                Ok(())
            }
            _ => Err(self.error("expected a value")),
        }
    }

    /// Reads the literal `word` into canonical text.
    fn scalar(&mut self, word: &[u8], value: Value, out: &mut String) -> Result<(), JsonError> {
        self.literal(word, value)?.write_json(out);
        Ok(())
    }

    /// After a member or element: `true` at the container's closing `close`, `false` after
    /// a comma.
    fn list_ends(&mut self, close: u8, message: &'static str) -> Result<bool, JsonError> {
        self.skip_ws();
        match self.peek() {
            Some(b',') => {
                self.pos += 1;
                Ok(false)
            }
            Some(b) if b == close => {
                self.pos += 1;
                Ok(true)
            }
            _ => Err(self.error(message)),
        }
    }

    /// Walks a member's or element's value: skipped straight away when no path goes there
    /// (most of them).
    #[inline(always)]
    fn member_value(&mut self, node: Option<usize>, depth: usize) -> Result<(), JsonError> {
        match node {
            Some(node) => self.value(node, depth),
            None => {
                self.skip_ws();
                self.skip_value()
            }
        }
    }

    /// Walks an object on a wanted path to its end (a later member may repeat a wanted name).
    fn object(&mut self, node: usize, depth: usize) -> Result<(), JsonError> {
        self.pos += 1;
        self.skip_ws();
        if self.peek() == Some(b'}') {
            self.pos += 1;
            return Ok(());
        }
        loop {
            self.expect(b'"', "expected a member name")?;
            let children = &self.paths.nodes[node].by_key;
            let start = self.pos;
            let end = self.string_end()?;
            self.pos = end + 1;
            let found = if self.index.has_backslash(start, end) {
                let name = unescape(&self.doc[start..end]).map_err(|(at, m)| JsonError {
                    offset: start + at,
                    message: m,
                })?;
                children
                    .iter()
                    .position(|(k, _)| k.matches(name.as_bytes()))
            } else {
                self.check_controls(start, end)?;
                // Most names have no wanted name's length: no comparison at all.
                let lengths = self.paths.nodes[node].name_lengths;
                if lengths & length_bit(end - start) == 0 {
                    None
                } else {
                    children
                        .iter()
                        .position(|(k, _)| k.matches_in(self.bytes, start, end))
                }
            };
            let child = found.map(|at| children[at].1);
            self.expect(b':', "expected `:` after a member name")?;
            self.member_value(child, depth + 1)?;
            if self.list_ends(b'}', "expected `,` or `}` in an object")? {
                return Ok(());
            }
        }
    }

    fn array(&mut self, node: usize, depth: usize) -> Result<(), JsonError> {
        self.pos += 1;
        self.skip_ws();
        if self.peek() == Some(b']') {
            self.pos += 1;
            return Ok(());
        }
        let mut index = 0usize;
        // Past the last wanted element the rest is skipped.
        let by_index = &self.paths.nodes[node].by_index;
        let last_wanted = by_index.iter().map(|(i, _)| *i).max();
        loop {
            let child = by_index.iter().find(|(i, _)| *i == index).map(|(_, c)| *c);
            self.member_value(child, depth + 1)?;
            if last_wanted == Some(index) {
                return self.skip_rest(false);
            }
            index += 1;
            if self.list_ends(b']', "expected `,` or `]` in an array")? {
                return Ok(());
            }
        }
    }

    /// Refuses a raw control character (U+0000 to U+001F) in the string body `start..end`:
    /// JSON allows them only escaped.
    #[inline(always)]
    fn check_controls(&self, start: usize, end: usize) -> Result<(), JsonError> {
        match self.index.first_control(start, end) {
            None => Ok(()),
            Some(at) => Err(control_error(at, self.bytes[at])),
        }
    }

    /// Skips the rest of the object (or array) being walked, once no path needs anything more
    /// from it: like [`Self::skip_value`], it checks only that brackets balance and strings end.
    #[inline]
    fn skip_rest(&mut self, object: bool) -> Result<(), JsonError> {
        self.jump_past(self.index.enclosing_end(self.pos), object)
    }

    /// Moves just past `end`, the end of an object (or array) the structure index found.
    fn jump_past(&mut self, end: Option<usize>, object: bool) -> Result<(), JsonError> {
        match end {
            Some(end) if (self.bytes[end - 1] == b'}') == object => {
                self.pos = end;
                Ok(())
            }
            Some(end) => {
                self.pos = end - 1;
                Err(self.error(if object {
                    "object closed by `]`"
                } else {
                    "array closed by `}`"
                }))
            }
            None => {
                self.pos = self.bytes.len();
                Err(self.error(if object {
                    "unterminated object"
                } else {
                    "unterminated array"
                }))
            }
        }
    }

    /// Skips a value no path needs. Containers are skipped by counting their brackets outside
    /// strings, so their insides are checked for balance and terminated strings only, not for
    /// full JSON grammar: the price of not parsing what nobody reads.
    #[inline]
    fn skip_value(&mut self) -> Result<(), JsonError> {
        match self.peek() {
            Some(open @ (b'{' | b'[')) => {
                self.jump_past(self.index.container_end(self.pos), open == b'{')
            }
            Some(b'"') => {
                self.pos += 1;
                self.skip_string()
            }
            Some(b't') => self.literal(b"true", Value::Null).map(drop),
            Some(b'f') => self.literal(b"false", Value::Null).map(drop),
            Some(b'n') => self.literal(b"null", Value::Null).map(drop),
            Some(b'-' | b'0'..=b'9') => self.number().map(drop),
            _ => Err(self.error("expected a value")),
        }
    }

    /// The index of the closing quote of the string whose body starts at `pos`.
    #[inline]
    fn string_end(&mut self) -> Result<usize, JsonError> {
        match self.index.next_quote(self.pos) {
            Some(end) if end < self.bytes.len() => Ok(end),
            _ => {
                self.pos = self.bytes.len();
                Err(self.error("unterminated string"))
            }
        }
    }

    /// Skips a string body; `pos` is just past the opening quote.
    #[inline]
    fn skip_string(&mut self) -> Result<(), JsonError> {
        self.pos = self.string_end()? + 1;
        Ok(())
    }

    /// Reads a string body into the output slot `slot` (its truthiness, when that is what
    /// the slot holds); `pos` is just past the opening quote. Each branch writes the slot
    /// itself: a text moved through a shared temporary costs more than reading it.
    #[inline]
    fn string_into(&mut self, slot: usize, truthiness: bool) -> Result<(), JsonError> {
        let start = self.pos;
        let end = self.string_end()?;
        self.pos = end + 1;
        let owned;
        let text = if self.index.has_backslash(start, end) {
            owned = unescape(&self.doc[start..end]).map_err(|(at, m)| JsonError {
                offset: start + at,
                message: m,
            })?;
            owned.as_str()
        } else {
            self.check_controls(start, end)?;
            let doc: &'d str = self.doc;
            &doc[start..end]
        };
        // What the slot held goes first, so the new value is written straight from
        // registers rather than kept aside while the old one is dropped.
        let out = &mut self.out[slot];
        *out = None;
        *out = if truthiness {
            truth(!text.is_empty())
        } else {
            Some(Value::Str(CompactString::new(text)))
        };
        Ok(())
    }

    /// Reads a string body; `pos` is just past the opening quote.
    #[inline]
    fn string(&mut self) -> Result<Cow<'d, str>, JsonError> {
        let start = self.pos;
        let end = self.string_end()?;
        self.pos = end + 1;
        let doc: &'d str = self.doc;
        let raw = &doc[start..end];
        if self.index.has_backslash(start, end) {
            unescape(raw).map(Cow::Owned).map_err(|(at, m)| JsonError {
                offset: start + at,
                message: m,
            })
        } else {
            self.check_controls(start, end)?;
            Ok(Cow::Borrowed(raw))
        }
    }

    fn literal(&mut self, word: &[u8], value: Value) -> Result<Value, JsonError> {
        if self.bytes[self.pos..].starts_with(word) {
            self.pos += word.len();
            Ok(value)
        } else {
            Err(self.error("expected `true`, `false` or `null`"))
        }
    }

    /// Reads a number, exactly (see [`number`]).
    fn number(&mut self) -> Result<Value, JsonError> {
        let start = self.pos;
        self.skip_number()?;
        number::value_of(&self.doc[start..self.pos]).map_err(|message| JsonError {
            offset: start,
            message,
        })
    }

    /// Checks a number's grammar and moves past it.
    #[inline]
    fn skip_number(&mut self) -> Result<(), JsonError> {
        match number::scan(&self.bytes[self.pos..]) {
            Ok(len) => {
                self.pos += len;
                Ok(())
            }
            Err((at, message)) => {
                self.pos += at;
                Err(self.error(message))
            }
        }
    }
}

/// The error for a raw control character at `offset`.
#[cold]
fn control_error(offset: usize, byte: u8) -> JsonError {
    const NAMES: [&str; 32] = [
        "raw control character 0x00 in a string (JSON needs it escaped)",
        "raw control character 0x01 in a string (JSON needs it escaped)",
        "raw control character 0x02 in a string (JSON needs it escaped)",
        "raw control character 0x03 in a string (JSON needs it escaped)",
        "raw control character 0x04 in a string (JSON needs it escaped)",
        "raw control character 0x05 in a string (JSON needs it escaped)",
        "raw control character 0x06 in a string (JSON needs it escaped)",
        "raw control character 0x07 in a string (JSON needs it escaped)",
        "raw control character 0x08 in a string (JSON needs it escaped)",
        "raw control character 0x09 (tab) in a string (JSON needs it escaped)",
        "raw control character 0x0a (line feed) in a string (JSON needs it escaped)",
        "raw control character 0x0b in a string (JSON needs it escaped)",
        "raw control character 0x0c in a string (JSON needs it escaped)",
        "raw control character 0x0d (carriage return) in a string (JSON needs it escaped)",
        "raw control character 0x0e in a string (JSON needs it escaped)",
        "raw control character 0x0f in a string (JSON needs it escaped)",
        "raw control character 0x10 in a string (JSON needs it escaped)",
        "raw control character 0x11 in a string (JSON needs it escaped)",
        "raw control character 0x12 in a string (JSON needs it escaped)",
        "raw control character 0x13 in a string (JSON needs it escaped)",
        "raw control character 0x14 in a string (JSON needs it escaped)",
        "raw control character 0x15 in a string (JSON needs it escaped)",
        "raw control character 0x16 in a string (JSON needs it escaped)",
        "raw control character 0x17 in a string (JSON needs it escaped)",
        "raw control character 0x18 in a string (JSON needs it escaped)",
        "raw control character 0x19 in a string (JSON needs it escaped)",
        "raw control character 0x1a in a string (JSON needs it escaped)",
        "raw control character 0x1b in a string (JSON needs it escaped)",
        "raw control character 0x1c in a string (JSON needs it escaped)",
        "raw control character 0x1d in a string (JSON needs it escaped)",
        "raw control character 0x1e in a string (JSON needs it escaped)",
        "raw control character 0x1f in a string (JSON needs it escaped)",
    ];
    JsonError {
        offset,
        message: NAMES[usize::from(byte & 0x1f)],
    }
}

/// Unescapes a string body; an error carries the offset in `raw` where it was found.
fn unescape(raw: &str) -> Result<String, (usize, &'static str)> {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.char_indices();
    while let Some((at, c)) = chars.next() {
        if c < ' ' {
            return Err((at, control_error(at, c as u8).message));
        }
        if c == '\\' {
            let mut rest = chars.by_ref().map(|(_, c)| c);
            out.push(escaped_char(&mut rest).map_err(|m| (at, m))?);
        } else {
            out.push(c);
        }
    }
    Ok(out)
}

/// The character an escape stands for; `chars` starts just past its backslash.
fn escaped_char(chars: &mut impl Iterator<Item = char>) -> Result<char, &'static str> {
    Ok(match chars.next() {
        Some('"') => '"',
        Some('\\') => '\\',
        Some('/') => '/',
        Some('b') => '\u{8}',
        Some('f') => '\u{c}',
        Some('n') => '\n',
        Some('r') => '\r',
        Some('t') => '\t',
        Some('u') => {
            let first = hex4(chars)?;
            let code = if (0xD800..0xDC00).contains(&first) {
                if chars.next() != Some('\\') || chars.next() != Some('u') {
                    return Err("unpaired surrogate in string");
                }
                let second = hex4(chars)?;
                if !(0xDC00..0xE000).contains(&second) {
                    return Err("unpaired surrogate in string");
                }
                0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00)
            } else {
                first
            };
            return char::from_u32(code).ok_or("unpaired surrogate in string");
        }
        _ => return Err("invalid escape in string"),
    })
}

fn hex4(chars: &mut impl Iterator<Item = char>) -> Result<u32, &'static str> {
    let mut code = 0;
    for _ in 0..4 {
        let digit = chars
            .next()
            .and_then(|c| c.to_digit(16))
            .ok_or("invalid \\u escape")?;
        code = code * 16 + digit;
    }
    Ok(code)
}

#[cfg(test)]
mod differential;

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn extract(paths: &[&str], doc: &str) -> Result<Vec<Option<Value>>, JsonError> {
        let compiled = JsonPaths::compile(paths.iter().copied()).expect("paths");
        let mut out = vec![None; paths.len()];
        match compiled.extract(doc.as_bytes(), &mut out) {
            Ok(()) => Ok(out),
            Err(DocumentError::Malformed(e)) => Err(e),
            Err(DocumentError::InvalidUtf8) => panic!("a Rust string is UTF-8"),
        }
    }

    #[test]
    fn extracts_nested_paths_and_counts_containers() {
        let doc = r#"{"data":{"id":"7","n":-1.5e2,"refs":[{"t":1}],"text":"a \"q\" \u00e9"},
                      "includes":{"places":[{"full_name":"Montréal, Québec","place_type":"city"}]}}"#
            .replace('\n', " ");
        let out = extract(
            &[
                "data.id",
                "data.n",
                "data.refs",
                "includes.places[0].full_name",
                "data.text",
                "data.missing",
                "includes.places[1].full_name",
            ],
            &doc,
        )
        .expect("valid");
        assert_eq!(out[0], Some(Value::Str("7".into())));
        assert_eq!(out[1], Some(Value::Int(-150)));
        assert_eq!(
            out[2],
            Some(Value::List(Composite::new(r#"[{"t":1}]"#.into())))
        );
        assert_eq!(out[3], Some(Value::Str("Montréal, Québec".into())));
        assert_eq!(out[4], Some(Value::Str("a \"q\" é".into())));
        assert_eq!(out[5], None);
        assert_eq!(out[6], None);
    }

    #[test]
    fn reports_where_a_document_breaks() {
        let err = extract(&["z"], r#"{"a": 1, "b": [1, 2}"#).expect_err("bad");
        assert_eq!(err.message, "array closed by `}`");
        assert_eq!(err.offset, 19);
        // Members after the wanted ones are still read (a name may repeat), and skipped
        // values are checked for balance.
        let err = extract(&["a"], r#"{"a": 1, "b": [1, 2}"#).expect_err("bad");
        assert_eq!(err.message, "array closed by `}`");
        assert_eq!(err.offset, 19);
        let err = extract(&["a[0]"], r#"{"a": [1, 2}"#).expect_err("bad");
        assert_eq!(err.message, "array closed by `}`");
        assert_eq!(err.offset, 11);
        let err = extract(&["a"], r#"{"a": 1, "b": {"c": [1, 2]"#).expect_err("bad");
        assert_eq!(err.message, "unterminated object");
        assert_eq!(err.offset, 26);
        let err = extract(&["b[5]"], r#"{"a": 1, "b": [1, 2}"#).expect_err("bad");
        assert_eq!(err.message, "expected `,` or `]` in an array");
        assert_eq!(err.offset, 19);
        assert!(extract(&["a"], r#"{"a": "open"#).is_err());
        assert!(extract(&["a"], r#"{"a": 1} x"#).is_err());
        assert!(extract(&["a"], r#"[1]"#).is_err());
        assert!(extract(&["a"], r#"{"a": tru}"#).is_err());
        assert!(JsonPaths::compile(["a..b"]).is_err());
    }

    #[test]
    fn a_line_indexed_while_found_decodes_as_itself() {
        let paths = JsonPaths::compile(["a"]).expect("paths");
        let text = "{\"a\": \"x\"}\r\n{\"a\": 2}";
        let bytes = text.as_bytes();
        let (len, record) = next_line(bytes);
        assert_eq!(len, 12);
        assert_eq!(record, Some(&bytes[..10]));
        let mut out = [None];
        // The record without its line ending reuses the index...
        paths.extract(&bytes[..10], &mut out).expect("valid");
        assert_eq!(out[0], Some(Value::Str("x".into())));
        // Other bytes at the same address are indexed afresh: the line's index would end the
        // array past the end of this part of it.
        let other = b"{\"b\": [1], \"a\": 1}\n";
        next_line(other);
        let mut out = [None];
        let err = paths.extract(&other[..8], &mut out).expect_err("cut short");
        let unterminated = JsonError {
            offset: 8,
            message: "unterminated array",
        };
        assert_eq!(err, DocumentError::Malformed(unterminated));
        // The last line, without a newline.
        let rest = &bytes[len..];
        assert_eq!(next_line(rest), (rest.len(), Some(rest)));
        assert_eq!(next_line(b" \r\n{}"), (3, None));
        let mut out = [None];
        paths.extract(rest, &mut out).expect("valid");
        assert_eq!(out[0], Some(Value::Int(2)));
    }

    proptest! {
        /// Decoding a line just found by [`next_line`] gives what decoding it alone gives,
        /// whatever the line ending and whatever follows.
        #[test]
        fn decodes_a_found_line_as_the_line_alone(
            lines in prop::collection::vec("[\\\\\"a{}:,\\[\\] \r\u{1}é1]{0,80}", 1..6),
        ) {
            let paths = JsonPaths::compile(["a", "b[0]"]).expect("paths");
            let mut text = String::new();
            for line in &lines {
                text.push_str(&format!("{{\"a\":{line}}}"));
                text.push('\n');
            }
            let mut rest = text.as_bytes();
            while !rest.is_empty() {
                let (len, record) = next_line(rest);
                let record = record.expect("no line is blank");
                let mut found = [None, None];
                let found_result = paths.extract(record, &mut found);
                let mut alone = [None, None];
                // The first decode took the line's index: this one builds its own.
                let alone_result = paths.extract(record, &mut alone);
                prop_assert_eq!(found_result, alone_result);
                prop_assert_eq!(&found, &alone);
                rest = &rest[len..];
            }
        }

        /// A document is refused as not UTF-8 exactly when it is not, wherever its non-ASCII
        /// bytes lie: in the first block, across block boundaries or after an ASCII prefix.
        #[test]
        fn refuses_exactly_the_documents_that_are_not_utf8(
            ascii in 0usize..200,
            tail in prop::collection::vec(prop_oneof![
                3 => (0x20u8..0x7f).prop_filter("no quote or backslash", |b| *b != b'"' && *b != b'\\'),
                2 => Just(0xC3u8),
                2 => Just(0xA9u8),
                1 => Just(0xE2u8),
                1 => Just(0x82u8),
                1 => Just(0xACu8),
                1 => 0x80u8..=0xFF,
            ], 0..150),
        ) {
            let mut doc = format!("{{\"a\":\"{}", "x".repeat(ascii)).into_bytes();
            doc.extend_from_slice(&tail);
            doc.extend_from_slice(b"\"}");
            let paths = JsonPaths::compile(["a"]).expect("paths");
            let mut out = [None];
            let result = paths.extract(&doc, &mut out);
            match std::str::from_utf8(&doc) {
                Ok(text) => {
                    prop_assert_eq!(result, Ok(()));
                    let want = &text[6..text.len() - 2];
                    prop_assert_eq!(out[0].clone(), Some(Value::Str(want.into())));
                }
                Err(_) => prop_assert_eq!(result, Err(DocumentError::InvalidUtf8)),
            }
        }

        /// Member names of every length up to past one word match exactly, wherever they lie
        /// in the document (a short name's word is read from the document itself).
        #[test]
        fn matches_member_names_of_any_length(
            members in prop::collection::btree_map("[ab]{0,20}", any::<i64>(), 0..6),
            others in prop::collection::btree_set("[ab]{1,20}", 0..3),
        ) {
            // Every other member's name, and names that may or may not be there.
            let mut wanted: std::collections::BTreeSet<String> =
                members.keys().step_by(2).filter(|k| !k.is_empty()).cloned().collect();
            wanted.extend(others);
            let doc = serde_json::Value::Object(
                members.iter().map(|(k, v)| (k.clone(), serde_json::Value::from(*v))).collect(),
            );
            let text = doc.to_string();
            let paths: Vec<&str> = wanted.iter().map(String::as_str).collect();
            let out = extract(&paths, &text).expect("serde_json output is valid");
            for (path, got) in paths.iter().zip(out) {
                prop_assert_eq!(got, members.get(*path).map(|v| Value::Int(*v)), "path {}", path);
            }
        }
    }
}
