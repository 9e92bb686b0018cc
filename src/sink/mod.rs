//! Sinks: where result rows, dead letters and late records go.
//!
//! A sink only turns rows into bytes somewhere; it never sees sources or decides anything
//! about windows. Every sink is opened once per process and shared by its workers.

mod cassandra;
mod cql_schema;
mod error;
mod jsonl;
mod kafka;
mod rejects;
mod retry;
mod rows;

pub use cassandra::{CassandraSink, CassandraUri, Ticket};
pub use cql_schema::{ident as cql_ident, key_types, schema_cql, stored_result, KeyType};
pub use error::SinkError;
pub use jsonl::{FileMode, JsonlFile};
pub use kafka::{KafkaSink, KafkaSinkUri};
pub use rejects::{RejectLog, Rejected};
pub use rows::RowFormat;

use crate::aggregate::ResultRow;
use crate::plan::Plan;
use std::path::PathBuf;
use std::time::Instant;

/// A parsed sink URI.
#[derive(Clone, Debug)]
pub enum SinkUri {
    /// `jsonl:PATH`, or `jsonl:-` for standard output.
    Jsonl(Option<PathBuf>),
    /// `cassandra://HOST:PORT/KEYSPACE?...`.
    Cassandra(CassandraUri),
    /// `kafka://HOST:PORT/TOPIC?...`.
    Kafka(KafkaSinkUri),
}

impl SinkUri {
    /// Parses `jsonl:PATH`, `jsonl:-`, `cassandra://...` or `kafka://...`.
    pub fn parse(uri: &str) -> Result<SinkUri, SinkError> {
        if uri.starts_with("cassandra://") {
            return CassandraUri::parse(uri).map(SinkUri::Cassandra);
        }
        if uri.starts_with("kafka://") {
            return KafkaSinkUri::parse(uri).map(SinkUri::Kafka);
        }
        match uri.strip_prefix("jsonl:") {
            Some("-") => Ok(SinkUri::Jsonl(None)),
            Some(path) if !path.is_empty() => Ok(SinkUri::Jsonl(Some(PathBuf::from(path)))),
            _ => Err(SinkError::Unknown(uri.to_string())),
        }
    }

    /// Opens a JSONL sink for process `process` of `processes`: with more than one process
    /// each writes `PATH.<process>`, and the union of the files is the output.
    pub fn open_jsonl(
        &self,
        process: usize,
        processes: usize,
        mode: FileMode,
    ) -> std::io::Result<JsonlFile> {
        match self {
            SinkUri::Cassandra(_) => Err(std::io::Error::other(
                "only result rows can go to Cassandra",
            )),
            SinkUri::Kafka(_) => Err(std::io::Error::other("only result rows can go to Kafka")),
            SinkUri::Jsonl(None) => Ok(JsonlFile::stdout()),
            SinkUri::Jsonl(Some(path)) if processes > 1 => {
                let mut name = path.clone().into_os_string();
                name.push(format!(".{process}"));
                JsonlFile::create(&PathBuf::from(name), mode)
            }
            SinkUri::Jsonl(Some(path)) => JsonlFile::create(path, mode),
        }
    }
}

/// What a sink did with offered rows.
pub enum Offer {
    /// Written (and flushed).
    Written,
    /// Taken; written once the ticket reaches zero.
    Accepted(Ticket),
    /// Not taken now (the sink is behind); offer them again later.
    Refused(Vec<ResultRow>),
}

/// Where result rows go: one implementation per kind of sink, chosen by [`open`].
pub trait RowSink: Send + Sync {
    /// Takes rows without blocking; `fired` is when their window fired, which the write
    /// latency is measured from.
    fn offer(
        &self,
        rows: Vec<ResultRow>,
        fired: Instant,
        format: &RowFormat,
    ) -> Result<Offer, SinkError>;

    /// The sink's kind, as metrics label it.
    fn kind(&self) -> &'static str;

    /// A write that failed for good, after which the run cannot go on.
    fn failure(&self) -> Option<String> {
        None
    }

    /// Finishes writing everything accepted so far.
    fn finish(&self) -> Result<(), SinkError>;
}

/// Opens the result sink `uri` names for process `process` of `processes`; a JSONL file is
/// opened in `mode`.
pub fn open(
    uri: &SinkUri,
    plan: &Plan,
    process: usize,
    processes: usize,
    mode: FileMode,
) -> Result<Box<dyn RowSink>, SinkError> {
    Ok(match uri {
        SinkUri::Jsonl(_) => Box::new(uri.open_jsonl(process, processes, mode)?),
        SinkUri::Cassandra(cassandra) => Box::new(CassandraSink::connect(cassandra, plan)?),
        SinkUri::Kafka(kafka) => Box::new(KafkaSink::connect(kafka)?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_rejects_uris() {
        assert!(matches!(
            SinkUri::parse("jsonl:-"),
            Ok(SinkUri::Jsonl(None))
        ));
        assert!(matches!(
            SinkUri::parse("jsonl:out.jsonl"),
            Ok(SinkUri::Jsonl(Some(path))) if path == std::path::Path::new("out.jsonl")
        ));
        assert!(SinkUri::parse("csv:x")
            .unwrap_err()
            .to_string()
            .contains("allowed: jsonl:PATH"));
        assert!(matches!(
            SinkUri::parse("cassandra://127.0.0.1:9042/evilnet"),
            Ok(SinkUri::Cassandra(_))
        ));
    }
}
