//! Which Cassandra write errors a retry can mend.
//!
//! Timeouts, an unavailable or overloaded node, a lost connection: the same write succeeds
//! later, so the sink retries it with backoff and holds the run back meanwhile. A schema that
//! no longer matches, an invalid query, a refused login or a value the driver cannot bind
//! would fail the same way for ever: the run ends instead, before anything past the row is
//! committed.

use scylla::errors::{DbError, ExecutionError, RequestAttemptError};

/// Whether a failed write may succeed if tried again.
pub fn is_retryable(error: &ExecutionError) -> bool {
    match error {
        ExecutionError::LastAttemptError(RequestAttemptError::DbError(db, _)) => {
            db_error_is_retryable(db)
        }
        ExecutionError::LastAttemptError(
            RequestAttemptError::SerializationError(_)
            | RequestAttemptError::CqlRequestSerialization(_),
        )
        | ExecutionError::BadQuery(_)
        | ExecutionError::PrepareError(_) => false,
        // Connections, pools, timeouts and whatever later driver versions add: transient
        // until shown otherwise, as before.
        _ => true,
    }
}

fn db_error_is_retryable(error: &DbError) -> bool {
    match error {
        DbError::SyntaxError
        | DbError::Invalid
        | DbError::AlreadyExists { .. }
        | DbError::FunctionFailure { .. }
        | DbError::AuthenticationError
        | DbError::Unauthorized
        | DbError::ConfigError
        | DbError::ProtocolError => false,
        DbError::Unavailable { .. }
        | DbError::Overloaded
        | DbError::IsBootstrapping
        | DbError::TruncateError
        | DbError::ReadTimeout { .. }
        | DbError::WriteTimeout { .. }
        | DbError::ReadFailure { .. }
        | DbError::WriteFailure { .. }
        | DbError::Unprepared { .. }
        | DbError::ServerError
        | DbError::RateLimitReached { .. }
        | DbError::Other(_) => true,
        // The enum is non-exhaustive: a code this build does not know is treated as
        // transient, as every error was before.
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_and_query_errors_end_the_run_and_outages_are_retried() {
        let db = |e: DbError| {
            ExecutionError::LastAttemptError(RequestAttemptError::DbError(e, "m".into()))
        };
        assert!(!is_retryable(&db(DbError::Invalid)));
        assert!(!is_retryable(&db(DbError::Unauthorized)));
        assert!(!is_retryable(&db(DbError::SyntaxError)));
        assert!(is_retryable(&db(DbError::Overloaded)));
        assert!(is_retryable(&db(DbError::IsBootstrapping)));
        assert!(is_retryable(&ExecutionError::RequestTimeout(
            std::time::Duration::from_secs(1)
        )));
    }
}
