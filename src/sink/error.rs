//! Why a sink could not be opened or could not write.

use crate::cassandra_access::CassandraAccessError;
use crate::uri::UriError;
use thiserror::Error;

/// A sink that cannot be used, or a write that failed.
#[derive(Debug, Error)]
pub enum SinkError {
    /// Not a sink URI this build knows.
    #[error("`{0}` is not a sink; allowed: jsonl:PATH, jsonl:- (standard output), cassandra://HOST:PORT/KEYSPACE, kafka://HOST:PORT/TOPIC")]
    Unknown(String),
    /// A malformed Cassandra URI.
    #[error(transparent)]
    Uri(#[from] UriError),
    /// Cassandra could not be reached or refused the login.
    #[error(transparent)]
    Access(#[from] CassandraAccessError),
    /// A file could not be opened or written.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// The keyspace or a table could not be created.
    #[error("Cassandra schema: {message}\n{statement}")]
    Schema {
        /// The statement.
        statement: String,
        /// Cassandra's answer.
        message: String,
    },
    /// An upsert could not be prepared.
    #[error("Cassandra: cannot prepare the upsert into {table}: {message}")]
    Prepare {
        /// The table.
        table: String,
        /// Cassandra's answer.
        message: String,
    },
    /// Kafka could not be reached, refused the login, or refused a message for good.
    #[error("{0}")]
    Kafka(String),
    /// The client's runtime or writer task failed.
    #[error("the Cassandra writer failed: {0}")]
    Writer(String),
}
