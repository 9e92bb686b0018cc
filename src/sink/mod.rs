//! Sinks: where result rows, dead letters and late records go.
//!
//! A sink only turns rows into bytes somewhere; it never sees sources or decides anything
//! about windows. Every sink is opened once per process and shared by its workers.

mod jsonl;
mod rejects;
mod rows;

pub use jsonl::JsonlFile;
pub use rejects::{RejectLog, Rejected};
pub use rows::RowFormat;

use std::path::PathBuf;

/// A parsed sink URI.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SinkUri {
    /// `jsonl:PATH`, or `jsonl:-` for standard output.
    Jsonl(Option<PathBuf>),
}

impl SinkUri {
    /// Parses `jsonl:PATH` / `jsonl:-`.
    pub fn parse(uri: &str) -> Result<SinkUri, String> {
        match uri.strip_prefix("jsonl:") {
            Some("-") => Ok(SinkUri::Jsonl(None)),
            Some(path) if !path.is_empty() => Ok(SinkUri::Jsonl(Some(PathBuf::from(path)))),
            _ => Err(format!(
                "`{uri}` is not a sink; allowed: jsonl:PATH, jsonl:- (standard output)"
            )),
        }
    }

    /// Opens the sink for process `process` of `processes`: with more than one process each
    /// writes `PATH.<process>`, and the union of the files is the output.
    pub fn open(&self, process: usize, processes: usize) -> std::io::Result<JsonlFile> {
        match self {
            SinkUri::Jsonl(None) => Ok(JsonlFile::stdout()),
            SinkUri::Jsonl(Some(path)) if processes > 1 => {
                let mut name = path.clone().into_os_string();
                name.push(format!(".{process}"));
                JsonlFile::create(&PathBuf::from(name))
            }
            SinkUri::Jsonl(Some(path)) => JsonlFile::create(path),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_rejects_uris() {
        assert_eq!(SinkUri::parse("jsonl:-"), Ok(SinkUri::Jsonl(None)));
        assert_eq!(
            SinkUri::parse("jsonl:out.jsonl"),
            Ok(SinkUri::Jsonl(Some("out.jsonl".into())))
        );
        assert!(SinkUri::parse("csv:x")
            .unwrap_err()
            .contains("allowed: jsonl:PATH"));
    }
}
