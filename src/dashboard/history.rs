//! The history store: answers dashboard requests from the Cassandra tables the sink writes.
//!
//! Every read is a single-partition read (one key's table) or a read of the day partitions
//! a range touches (at most [`super::request::MAX_SPAN_DAYS`] + 1 of them); none needs
//! `ALLOW FILTERING`. Finding an output's newest day lists the day partitions with
//! `SELECT DISTINCT day`, which reads partition keys only.

use super::catalog::{Catalog, OutputInfo, Shape};
use super::live::key_matches;
use super::request::{KeysRequest, LatestRequest, RequestError, RowsRequest, Span};
use crate::aggregate::{Key, ResultRow};
use crate::sink::{cql_ident as ident, CassandraUri, KeyType};
use crate::time::Window;
use crate::value::Value;
use scylla::client::session::Session;
use scylla::value::{CqlDate, CqlTimestamp, CqlValue, Row};
use std::sync::Arc;
use std::time::Duration;
use thiserror::Error;

const DAY_MS: u64 = 86_400_000;

/// A failed read.
#[derive(Debug, Error)]
pub enum HistoryError {
    /// No node could be reached, or the login was refused.
    #[error(transparent)]
    Connect(#[from] crate::cassandra_access::CassandraAccessError),
    /// A read failed.
    #[error("Cassandra read failed: {message} ({cql})")]
    Read {
        /// The statement.
        cql: String,
        /// The driver's error.
        message: String,
    },
}

/// Dashboard reads over one keyspace.
pub struct HistoryStore {
    catalog: Arc<Catalog>,
    session: Session,
    keyspace: String,
}

impl HistoryStore {
    /// Connects to the cluster `uri` names; reads go to its keyspace.
    pub async fn connect(uri: &CassandraUri, catalog: Arc<Catalog>) -> Result<Self, HistoryError> {
        let builder = uri
            .access
            .builder()?
            .connection_timeout(Duration::from_secs(10));
        let session = uri.access.connect(builder).await?;
        Ok(HistoryStore {
            catalog,
            session,
            keyspace: uri.keyspace.clone(),
        })
    }

    /// The catalog rows are described by.
    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    /// The table partitioned by day that holds every row of an output.
    fn day_table(&self, info: &OutputInfo) -> String {
        match info.shape {
            Shape::Ranked | Shape::Records => format!("{}.{}", self.keyspace, ident(&info.name)),
            Shape::Keyed | Shape::Totals => {
                format!(
                    "{}.{}",
                    self.keyspace,
                    ident(&format!("{}_by_window", info.name))
                )
            }
        }
    }

    /// The columns a row is read from, in [`Self::to_row`]'s order.
    fn columns(info: &OutputInfo) -> String {
        let mut columns = vec!["window_start".to_string(), "window_end".to_string()];
        if info.shape == Shape::Ranked {
            columns.push("rank".into());
        }
        columns.extend(info.keys.iter().map(|k| ident(k)));
        columns.extend(info.aggregates.iter().map(|(name, _)| ident(name)));
        columns.push("final".into());
        columns.join(", ")
    }

    fn to_row(output: usize, info: &OutputInfo, row: Row) -> ResultRow {
        let mut columns = row.columns.into_iter();
        let mut next = || columns.next().flatten();
        let mut time = || match next() {
            Some(CqlValue::Timestamp(CqlTimestamp(ms))) => u64::try_from(ms).unwrap_or(0),
            _ => 0,
        };
        let start = time();
        let end = time();
        let rank = match info.shape {
            Shape::Ranked => match next() {
                Some(CqlValue::Int(rank)) => u32::try_from(rank).ok(),
                _ => None,
            },
            Shape::Keyed | Shape::Totals | Shape::Records => None,
        };
        let key: Vec<Value> = info.key_types().iter().map(|_| value(next())).collect();
        let values: Vec<Value> = info.result_types().iter().map(|_| value(next())).collect();
        let is_final = matches!(next(), Some(CqlValue::Boolean(true)));
        ResultRow {
            output: output as u16,
            window: Window { start, end },
            rank,
            key: Key(key.into()),
            values,
            is_final,
        }
    }

    async fn select(&self, cql: &str, values: Vec<CqlValue>) -> Result<Vec<Row>, HistoryError> {
        let failed = |e: &dyn std::fmt::Display| HistoryError::Read {
            cql: cql.to_string(),
            message: e.to_string(),
        };
        let result = self
            .session
            .query_unpaged(cql, values)
            .await
            .map_err(|e| failed(&e))?
            .into_rows_result()
            .map_err(|e| failed(&e))?;
        let rows = result
            .rows::<Row>()
            .map_err(|e| failed(&e))?
            .collect::<Result<Vec<Row>, _>>()
            .map_err(|e| failed(&e))?;
        Ok(rows)
    }

    /// Reads the rows of one statement, keeping those `keep` accepts.
    async fn read_into(
        &self,
        cql: &str,
        values: Vec<CqlValue>,
        output: usize,
        keep: &impl Fn(&ResultRow) -> bool,
        found: &mut Vec<ResultRow>,
    ) -> Result<(), HistoryError> {
        let info = &self.catalog.outputs[output];
        for row in self.select(cql, values).await? {
            let row = Self::to_row(output, info, row);
            if keep(&row) {
                found.push(row);
            }
        }
        Ok(())
    }

    /// The days holding an output's rows, newest first.
    async fn days(&self, info: &OutputInfo) -> Result<Vec<u64>, HistoryError> {
        let cql = format!("SELECT DISTINCT day FROM {}", self.day_table(info));
        let mut days: Vec<u64> = self
            .select(&cql, Vec::new())
            .await?
            .into_iter()
            .filter_map(|row| match row.columns.into_iter().next().flatten() {
                Some(CqlValue::Date(CqlDate(d))) => u64::from(d).checked_sub(1 << 31),
                _ => None,
            })
            .collect();
        days.sort_unstable_by(|a, b| b.cmp(a));
        Ok(days)
    }

    /// The newest filing time of an output.
    pub async fn newest(&self, output: usize) -> Result<Option<u64>, HistoryError> {
        let info = &self.catalog.outputs[output];
        let cql = format!(
            "SELECT {time} FROM {table} WHERE day = ? LIMIT 1",
            time = info.time_column(),
            table = self.day_table(info)
        );
        for day in self.days(info).await? {
            if let Some(CqlValue::Timestamp(CqlTimestamp(ms))) = self
                .select(&cql, vec![date(day)])
                .await?
                .into_iter()
                .next()
                .and_then(|row| row.columns.into_iter().next().flatten())
            {
                return Ok(u64::try_from(ms).ok());
            }
        }
        Ok(None)
    }

    /// A span as `(from, to)` inclusive; `None` for `last` over an output with no rows.
    async fn range(&self, span: Span, output: usize) -> Result<Option<(u64, u64)>, HistoryError> {
        let newest = match span {
            Span::Last(_) => self.newest(output).await?,
            Span::Between { .. } => None,
        };
        Ok(span.resolve(newest))
    }

    /// The rows a request asks for, in time order, at most `limit`.
    pub async fn rows(
        &self,
        request: &RowsRequest,
        limit: usize,
    ) -> Result<Result<Vec<ResultRow>, RequestError>, HistoryError> {
        let output = request.output;
        let info = &self.catalog.outputs[output];
        let Some((from, to)) = self.range(request.span, output).await? else {
            return Ok(Ok(Vec::new()));
        };
        let columns = Self::columns(info);
        let mut found: Vec<ResultRow> = Vec::new();
        let one_partition = match (&request.key, info.shape) {
            (Some(key), Shape::Keyed) => Some(key),
            (Some(_) | None, Shape::Keyed | Shape::Totals | Shape::Ranked | Shape::Records) => None,
        };
        let too_many = || RequestError::TooManyRows {
            output: info.name.clone(),
            limit,
        };
        let keep = |row: &ResultRow| {
            (!request.final_only || row.is_final)
                && request
                    .key
                    .as_ref()
                    .is_none_or(|key| key_matches(info, row, key))
        };
        if let Some(key) = one_partition {
            let Some(mut values) = bind_key(info, key) else {
                return Ok(Ok(Vec::new()));
            };
            let equal: Vec<String> = info
                .keys
                .iter()
                .map(|k| format!("{} = ?", ident(k)))
                .collect();
            let cql = format!(
                "SELECT {columns} FROM {ks}.{table} WHERE {equal} AND window_start >= ? AND window_start <= ? LIMIT ?",
                ks = self.keyspace,
                table = ident(&info.name),
                equal = equal.join(" AND "),
            );
            values.extend([
                timestamp(from),
                timestamp(to),
                CqlValue::Int(read_limit(limit)),
            ]);
            self.read_into(&cql, values, output, &keep, &mut found)
                .await?;
        } else {
            let cql = format!(
                "SELECT {columns} FROM {table} WHERE day = ? AND {time} >= ? AND {time} <= ? LIMIT ?",
                table = self.day_table(info),
                time = info.time_column(),
            );
            for day in from / DAY_MS..=to / DAY_MS {
                let values = vec![
                    date(day),
                    timestamp(from),
                    timestamp(to),
                    CqlValue::Int(read_limit(limit)),
                ];
                self.read_into(&cql, values, output, &keep, &mut found)
                    .await?;
                if found.len() > limit {
                    return Ok(Err(too_many()));
                }
            }
        }
        if found.len() > limit {
            return Ok(Err(too_many()));
        }
        sort(info, &mut found);
        Ok(Ok(found))
    }

    /// The rows of the newest window (or the newest final one).
    pub async fn latest(&self, request: &LatestRequest) -> Result<Vec<ResultRow>, HistoryError> {
        let output = request.output;
        let info = &self.catalog.outputs[output];
        let table = self.day_table(info);
        let windows = format!("SELECT window_start, window_end, final FROM {table} WHERE day = ?");
        for day in self.days(info).await? {
            // Newest first: the clustering order of every day table.
            let mut candidates: Vec<(Window, bool)> = Vec::new();
            for row in self.select(&windows, vec![date(day)]).await? {
                let read = Self::to_window(row);
                match candidates.last_mut() {
                    Some((window, all_final)) if *window == read.0 => *all_final &= read.1,
                    _ => candidates.push(read),
                }
            }
            let Some((window, _)) = candidates
                .into_iter()
                .find(|(_, all_final)| !request.final_only || *all_final)
            else {
                continue;
            };
            let (cql, values) = match info.shape {
                Shape::Ranked => (
                    format!(
                        "SELECT {} FROM {table} WHERE day = ? AND window_end = ?",
                        Self::columns(info)
                    ),
                    vec![date(day), timestamp(window.end)],
                ),
                Shape::Keyed | Shape::Totals | Shape::Records => (
                    format!(
                        "SELECT {} FROM {table} WHERE day = ? AND window_start = ?",
                        Self::columns(info)
                    ),
                    vec![date(day), timestamp(window.start)],
                ),
            };
            let mut rows: Vec<ResultRow> = self
                .select(&cql, values)
                .await?
                .into_iter()
                .map(|row| Self::to_row(output, info, row))
                .filter(|row| row.window == window)
                .collect();
            sort(info, &mut rows);
            return Ok(rows);
        }
        Ok(Vec::new())
    }

    fn to_window(row: Row) -> (Window, bool) {
        let mut columns = row.columns.into_iter();
        let mut time = || match columns.next().flatten() {
            Some(CqlValue::Timestamp(CqlTimestamp(ms))) => u64::try_from(ms).unwrap_or(0),
            _ => 0,
        };
        let start = time();
        let end = time();
        let is_final = matches!(columns.next().flatten(), Some(CqlValue::Boolean(true)));
        (Window { start, end }, is_final)
    }

    /// The distinct keys over a request's range, in order.
    pub async fn keys(&self, request: &KeysRequest) -> Result<Vec<Key>, HistoryError> {
        let output = request.output;
        let info = &self.catalog.outputs[output];
        let Some((from, to)) = self.range(request.span, output).await? else {
            return Ok(Vec::new());
        };
        let key_columns: Vec<String> = info.keys.iter().map(|k| ident(k)).collect();
        let cql = format!(
            "SELECT {} FROM {table} WHERE day = ? AND {time} >= ? AND {time} <= ?",
            key_columns.join(", "),
            table = self.day_table(info),
            time = info.time_column(),
        );
        let mut keys = Vec::new();
        for day in from / DAY_MS..=to / DAY_MS {
            for row in self
                .select(&cql, vec![date(day), timestamp(from), timestamp(to)])
                .await?
            {
                keys.push(Key(row.columns.into_iter().map(value).collect()));
            }
        }
        keys.sort();
        keys.dedup();
        Ok(keys)
    }
}

/// Orders rows as the live store does: by window in time order, then rank or key.
fn sort(info: &OutputInfo, rows: &mut [ResultRow]) {
    rows.sort_by(|a, b| {
        (info.order(a.window), a.rank, &a.key).cmp(&(info.order(b.window), b.rank, &b.key))
    });
}

/// The values binding a key given as text; `None` when a numeric column's value is not a
/// number (no row can match).
fn bind_key(info: &OutputInfo, key: &[String]) -> Option<Vec<CqlValue>> {
    key.iter()
        .zip(info.key_types())
        .map(|(text, kind)| match kind {
            KeyType::Text => Some(CqlValue::Text(text.clone())),
            KeyType::Double => text.parse().ok().map(CqlValue::Double),
        })
        .collect()
}

fn value(cql: Option<CqlValue>) -> Value {
    match cql {
        Some(CqlValue::Text(text)) => Value::Str(text.into()),
        Some(CqlValue::Double(f)) => Value::Float(f),
        Some(CqlValue::BigInt(i)) => Value::Int(i),
        _ => Value::Null,
    }
}

fn date(day: u64) -> CqlValue {
    CqlValue::Date(CqlDate((1u32 << 31) + day as u32))
}

fn timestamp(ms: u64) -> CqlValue {
    CqlValue::Timestamp(CqlTimestamp(i64::try_from(ms).unwrap_or(i64::MAX)))
}

/// One more row than the limit, so an answer over it is known to be over it.
fn read_limit(limit: usize) -> i32 {
    i32::try_from(limit.saturating_add(1)).unwrap_or(i32::MAX)
}
