//! The engine: wires source → decode → time → window/aggregate → sink into a timely dataflow
//! and runs it on the requested workers and processes.

mod aggregate_ops;
mod cluster;
mod dedup;
mod large_batches;
mod live;
mod panics;
mod rankings;
mod read;
mod session_hold;
mod shared;
mod sink_lag;
mod source_frontiers;
mod stop;
mod write;

pub use cluster::Cluster;
pub(crate) use shared::Shared;

use crate::dashboard::server::{self, ServeError};
use crate::dashboard::{ApiState, Backend, Catalog, LiveStore};
use crate::decode::Decoder;
use crate::failure::Failure;
use crate::metrics::{Metrics, Progress, Summary};
use crate::plan;
use crate::sink::{self, FileMode, JsonlFile, RejectLog, RowFormat, SinkUri};
use crate::source::{SharedFiles, Sources, StartAt, PIECE_BYTES};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use timely::dataflow::operators::Probe;
use timely::dataflow::ProbeHandle;

/// Everything `tidemark run` needs.
#[derive(Clone, Debug, Default)]
pub struct RunOptions {
    /// The dataflow file.
    pub dataflow: PathBuf,
    /// Source URIs replacing the dataflow's default.
    pub sources: Vec<String>,
    /// Sink URIs; standard output when empty.
    pub sinks: Vec<String>,
    /// Where dead letters go.
    pub dead_letter: Option<String>,
    /// Where records too late for every window go.
    pub late: Option<String>,
    /// Workers and processes.
    pub cluster: Cluster,
    /// Show a live progress line.
    pub progress: bool,
    /// Serve the dashboard API and page from memory.
    pub http: Option<HttpOptions>,
    /// Serve the run's counters for Prometheus at `HOST:PORT/metrics` (process `p` of several
    /// at `PORT + p`).
    pub metrics: Option<String>,
    /// About how many bytes each piece of a file read by every worker of a process holds
    /// (`None`: [`crate::source::PIECE_BYTES`]).
    pub piece_bytes: Option<u64>,
}

/// The dashboard server of `tidemark run --http`.
#[derive(Clone, Debug)]
pub struct HttpOptions {
    /// `HOST:PORT` to listen on (process 0 only).
    pub address: String,
    /// How much of each output to keep, before its newest window, in milliseconds.
    pub retention_ms: u64,
    /// The most rows one answer may hold.
    pub row_limit: usize,
}

/// How a run ended.
pub struct Finished {
    /// This process's counters.
    pub summary: Summary,
    /// The dashboard URL this process still serves the results at.
    serving: Option<String>,
}

impl Finished {
    /// With `--http`, keeps serving the results until a signal ends the process; returns at
    /// once otherwise.
    pub fn serve_until_stopped(&self) {
        if let Some(url) = &self.serving {
            tracing::info!(
                "the input has ended; serving its results at {url} until stopped (Ctrl-C)"
            );
            // The stop watcher ends the process on a signal.
            loop {
                std::thread::park();
            }
        }
    }
}

/// Runs a dataflow until its sources end (bounded files, or Kafka with `stop=end`) or the
/// process is stopped, and returns this process's summary.
pub fn run(options: RunOptions) -> Result<Finished, Failure> {
    let setup = |e: String| Failure::Setup(e);
    let plan = plan::load(&options.dataflow).map_err(|e| setup(e.to_string()))?;
    let uris = if options.sources.is_empty() {
        vec![plan.source.clone().ok_or_else(|| {
            setup(format!(
                "{}: the dataflow names no [source] uri; pass --source",
                options.dataflow.display()
            ))
        })?]
    } else {
        options.sources.clone()
    };
    let group = format!("tidemark-{}", plan.name);
    let cluster = &options.cluster;
    let piece_bytes = options.piece_bytes.unwrap_or(PIECE_BYTES);
    // De-duplication keeps the first copy of an id to reach it. When every input is a file
    // read in pieces by the one process, the sources de-duplicate, judging each file's pieces
    // in order; otherwise a file whose copies must meet it in order is read whole.
    let dedup_at_source = |all: &[crate::source::Partition]| {
        plan.dedup.is_some()
            && cluster.processes == 1
            && cluster.workers > 1
            && all.iter().all(crate::source::can_read_in_pieces)
    };
    let mut sources =
        Sources::resolve(&uris, plan.format, &group).map_err(|e| setup(e.to_string()))?;
    if let Sources::Files(all, pieces) = &mut sources {
        let at_source = dedup_at_source(all);
        *pieces = SharedFiles::new(piece_bytes, plan.dedup.is_none() || at_source, at_source);
    }
    let source_dedup = match &sources {
        Sources::Files(all, pieces) if pieces.in_order() => {
            let bytes = all
                .iter()
                .filter_map(|p| std::fs::metadata(&p.path).ok())
                .map(|m| m.len())
                .sum();
            dedup::SourceDedup::of(&plan, bytes)
        }
        Sources::Files(..) | Sources::Kafka(_) | Sources::Generated(_) => None,
    };
    let config = cluster.timely_config().map_err(|e| setup(e.to_string()))?;
    let inputs = match &sources {
        Sources::Files(all, _) => all
            .iter()
            .filter_map(|p| std::fs::canonicalize(&p.path).ok())
            .collect(),
        Sources::Kafka(_) | Sources::Generated(_) => Vec::new(),
    };
    let parse = |uri: &str| -> Result<SinkUri, Failure> {
        let sink = SinkUri::parse(uri).map_err(Failure::setup)?;
        if let SinkUri::Jsonl(Some(path)) = &sink {
            if std::fs::canonicalize(path).is_ok_and(|target| inputs.contains(&target)) {
                return Err(setup(format!(
                    "{uri}: this file is also a source; writing it would destroy the input"
                )));
            }
        }
        Ok(sink)
    };
    // A run that resumes from committed positions keeps what its files hold: the rows of
    // windows final before the restart are there and are not written again.
    let mode = match &sources {
        Sources::Kafka(kafka) if kafka.start == StartAt::Committed => FileMode::Append,
        Sources::Kafka(_) | Sources::Files(..) | Sources::Generated(_) => FileMode::Truncate,
    };
    let open_log = |uri: &str| -> Result<JsonlFile, Failure> {
        parse(uri)?
            .open_jsonl(cluster.process, cluster.processes, mode)
            .map_err(|e| setup(format!("{uri}: {e}")))
    };
    // The command line's sinks, else the dataflow's, else standard output.
    let sink_uris = match (options.sinks.is_empty(), plan.sinks.is_empty()) {
        (false, _) => options.sinks.clone(),
        (true, false) => plan.sinks.clone(),
        (true, true) => vec!["jsonl:-".to_string()],
    };
    let sinks = sink_uris
        .iter()
        .map(|uri| {
            sink::open(
                &parse(uri)?,
                &plan,
                cluster.process,
                cluster.processes,
                mode,
            )
            .map_err(|e| setup(format!("{uri}: {e}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let dead_letters = options.dead_letter.as_deref().map(open_log).transpose()?;
    let late = options.late.as_deref().map(open_log).transpose()?;
    let decoder = Decoder::new(&plan)
        .map_err(|e| setup(format!("{}: fields: {e}", options.dataflow.display())))?;
    let metrics = Arc::new(Metrics::default());
    if options.metrics.is_some() || options.http.is_some() {
        crate::prometheus::install();
    }
    if let Some(address) = &options.metrics {
        let offset = u16::try_from(cluster.process).unwrap_or(u16::MAX);
        let listener = server::bind_offset("--metrics", address, offset)
            .map_err(|e| Failure::Setup(e.to_string()))?;
        let url = server::url(&listener);
        server::spawn_metrics(listener, Some(Arc::clone(&metrics)))
            .map_err(|e| Failure::Setup(e.to_string()))?;
        tracing::info!("metrics for Prometheus at {url}metrics");
    }
    let (live, serving) = match &options.http {
        Some(http) => {
            let (live, url) = serve_live(&plan, http, cluster.process, &metrics)?;
            (Some(live), url)
        }
        None => (None, None),
    };
    let shared = Arc::new(Shared {
        source_dedup,
        rows: RowFormat::new(&plan),
        plan,
        sources,
        decoder,
        sinks,
        dead_letters: RejectLog::new("dead letter", dead_letters),
        late: RejectLog::new("late record", late),
        metrics: Arc::clone(&metrics),
        sink_lag: sink_lag::SinkLag::new(cluster.workers * cluster.processes),
        failures: Mutex::new(Vec::new()),
        stop: stop::Stop::listen(cluster.workers)
            .map_err(|e| setup(format!("cannot listen for SIGTERM and Ctrl-C: {e}")))?,
        source_frontiers: source_frontiers::SourceFrontiers::default(),
        live: live.clone(),
    });
    let progress = options
        .progress
        .then(|| Progress::start(Arc::clone(&metrics)));
    stop::watch(Arc::clone(&shared), cluster.processes);
    let addresses = if cluster.processes > 1 {
        cluster.addresses().map_err(|e| setup(e.to_string()))?
    } else {
        Vec::new()
    };
    panics::end_on_panic(Arc::clone(&shared), addresses);
    let worker_shared = Arc::clone(&shared);
    let local = cluster.workers;
    let connecting = cluster.watch_connections();
    let guards = timely::execute(config, move |worker| {
        let shared = Arc::clone(&worker_shared);
        let first = worker.index() == 0;
        worker.dataflow::<u64, _, _>(|scope| {
            let opener = Arc::clone(&shared);
            let open = move |worker, peers| match opener.sources.open(worker, peers, local) {
                Ok(input) => Some(input),
                // A partition this worker cannot open cannot be finished: ending it would
                // mark its windows final early.
                Err(e) => opener.abort(e.to_string()),
            };
            let written = ProbeHandle::new();
            let read = ProbeHandle::new();
            let sessions = ProbeHandle::new();
            let events = read::read_and_decode(
                scope,
                Arc::clone(&shared),
                open,
                read::Probes {
                    read: read.clone(),
                    written: written.clone(),
                    sessions: sessions.clone(),
                },
            )
            .probe_with(&read);
            let (rows, held) = aggregate_ops::aggregate(events, &shared);
            if let Some(held) = held {
                held.probe_with(&sessions);
            }
            if shared.live.is_some() {
                let here = first.then(|| shared.live.clone()).flatten();
                live::publish(rows.clone(), here);
            }
            write::write_rows(rows, Arc::clone(&shared)).probe_with(&written);
        });
    })
    .map_err(|e| Failure::Setup(format!("cannot start workers: {e}")))?;
    drop(connecting);
    let joined = guards.join();
    drop(progress);
    for result in joined {
        if let Err(panic) = result {
            // Peers of a stopped run end when they have settled; losing them after this
            // process has settled too is the end of the stop, not a failure.
            if shared.stop.done() {
                shared.finish_stopped();
            }
            // A worker's panic ends the run from a thread of its own (`panics.rs`), which
            // reports it.
            if shared.stop.ending() {
                loop {
                    std::thread::park();
                }
            }
            // timely keeps no more of the panic than this; its message was printed with it.
            shared.fail(format!(
                "a worker failed ({panic}; its panic is reported above)"
            ));
        }
    }
    shared.flush_outputs()?;
    let failures = shared
        .failures
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    if !failures.is_empty() {
        return Err(Failure::Failed(failures.join("; ")));
    }
    if let Some(live) = &live {
        live.end_input();
    }
    shared.stop.complete();
    Ok(Finished {
        summary: metrics.summary(),
        serving,
    })
}

/// Starts the dashboard server on process 0 (the others only feed it): the live store it
/// serves, and its URL.
fn serve_live(
    plan: &plan::Plan,
    http: &HttpOptions,
    process: usize,
    metrics: &Arc<Metrics>,
) -> Result<(Arc<LiveStore>, Option<String>), Failure> {
    let catalog = Arc::new(Catalog::new(plan));
    let live = Arc::new(LiveStore::new(catalog, http.retention_ms));
    if process != 0 {
        return Ok((live, None));
    }
    let setup = |e: ServeError| Failure::Setup(e.to_string());
    let listener = server::bind("--http", &http.address).map_err(setup)?;
    let url = server::url(&listener);
    let state = Arc::new(ApiState {
        backend: Backend::Live(Arc::clone(&live)),
        row_limit: http.row_limit,
        metrics: Some(Arc::clone(metrics)),
    });
    server::spawn(listener, state).map_err(setup)?;
    tracing::info!("dashboards at {url} (API under {url}api/outputs)");
    Ok((live, Some(url)))
}
