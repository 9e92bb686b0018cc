//! The Cassandra sink: idempotent upserts of result rows through the `scylla` driver.
//!
//! The engine owns one tokio runtime per process with one writer task that owns the session.
//! Timely workers hand rows over through a bounded channel and never block: a full channel
//! is the backpressure signal, and the sink operator keeps the rows (and holds its
//! capability, so the run cannot end) until they are accepted; meanwhile the sources hold
//! off reading (see `engine/sink_lag.rs`). The writer retries every
//! failed write with backoff, so Cassandra being down delays rows but loses none.
//!
//! The rows of one handover that land in the same partition of a table (the rows of one
//! day in a by-window or ranked table) go as unlogged batches of up to `BATCH_ROWS`:
//! Cassandra applies each as one mutation, so a burst of windows firing at once costs a
//! request per partition rather than per row.
//!
//! Retries reorder writes, so each row carries a write timestamp taken when the writer
//! receives it: every version of a (window, key) row comes from the one worker that owns
//! the key, in order, so the latest version (the final one) always wins.

use super::cql_schema::{schema_cql, tables, Partition, Table};
use crate::aggregate::ResultRow;
use crate::cassandra_access::CassandraAccess;
use crate::spec::Plan;
use crate::uri::ServiceUri;
use scylla::client::execution_profile::ExecutionProfile;
use scylla::client::session::Session;
use scylla::errors::ExecutionError;
use scylla::frame::types::Consistency;
use scylla::statement::batch::{Batch as ScyllaBatch, BatchType};
use scylla::statement::prepared::PreparedStatement;
use scylla::value::{CqlValue, MaybeUnset};
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, Semaphore};

/// Writes (single upserts or batches) in flight at once.
const CONCURRENCY: usize = 256;
/// Upserts into one partition sent together as one unlogged batch at most: a few kilobytes,
/// under Cassandra's batch size warning.
const BATCH_ROWS: usize = 16;
/// Batches of rows the channel holds before workers are pushed back.
const CHANNEL_BATCHES: usize = 64;

/// A parsed `cassandra://[USER@]HOST:PORT[,HOST:PORT]/KEYSPACE?replication=1&ttl=S&consistency=C`,
/// with the access parameters of [`crate::cassandra_access`].
#[derive(Clone, Debug)]
pub struct CassandraUri {
    /// Contact points, login and TLS.
    pub access: CassandraAccess,
    /// Keyspace (created if missing).
    pub keyspace: String,
    /// Replication factor for a keyspace this sink creates.
    pub replication: u32,
    /// Time to live of every row, in seconds.
    pub ttl: Option<i32>,
    /// Write consistency.
    pub consistency: Consistency,
}

impl CassandraUri {
    /// Parses a Cassandra sink URI.
    pub fn parse(uri: &str) -> Result<CassandraUri, String> {
        let parsed = ServiceUri::parse(uri, "cassandra", "Cassandra sink", "keyspace")
            .map_err(|e| e.to_string())?;
        let bad = |why: &str| parsed.error(why).to_string();
        let (access, own) = CassandraAccess::from_uri(&parsed).map_err(|e| e.to_string())?;
        let mut sink = CassandraUri {
            access,
            keyspace: parsed.name.clone(),
            replication: 1,
            ttl: None,
            consistency: Consistency::LocalQuorum,
        };
        for (key, value) in &own {
            match key.as_str() {
                "replication" => {
                    sink.replication = value
                        .parse()
                        .map_err(|_| bad("replication must be a number"))?
                }
                "ttl" => sink.ttl = Some(value.parse().map_err(|_| bad("ttl must be seconds"))?),
                "consistency" => {
                    sink.consistency =
                        match value.to_ascii_lowercase().as_str() {
                            "one" => Consistency::One,
                            "quorum" => Consistency::Quorum,
                            "local_quorum" => Consistency::LocalQuorum,
                            "all" => Consistency::All,
                            "local_one" => Consistency::LocalOne,
                            _ => return Err(bad(
                                "consistency must be one, local_one, quorum, local_quorum or all",
                            )),
                        }
                }
                _ => {
                    return Err(parsed
                        .unknown(
                            key,
                            &format!(
                                "replication, ttl, consistency, {}",
                                crate::cassandra_access::PARAMS
                            ),
                        )
                        .to_string())
                }
            }
        }
        Ok(sink)
    }

    /// The contact points, comma-separated.
    pub fn host_list(&self) -> String {
        self.access.hosts.join(",")
    }
}

struct Statements {
    tables: Vec<Table>,
    prepared: Vec<PreparedStatement>,
    ttl: Option<i32>,
    failures: FailureLog,
    /// The first write that failed for good (see [`super::retry`]): its rows are never
    /// counted as written, and the run ends with it.
    fatal: Arc<OnceLock<String>>,
}

/// Logs failed writes at most once per interval, with how many failed since, so an outage
/// with thousands of rows retrying gives a readable log.
#[derive(Default)]
struct FailureLog {
    since_last: AtomicUsize,
    last: Mutex<Option<std::time::Instant>>,
}

impl FailureLog {
    const INTERVAL: Duration = Duration::from_secs(5);

    fn report(&self, table: &str, error: &dyn std::fmt::Display) {
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

/// Writes of one accepted batch still outstanding; zero means all are in Cassandra.
pub type Ticket = Arc<AtomicUsize>;

/// Rows handed to the writer, with the ticket it counts down as it writes them and when
/// their window fired.
type Batch = (Vec<ResultRow>, Ticket, Instant);

/// How long batches of rows took from being handed to the sink (as their window fired) to
/// being acknowledged by Cassandra, in microseconds: logged every 10 seconds for the interval
/// (a live run's dashboard delay) and at the end for the whole run.
#[derive(Clone)]
struct WriteLatency(Arc<Mutex<LatencyState>>);

struct LatencyState {
    run: hdrhistogram::Histogram<u64>,
    interval: hdrhistogram::Histogram<u64>,
    interval_start: Instant,
}

/// How often the interval latency is logged.
const LATENCY_INTERVAL: Duration = Duration::from_secs(10);

impl WriteLatency {
    fn new() -> WriteLatency {
        let histogram = hdrhistogram::Histogram::new_with_bounds(1, 3_600_000_000, 3)
            .expect("valid histogram bounds");
        WriteLatency(Arc::new(Mutex::new(LatencyState {
            interval: histogram.clone(),
            run: histogram,
            interval_start: Instant::now(),
        })))
    }

    fn record(&self, since: Instant) {
        let micros = (since.elapsed().as_micros() as u64).clamp(1, 3_600_000_000);
        crate::prometheus::record_write("cassandra", micros as f64 / 1e6);
        tracing::debug!(
            "rows written {:.1} ms after their window fired",
            micros as f64 / 1e3
        );
        let mut state = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let _ = state.run.record(micros);
        let _ = state.interval.record(micros);
        if state.interval_start.elapsed() >= LATENCY_INTERVAL {
            log_latency("over the last 10 s", &state.interval);
            state.interval.reset();
            state.interval_start = Instant::now();
        }
    }

    fn report(&self) {
        let state = self.0.lock().unwrap_or_else(|p| p.into_inner());
        log_latency("over the run", &state.run);
    }
}

fn log_latency(span: &str, histogram: &hdrhistogram::Histogram<u64>) {
    if histogram.is_empty() {
        return;
    }
    let ms = |q: f64| histogram.value_at_quantile(q) as f64 / 1000.0;
    tracing::info!(
        "Cassandra write latency (window fired -> rows acknowledged) {span}, {} batches: \
         p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        histogram.len(),
        ms(0.5),
        ms(0.99),
        histogram.max() as f64 / 1000.0
    );
}

/// A connected Cassandra sink shared by the workers of one process.
pub struct CassandraSink {
    runtime: tokio::runtime::Runtime,
    tables_per_output: Vec<usize>,
    fatal: Arc<OnceLock<String>>,
    sender: Mutex<Option<mpsc::Sender<Batch>>>,
    writer: Mutex<Option<tokio::task::JoinHandle<()>>>,
    latency: WriteLatency,
}

impl CassandraSink {
    /// Connects, creates the keyspace and tables from the plan, and prepares the upserts.
    /// (Blocking here is fine: it runs before any worker starts.)
    pub fn connect(uri: &CassandraUri, plan: &Plan) -> Result<CassandraSink, String> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .thread_name("cassandra-sink")
            .build()
            .map_err(|e| format!("cannot start the Cassandra client runtime: {e}"))?;
        let (session, statements) = runtime.block_on(prepare(uri, plan))?;
        let tables_per_output = (0..plan.outputs.len())
            .map(|o| statements.tables.iter().filter(|t| t.output == o).count())
            .collect();
        let (sender, receiver) = mpsc::channel(CHANNEL_BATCHES);
        let latency = WriteLatency::new();
        let fatal = Arc::clone(&statements.fatal);
        let writer = runtime.spawn(write_rows(
            Arc::new(session),
            Arc::new(statements),
            receiver,
            latency.clone(),
        ));
        Ok(CassandraSink {
            runtime,
            tables_per_output,
            fatal,
            sender: Mutex::new(Some(sender)),
            writer: Mutex::new(Some(writer)),
            latency,
        })
    }

    /// Offers rows to the writer without blocking. Accepted rows come back as a ticket that
    /// reaches zero once every one of them is in Cassandra; refused rows (channel full) come
    /// back as they were. `fired` is when their window fired: their write latency counts from
    /// then, time spent refused included.
    pub fn try_offer(
        &self,
        rows: Vec<ResultRow>,
        fired: Instant,
    ) -> Result<Ticket, Vec<ResultRow>> {
        let writes = rows
            .iter()
            .map(|r| self.tables_per_output[usize::from(r.output)])
            .sum();
        let ticket = Arc::new(AtomicUsize::new(writes));
        match &*self.sender.lock().unwrap_or_else(|p| p.into_inner()) {
            Some(sender) => match sender.try_send((rows, Arc::clone(&ticket), fired)) {
                Ok(()) => Ok(ticket),
                Err(
                    mpsc::error::TrySendError::Full((rows, _, _))
                    | mpsc::error::TrySendError::Closed((rows, _, _)),
                ) => Err(rows),
            },
            None => Err(rows),
        }
    }

    /// The write that failed for good, if one did: the run cannot go on.
    pub fn failure(&self) -> Option<String> {
        self.fatal.get().cloned()
    }

    /// Waits until every accepted row is written, then logs the write latency.
    pub fn finish(&self) -> Result<(), String> {
        self.sender.lock().unwrap_or_else(|p| p.into_inner()).take();
        let writer = self.writer.lock().unwrap_or_else(|p| p.into_inner()).take();
        let finished = match writer {
            Some(writer) => self
                .runtime
                .block_on(writer)
                .map_err(|e| format!("the Cassandra writer failed: {e}")),
            None => Ok(()),
        };
        self.latency.report();
        finished
    }
}

async fn prepare(uri: &CassandraUri, plan: &Plan) -> Result<(Session, Statements), String> {
    let profile = ExecutionProfile::builder()
        .consistency(uri.consistency)
        .request_timeout(Some(Duration::from_secs(10)))
        .build();
    let builder = uri
        .access
        .builder()
        .map_err(|e| e.to_string())?
        .default_execution_profile_handle(profile.into_handle());
    let session = uri
        .access
        .connect(builder)
        .await
        .map_err(|e| e.to_string())?;
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
            .map_err(|e| format!("Cassandra schema: {e}\n{statement}"))?;
    }
    let tables = tables(plan);
    let mut prepared = Vec::with_capacity(tables.len());
    for table in &tables {
        let mut statement = session
            .prepare(table.insert(&uri.keyspace, uri.ttl.is_some()))
            .await
            .map_err(|e| {
                format!(
                    "Cassandra: cannot prepare the upsert into {}: {e}",
                    table.name
                )
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

async fn write_rows(
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

/// The bound values of one upsert: the row's columns, its write timestamp and the TTL.
type Upsert = Vec<MaybeUnset<Option<CqlValue>>>;

impl Statements {
    /// The values of `row`'s upsert into table `index`, written at `timestamp`. A missing
    /// value is left unset where the table allows it (no tombstone per empty cell; see
    /// [`Table::keeps_missing_unset`]) and written as null elsewhere.
    fn upsert(&self, index: usize, row: &ResultRow, timestamp: i64) -> Upsert {
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
fn describe(table: &str, row: &ResultRow) -> String {
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

/// Writes upserts of one partition of table `index` (one statement, or an unlogged batch,
/// which Cassandra applies to the partition as one mutation), retrying with backoff while
/// the error is one a retry can mend; an error that would repeat for ever is returned.
async fn write(
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
            Err(e) if !super::retry::is_retryable(&e) => return Err(e),
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
struct WriteClock {
    last: i64,
}

impl WriteClock {
    fn next(&mut self) -> i64 {
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
    fn parses_uris() {
        let uri = CassandraUri::parse(
            "cassandra://a:9042,b:9042/evilnet?replication=3&ttl=86400&consistency=one",
        )
        .expect("uri");
        assert_eq!(uri.access.hosts, vec!["a:9042", "b:9042"]);
        assert_eq!(uri.keyspace, "evilnet");
        assert_eq!(
            (uri.replication, uri.ttl, uri.consistency),
            (3, Some(86400), Consistency::One)
        );
        assert!(CassandraUri::parse("cassandra://a:9042").is_err());
        assert!(CassandraUri::parse("cassandra://a:9042/k?colour=red").is_err());
    }

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
