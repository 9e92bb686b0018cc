//! What `tidemark produce` reads: files (JSONL, or CSV turned into one JSON object per row),
//! the deterministic generators, or standard input, one message per line.

use crate::gen::{GenKind, GenOptions, Generator};
use crate::value::write_json_string;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use thiserror::Error;

/// A source that cannot be opened or read.
#[derive(Debug, Error)]
pub enum InputError {
    /// A generator URI with bad options.
    #[error("`{uri}`: {why}")]
    Generator {
        /// The URI.
        uri: String,
        /// What is wrong.
        why: crate::gen::GenError,
    },
    /// Files that do not exist or match nothing.
    #[error(transparent)]
    Files(#[from] crate::source::SourceError),
    /// A file that cannot be opened.
    #[error("cannot open {name}: {source}")]
    Open {
        /// The file.
        name: String,
        /// Why.
        source: std::io::Error,
    },
    /// A read that failed.
    #[error("{name}: {at}: {source}")]
    Read {
        /// The input.
        name: String,
        /// Where (`line N`).
        at: String,
        /// Why.
        source: std::io::Error,
    },
    /// CSV that cannot be read.
    #[error("{name}: {at}: {source}")]
    Csv {
        /// The file.
        name: String,
        /// Where (`header`, `record N`).
        at: String,
        /// Why.
        source: csv::Error,
    },
}

/// One source of messages, as named on the command line.
#[derive(Clone, Debug)]
pub enum InputUri {
    /// `file:PATH` (a glob gives its files in path order).
    File(PathBuf),
    /// `gen:tweets|taxi|stocks?count=N&seed=S&rate=R&...` (see [`GenOptions::parse_uri`]).
    Generated(GenKind, GenOptions),
    /// `-`: lines from standard input.
    Stdin,
}

impl InputUri {
    /// Parses one SOURCE argument; globs expand to several.
    pub fn parse(uri: &str) -> Result<Vec<InputUri>, InputError> {
        if uri == "-" {
            return Ok(vec![InputUri::Stdin]);
        }
        if let Some(text) = uri.strip_prefix("gen:") {
            let parsed = GenOptions::parse_uri(text).map_err(|why| InputError::Generator {
                uri: uri.to_string(),
                why,
            })?;
            return Ok(vec![InputUri::Generated(parsed.kind, parsed.options)]);
        }
        let partitions = crate::source::partitions(uri, None)?;
        Ok(partitions
            .into_iter()
            .map(|p| InputUri::File(p.path))
            .collect())
    }

    /// Whether the same argument gives the same messages again (so a restart can skip
    /// what was already produced).
    pub fn is_replayable(&self) -> bool {
        !matches!(self, InputUri::Stdin)
    }
}

enum Open {
    Lines(Box<dyn BufRead>),
    Csv {
        reader: csv::Reader<std::fs::File>,
        header: Vec<String>,
        row: csv::StringRecord,
    },
    Generated(Generator),
}

/// Reads the messages of all inputs in order.
pub struct Inputs {
    uris: Vec<InputUri>,
    next_uri: usize,
    open: Option<(Open, String)>,
    line_number: u64,
    text: String,
}

impl Inputs {
    /// Reads `uris` in order.
    pub fn new(uris: Vec<InputUri>) -> Inputs {
        Inputs {
            uris,
            next_uri: 0,
            open: None,
            line_number: 0,
            text: String::new(),
        }
    }

    /// Fills `message` with the next message (without its newline); `false` at the end.
    /// Empty lines are skipped.
    pub fn next(&mut self, message: &mut Vec<u8>) -> Result<bool, InputError> {
        loop {
            if self.open.is_none() {
                let Some(uri) = self.uris.get(self.next_uri) else {
                    return Ok(false);
                };
                self.next_uri += 1;
                self.line_number = 0;
                self.open = Some(open(uri)?);
            }
            let (open, name) = self.open.as_mut().expect("open input");
            message.clear();
            let more = match open {
                Open::Lines(reader) => {
                    self.line_number += 1;
                    let read =
                        reader
                            .read_until(b'\n', message)
                            .map_err(|source| InputError::Read {
                                name: name.clone(),
                                at: format!("line {}", self.line_number),
                                source,
                            })?;
                    while matches!(message.last(), Some(b'\n' | b'\r')) {
                        message.pop();
                    }
                    if read > 0 && message.is_empty() {
                        continue;
                    }
                    read > 0
                }
                Open::Csv {
                    reader,
                    header,
                    row,
                } => {
                    let more = reader.read_record(row).map_err(|e| InputError::Csv {
                        name: name.clone(),
                        at: format!("record {}", reader.position().record()),
                        source: e,
                    })?;
                    if more {
                        csv_row_as_json(header, row, &mut self.text);
                        message.extend_from_slice(self.text.as_bytes());
                    }
                    more
                }
                Open::Generated(generator) => {
                    let more = generator.next_line(&mut self.text);
                    if more {
                        message.extend_from_slice(self.text.trim_end().as_bytes());
                    }
                    more
                }
            };
            if more {
                return Ok(true);
            }
            self.open = None;
        }
    }
}

fn open(uri: &InputUri) -> Result<(Open, String), InputError> {
    Ok(match uri {
        InputUri::Stdin => (
            Open::Lines(Box::new(BufReader::with_capacity(
                1 << 20,
                std::io::stdin(),
            ))),
            "standard input".to_string(),
        ),
        InputUri::Generated(kind, options) => (
            Open::Generated(Generator::new(*kind, options)),
            format!("gen:{}", kind.name()),
        ),
        InputUri::File(path) => {
            let name = path.display().to_string();
            let file = std::fs::File::open(path).map_err(|source| InputError::Open {
                name: name.clone(),
                source,
            })?;
            let is_csv = path
                .extension()
                .is_some_and(|e| e.eq_ignore_ascii_case("csv"));
            if is_csv {
                let mut reader = csv::ReaderBuilder::new().flexible(true).from_reader(file);
                let header = reader
                    .headers()
                    .map_err(|e| InputError::Csv {
                        name: name.clone(),
                        at: "header".to_string(),
                        source: e,
                    })?
                    .iter()
                    .map(String::from)
                    .collect();
                (
                    Open::Csv {
                        reader,
                        header,
                        row: csv::StringRecord::new(),
                    },
                    name,
                )
            } else {
                (
                    Open::Lines(Box::new(BufReader::with_capacity(1 << 20, file))),
                    name,
                )
            }
        }
    })
}

/// A CSV row as a JSON object of its non-empty columns, named by the header, values as
/// strings (the engine parses numbers and times from strings as it does from CSV).
fn csv_row_as_json(header: &[String], row: &csv::StringRecord, out: &mut String) {
    out.clear();
    out.push('{');
    let mut first = true;
    for (name, value) in header.iter().zip(row.iter()) {
        if value.is_empty() {
            continue;
        }
        if !first {
            out.push_str(", ");
        }
        first = false;
        write_json_string(name, out);
        out.push_str(": ");
        write_json_string(value, out);
    }
    out.push('}');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(inputs: &mut Inputs) -> Vec<String> {
        let mut message = Vec::new();
        let mut out = Vec::new();
        while inputs.next(&mut message).expect("read") {
            out.push(String::from_utf8(message.clone()).expect("utf8"));
        }
        out
    }

    #[test]
    fn files_csv_and_generators_give_one_message_per_record() {
        let dir = tempfile::tempdir().expect("dir");
        let jsonl = dir.path().join("a.jsonl");
        std::fs::write(&jsonl, "{\"a\": 1}\n\n{\"a\": 2}\r\n{\"a\": 3}").expect("write");
        let csv = dir.path().join("b.csv");
        std::fs::write(&csv, "Trip ID,Fare,Note\nt1,$5.25,\"x, y\"\nt2,,z\n").expect("write");
        let mut uris = InputUri::parse(&format!("file:{}", jsonl.display())).expect("jsonl");
        uris.extend(InputUri::parse(&format!("file:{}", csv.display())).expect("csv"));
        uris.extend(InputUri::parse("gen:tweets?count=3&seed=9").expect("gen"));
        uris.extend(InputUri::parse("gen:stocks?count=2").expect("gen"));
        let messages = all(&mut Inputs::new(uris));
        assert_eq!(messages.len(), 10);
        assert_eq!(&messages[..3], ["{\"a\": 1}", "{\"a\": 2}", "{\"a\": 3}"]);
        assert_eq!(
            messages[3],
            r#"{"Trip ID": "t1", "Fare": "$5.25", "Note": "x, y"}"#
        );
        assert_eq!(messages[4], r#"{"Trip ID": "t2", "Note": "z"}"#);
        for tweet in &messages[5..8] {
            let v: serde_json::Value = serde_json::from_str(tweet).expect("json");
            assert!(v.pointer("/data/id").is_some());
        }
        for tick in &messages[8..] {
            let v: serde_json::Value = serde_json::from_str(tick).expect("json");
            assert!(v.pointer("/symbol").is_some());
        }
    }

    #[test]
    fn bad_generator_parameters_are_named() {
        let e = InputUri::parse("gen:tweets?count=ten")
            .expect_err("bad")
            .to_string();
        assert!(e.contains("count must be a whole number"), "{e}");
        let e = InputUri::parse("gen:trains").expect_err("bad").to_string();
        assert!(e.contains("unknown generator `trains`"), "{e}");
        assert!(InputUri::parse("file:/no/such/file.jsonl").is_err());
    }
}
