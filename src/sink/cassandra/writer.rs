//! The writer task: batches of rows written as unlogged per-partition batches or single
//! upserts, retried with backoff, each row stamped with a strictly increasing write time.

use super::latency::WriteLatency;
use super::statements::{describe, Statements, Upsert};
use super::{Batch, BATCH_ROWS, CONCURRENCY};
use crate::aggregate::ResultRow;
use crate::sink::cql_schema::Partition;
use scylla::client::session::Session;
use scylla::errors::ExecutionError;
use scylla::statement::batch::{Batch as ScyllaBatch, BatchType};
use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, Semaphore};

pub(super) async fn write_rows(
    session: Arc<Session>,
    statements: Arc<Statements>,
    mut receiver: mpsc::Receiver<Batch>,
    latency: WriteLatency,
) {
    let permits = Arc::new(Semaphore::new(CONCURRENCY));
    let mut tasks = tokio::task::JoinSet::new();
    let mut clock = WriteClock::default();
    while let Some((rows, ticket, fired)) = receiver.recv().await {
        let timestamps: Vec<i64> = rows.iter().map(|_| clock.next()).collect();
        for (index, table) in statements.tables.iter().enumerate() {
            // The rows of each partition of this table, in arrival order, with the first
            // row's key and window (named if the write fails for good).
            let mut partitions: HashMap<Partition<'_>, (Vec<Upsert>, &ResultRow)> = HashMap::new();
            for (row, &timestamp) in rows.iter().zip(&timestamps) {
                if table.output == usize::from(row.output) {
                    partitions
                        .entry(table.partition(row))
                        .or_insert_with(|| (Vec::new(), row))
                        .0
                        .push(statements.upsert(index, row, timestamp));
                }
            }
            for (group, first) in partitions.into_values() {
                let what = describe(&table.name, first);
                let mut group = group.into_iter().peekable();
                while group.peek().is_some() {
                    let upserts: Vec<Upsert> = group.by_ref().take(BATCH_ROWS).collect();
                    let Ok(permit) = Arc::clone(&permits).acquire_owned().await else {
                        return;
                    };
                    let (session, statements, ticket, latency, what) = (
                        Arc::clone(&session),
                        Arc::clone(&statements),
                        Arc::clone(&ticket),
                        latency.clone(),
                        what.clone(),
                    );
                    tasks.spawn(async move {
                        match write(&session, &statements, index, &upserts).await {
                            Ok(()) => {
                                let left = ticket.fetch_sub(upserts.len(), Ordering::Release);
                                if left == upserts.len() {
                                    latency.record(fired);
                                }
                            }
                            // The ticket is never counted down: these rows stay unwritten,
                            // so nothing after them is committed.
                            Err(error) => {
                                let _ = statements.fatal.set(format!(
                                    "Cassandra refused a write for good: {what}: {error}"
                                ));
                            }
                        }
                        drop(permit);
                    });
                }
            }
            while tasks.try_join_next().is_some() {}
        }
    }
    while tasks.join_next().await.is_some() {}
}

/// Writes upserts of one partition of table `index` (one statement, or an unlogged batch,
/// which Cassandra applies to the partition as one mutation), retrying with backoff while
/// the error is one a retry can mend; an error that would repeat for ever is returned.
pub(super) async fn write(
    session: &Session,
    statements: &Statements,
    index: usize,
    upserts: &[Upsert],
) -> Result<(), ExecutionError> {
    let prepared = &statements.prepared[index];
    let batch = (upserts.len() > 1).then(|| {
        let mut batch = ScyllaBatch::new(BatchType::Unlogged);
        for _ in upserts {
            batch.append_statement(prepared.clone());
        }
        batch.set_is_idempotent(true);
        batch
    });
    let mut backoff = Duration::from_millis(50);
    loop {
        let written = match &batch {
            Some(batch) => session.batch(batch, upserts).await.map(drop),
            None => session
                .execute_unpaged(prepared, &upserts[0])
                .await
                .map(drop),
        };
        match written {
            Ok(()) => return Ok(()),
            Err(e) if !crate::sink::retry::is_retryable(&e) => return Err(e),
            Err(e) => {
                statements
                    .failures
                    .report(&statements.tables[index].name, &e);
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        }
    }
}

/// Strictly increasing write timestamps (microseconds since the epoch) for the rows of one
/// writer, so two versions of a row never tie.
#[derive(Default)]
pub(super) struct WriteClock {
    pub(super) last: i64,
}

impl WriteClock {
    pub(super) fn next(&mut self) -> i64 {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_micros() as i64);
        self.last = now.max(self.last + 1);
        self.last
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_timestamps_strictly_increase() {
        let mut clock = WriteClock::default();
        let stamps: Vec<i64> = (0..1000).map(|_| clock.next()).collect();
        assert!(stamps.windows(2).all(|w| w[0] < w[1]));
        assert!(
            stamps[0] > 1_700_000_000_000_000,
            "microseconds since the epoch"
        );
    }
}
