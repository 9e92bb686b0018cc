//! The live store: the latest version of every row the engine wrote, kept in memory for
//! the dashboard API, and the feed of new rows.
//!
//! Rows are upserts as in Cassandra: one row per window and key (or rank), the latest version
//! winning. Windows older than the retention (before the output's newest window minus it) are
//! dropped. The store never blocks a worker for long: one short write lock per batch.

use super::catalog::{Catalog, OutputInfo, Shape};
use super::request::{KeysRequest, LatestRequest, RequestError, RowsRequest};
use crate::aggregate::{Key, ResultRow};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use tokio::sync::broadcast;

/// How many batches of new rows the feed holds for a slow reader before it skips ahead.
const FEED_CAPACITY: usize = 1024;

/// The most rows kept per output, whatever the retention: a per-record output at a high rate
/// would otherwise hold every record of the retention in memory. The oldest windows go first.
pub const MAX_ROWS_PER_OUTPUT: usize = 1_000_000;

/// A row's identity within its window: its rank, or its key.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum RowId {
    Rank(u32),
    Key(Key),
}

/// The rows of one output, by window in time order.
#[derive(Default)]
struct OutputRows {
    windows: BTreeMap<(u64, u64), BTreeMap<RowId, ResultRow>>,
    /// Rows in `windows`.
    rows: usize,
}

impl OutputRows {
    fn insert(&mut self, order: (u64, u64), id: RowId, row: ResultRow) {
        if self
            .windows
            .entry(order)
            .or_default()
            .insert(id, row)
            .is_none()
        {
            self.rows += 1;
        }
    }

    /// Drops windows filed before `oldest`, then the oldest windows while over `cap` rows.
    fn trim(&mut self, oldest: u64, cap: usize) {
        let kept = self.windows.split_off(&(oldest, 0));
        for dropped in std::mem::replace(&mut self.windows, kept).values() {
            self.rows -= dropped.len();
        }
        while self.rows > cap {
            match self.windows.pop_first() {
                Some((_, dropped)) => self.rows -= dropped.len(),
                None => break,
            }
        }
    }
}

/// One batch of new rows as the feed carries it: the output's index and the rows as a JSON
/// array.
#[derive(Clone, Debug)]
pub struct FeedBatch {
    /// Index of the output.
    pub output: usize,
    /// The rows, a JSON array in the API's form.
    pub json: Arc<str>,
}

/// The latest rows of every output, in memory.
pub struct LiveStore {
    catalog: Arc<Catalog>,
    retention_ms: u64,
    outputs: RwLock<Vec<OutputRows>>,
    feed: broadcast::Sender<FeedBatch>,
    ended: AtomicBool,
}

impl LiveStore {
    /// An empty store keeping `retention_ms` of windows per output.
    pub fn new(catalog: Arc<Catalog>, retention_ms: u64) -> LiveStore {
        let outputs = catalog
            .outputs
            .iter()
            .map(|_| OutputRows::default())
            .collect();
        LiveStore {
            catalog,
            retention_ms,
            outputs: RwLock::new(outputs),
            feed: broadcast::channel(FEED_CAPACITY).0,
            ended: AtomicBool::new(false),
        }
    }

    /// The catalog rows are described by.
    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    /// Takes a batch of rows as the engine wrote them.
    pub fn publish(&self, rows: &[ResultRow]) {
        let mut by_output: BTreeMap<usize, Vec<ResultRow>> = BTreeMap::new();
        for row in rows {
            let output = usize::from(row.output);
            let stored = self.catalog.outputs[output].stored(row);
            by_output.entry(output).or_default().push(stored);
        }
        {
            let mut outputs = self.outputs.write().unwrap_or_else(|p| p.into_inner());
            for (&output, rows) in &by_output {
                let info = &self.catalog.outputs[output];
                let store = &mut outputs[output];
                for row in rows {
                    let id = match row.rank {
                        Some(rank) => RowId::Rank(rank),
                        None => RowId::Key(row.key.clone()),
                    };
                    store.insert(info.order(row.window), id, row.clone());
                }
                if let Some((&(newest, _), _)) = store.windows.last_key_value() {
                    store.trim(
                        newest.saturating_sub(self.retention_ms),
                        MAX_ROWS_PER_OUTPUT,
                    );
                }
            }
        }
        if self.feed.receiver_count() == 0 {
            return;
        }
        for (output, rows) in by_output {
            let mut json = String::new();
            self.catalog.write_rows(&rows, &mut json);
            // No reader is not an error: the feed is for whoever listens.
            let _ = self.feed.send(FeedBatch {
                output,
                json: json.into(),
            });
        }
    }

    /// Notes that the input has ended: the rows are complete.
    pub fn end_input(&self) {
        self.ended.store(true, Ordering::Relaxed);
    }

    /// Whether the input has ended.
    pub fn input_ended(&self) -> bool {
        self.ended.load(Ordering::Relaxed)
    }

    /// A reader of the feed of new rows.
    pub fn subscribe(&self) -> broadcast::Receiver<FeedBatch> {
        self.feed.subscribe()
    }

    /// The newest filing time of an output.
    pub fn newest(&self, output: usize) -> Option<u64> {
        let outputs = self.outputs.read().unwrap_or_else(|p| p.into_inner());
        outputs[output].windows.last_key_value().map(|(k, _)| k.0)
    }

    /// The rows a request asks for, in time order, at most `limit`.
    pub fn rows(
        &self,
        request: &RowsRequest,
        limit: usize,
    ) -> Result<Vec<ResultRow>, RequestError> {
        let info = &self.catalog.outputs[request.output];
        let Some((from, to)) = request.span.resolve(self.newest(request.output)) else {
            return Ok(Vec::new());
        };
        let outputs = self.outputs.read().unwrap_or_else(|p| p.into_inner());
        let mut found = Vec::new();
        for rows in outputs[request.output]
            .windows
            .range((from, 0)..=(to, u64::MAX))
            .map(|(_, rows)| rows)
        {
            for row in rows.values() {
                if request.final_only && !row.is_final {
                    continue;
                }
                if let Some(key) = &request.key {
                    if !key_matches(info, row, key) {
                        continue;
                    }
                }
                if found.len() == limit {
                    return Err(RequestError::TooManyRows {
                        output: info.name.clone(),
                        limit,
                    });
                }
                found.push(row.clone());
            }
        }
        Ok(found)
    }

    /// The rows of the newest window (or the newest final one).
    pub fn latest(&self, request: &LatestRequest) -> Vec<ResultRow> {
        let outputs = self.outputs.read().unwrap_or_else(|p| p.into_inner());
        outputs[request.output]
            .windows
            .values()
            .rev()
            .find(|rows| !request.final_only || rows.values().all(|r| r.is_final))
            .map(|rows| rows.values().cloned().collect())
            .unwrap_or_default()
    }

    /// The distinct keys over a request's range, in order.
    pub fn keys(&self, request: &KeysRequest) -> Vec<Key> {
        let Some((from, to)) = request.span.resolve(self.newest(request.output)) else {
            return Vec::new();
        };
        let outputs = self.outputs.read().unwrap_or_else(|p| p.into_inner());
        let mut keys: Vec<Key> = outputs[request.output]
            .windows
            .range((from, 0)..=(to, u64::MAX))
            .flat_map(|(_, rows)| rows.values().map(|r| r.key.clone()))
            .collect();
        keys.sort();
        keys.dedup();
        keys
    }
}

/// Whether `row` has the key given as text (a per-record output by its first field).
pub fn key_matches(info: &OutputInfo, row: &ResultRow, key: &[String]) -> bool {
    let fields = match info.shape {
        Shape::Records => 1,
        Shape::Keyed | Shape::Totals | Shape::Ranked => key.len(),
    };
    row.key.0.len() >= fields
        && row.key.0[..fields]
            .iter()
            .zip(key)
            .all(|(value, text)| value.to_text() == *text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dashboard::request::Span;
    use crate::time::Window;
    use crate::value::Value;

    fn store(retention_ms: u64) -> LiveStore {
        let catalog = crate::dashboard::catalog::test_catalog();
        LiveStore::new(Arc::new(catalog), retention_ms)
    }

    fn row(start: u64, city: &str, n: i64, is_final: bool) -> ResultRow {
        ResultRow {
            output: 0,
            window: Window {
                start,
                end: start + 300_000,
            },
            rank: None,
            key: Key(vec![Value::Str(city.into())].into()),
            values: vec![Value::Int(n)],
            is_final,
        }
    }

    #[test]
    fn keeps_the_latest_version_and_drops_old_windows() {
        let live = store(600_000);
        live.publish(&[row(0, "A", 1, false), row(0, "B", 2, false)]);
        live.publish(&[row(0, "A", 3, true), row(300_000, "A", 4, false)]);
        let all = RowsRequest {
            output: 0,
            key: None,
            span: Span::Between {
                from: 0,
                to: u64::MAX,
            },
            final_only: false,
        };
        let rows = live.rows(&all, 10).expect("rows");
        let summary: Vec<(u64, i64, bool)> = rows
            .iter()
            .map(|r| {
                (
                    r.window.start,
                    r.values[0].as_number().map_or(0, |n| n.as_f64() as i64),
                    r.is_final,
                )
            })
            .collect();
        assert_eq!(summary, [(0, 3, true), (0, 2, false), (300_000, 4, false)]);
        assert!(matches!(
            live.rows(&all, 2),
            Err(RequestError::TooManyRows { limit: 2, .. })
        ));
        let toronto = RowsRequest {
            key: Some(vec!["B".into()]),
            ..all.clone()
        };
        assert_eq!(live.rows(&toronto, 10).expect("rows").len(), 1);
        let finals = RowsRequest {
            final_only: true,
            ..all.clone()
        };
        assert_eq!(live.rows(&finals, 10).expect("rows").len(), 1);
        let latest = live.latest(&LatestRequest {
            output: 0,
            final_only: false,
        });
        assert_eq!(latest.len(), 1);
        assert_eq!(latest[0].window.start, 300_000);
        // A window more than the retention older than the newest is dropped.
        live.publish(&[row(1_200_000, "C", 1, false)]);
        let starts: Vec<u64> = live
            .rows(&all, 10)
            .expect("rows")
            .iter()
            .map(|r| r.window.start)
            .collect();
        assert_eq!(starts, [1_200_000]);
    }

    #[test]
    fn an_output_keeps_at_most_its_cap_of_rows_oldest_windows_first() {
        let mut rows = OutputRows::default();
        for start in 0..5u64 {
            for city in ["A", "B"] {
                let id = RowId::Key(Key(vec![Value::Str(city.into())].into()));
                rows.insert((start, start + 1), id, row(start, city, 1, false));
            }
        }
        rows.insert(
            (4, 5),
            RowId::Key(Key(vec![Value::Str("A".into())].into())),
            row(4, "A", 2, false),
        );
        assert_eq!(rows.rows, 10, "an upsert replaces");
        rows.trim(1, 5);
        assert_eq!(rows.rows, 4);
        let starts: Vec<u64> = rows.windows.keys().map(|k| k.0).collect();
        assert_eq!(starts, [3, 4]);
    }
}
