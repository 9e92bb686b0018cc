//! Setting up the keyspace and tables, the prepared upserts, and the log of failed writes.

use super::CassandraUri;
use crate::aggregate::ResultRow;
use crate::plan::Plan;
use crate::sink::cql_schema::{schema_cql, tables, Table};
use crate::sink::SinkError;
use scylla::client::execution_profile::ExecutionProfile;
use scylla::client::session::Session;
use scylla::statement::prepared::PreparedStatement;
use scylla::value::{CqlValue, MaybeUnset};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

pub(super) struct Statements {
    pub(super) tables: Vec<Table>,
    pub(super) prepared: Vec<PreparedStatement>,
    pub(super) ttl: Option<i32>,
    pub(super) failures: FailureLog,
    /// The first write that failed for good (see [`super::retry`]): its rows are never
    /// counted as written, and the run ends with it.
    pub(super) fatal: Arc<OnceLock<String>>,
}

/// Logs failed writes at most once per interval, with how many failed since, so an outage
/// with thousands of rows retrying gives a readable log.
#[derive(Default)]
pub(super) struct FailureLog {
    pub(super) since_last: AtomicUsize,
    pub(super) last: Mutex<Option<std::time::Instant>>,
}

impl FailureLog {
    const INTERVAL: Duration = Duration::from_secs(5);

    pub(super) fn report(&self, table: &str, error: &dyn std::fmt::Display) {
        let failed = self.since_last.fetch_add(1, Ordering::Relaxed) + 1;
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        if last.is_none_or(|at| at.elapsed() >= Self::INTERVAL) {
            *last = Some(std::time::Instant::now());
            self.since_last.store(0, Ordering::Relaxed);
            tracing::warn!(
                "Cassandra writes failing ({failed} failed attempts since the last report, \
                 retrying with backoff up to 5s); latest into {table}: {error}"
            );
        }
    }
}

pub(super) async fn prepare(
    uri: &CassandraUri,
    plan: &Plan,
) -> Result<(Session, Statements), SinkError> {
    let profile = ExecutionProfile::builder()
        .consistency(uri.consistency)
        .request_timeout(Some(Duration::from_secs(10)))
        .build();
    let builder = uri
        .access
        .builder()?
        .default_execution_profile_handle(profile.into_handle());
    let session = uri.access.connect(builder).await?;
    for statement in schema_cql(plan, &uri.keyspace, uri.replication)
        .split(';')
        .map(str::trim)
    {
        let statement: String = statement
            .lines()
            .filter(|l| !l.starts_with("--"))
            .collect::<Vec<_>>()
            .join("\n");
        if statement.trim().is_empty() {
            continue;
        }
        session
            .query_unpaged(statement.clone(), ())
            .await
            .map_err(|e| SinkError::Schema {
                statement: statement.clone(),
                message: e.to_string(),
            })?;
    }
    let tables = tables(plan);
    let mut prepared = Vec::with_capacity(tables.len());
    for table in &tables {
        let mut statement = session
            .prepare(table.insert(&uri.keyspace, uri.ttl.is_some()))
            .await
            .map_err(|e| SinkError::Prepare {
                table: table.name.clone(),
                message: e.to_string(),
            })?;
        statement.set_is_idempotent(true);
        prepared.push(statement);
    }
    Ok((
        session,
        Statements {
            tables,
            prepared,
            ttl: uri.ttl,
            failures: FailureLog::default(),
            fatal: Arc::default(),
        },
    ))
}

/// The bound values of one upsert: the row's columns, its write timestamp and the TTL.
pub(super) type Upsert = Vec<MaybeUnset<Option<CqlValue>>>;

impl Statements {
    /// The values of `row`'s upsert into table `index`, written at `timestamp`. A missing
    /// value is left unset where the table allows it (no tombstone per empty cell; see
    /// [`Table::keeps_missing_unset`]) and written as null elsewhere.
    pub(super) fn upsert(&self, index: usize, row: &ResultRow, timestamp: i64) -> Upsert {
        let table = &self.tables[index];
        let unset = table.keeps_missing_unset();
        let mut values: Upsert = table
            .values(row)
            .into_iter()
            .map(|value| match value {
                None if unset => MaybeUnset::Unset,
                value => MaybeUnset::Set(value),
            })
            .collect();
        values.push(MaybeUnset::Set(Some(CqlValue::BigInt(timestamp))));
        if let Some(ttl) = self.ttl {
            values.push(MaybeUnset::Set(Some(CqlValue::Int(ttl))));
        }
        values
    }
}

/// Names a row for an error: its table, key and window.
pub(super) fn describe(table: &str, row: &ResultRow) -> String {
    let mut key = String::new();
    for (i, value) in row.key.0.iter().enumerate() {
        if i > 0 {
            key.push_str(", ");
        }
        value.write_json(&mut key);
    }
    format!(
        "table {table}, key [{key}], window {} .. {}",
        crate::time::format_rfc3339_millis(row.window.start),
        crate::time::format_rfc3339_millis(row.window.end)
    )
}
