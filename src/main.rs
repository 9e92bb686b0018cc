//! The `tidemark` command line: parses arguments and calls the library.

use clap::{ArgAction, Args, Parser, Subcommand};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use tidemark::engine::{self, Cluster, RunOptions};
use tidemark::failure::Failure;
use tidemark::gen::{write_lines, GenKind, GenOptions};
use tidemark::produce::ProduceOptions;

#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc's `mi_option_purge_delay`: how long memory freed stays resident for reuse before
/// it goes back to the system.
#[cfg(feature = "mimalloc")]
const PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Freed memory goes back to the system after 50 ms, not mimalloc's 1 000 ms: at high key
/// cardinality, memory freed but not yet handed back was a fifth of the peak resident
/// memory, and a twentieth of a second costs no time this machine can measure
/// (docs/performance.md).
/// The `MIMALLOC_PURGE_DELAY` variable still decides when set.
#[cfg(feature = "mimalloc")]
fn tune_allocator() {
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
        // SAFETY: sets a plain option before any thread but this one is started.
        unsafe { libmimalloc_sys::mi_option_set(PURGE_DELAY, 50) };
    }
}

/// Incremental event-time windowed analytics on timely dataflow.
#[derive(Parser)]
#[command(name = "tidemark", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a dataflow over its sources: files until they end, a Kafka topic until stopped
    /// (or, with `stop=end`, until the log end offsets seen at start).
    #[command(disable_help_flag = true)]
    Run(RunArgs),
    /// Print the CQL that creates a dataflow's Cassandra keyspace and tables.
    Schema {
        /// The dataflow file.
        dataflow: PathBuf,
        /// Keyspace name (default: the dataflow's name).
        #[arg(long)]
        keyspace: Option<String>,
        /// Replication factor.
        #[arg(long, default_value_t = 1)]
        replication: u32,
    },
    /// Send files, generated data or standard input into a Kafka topic, spooling to disk
    /// while no broker takes them.
    Produce(ProduceArgs),
    /// Generate tweets, taxi trips or stock ticks as JSON lines on standard output.
    Gen(GenArgs),
    /// Serve the dashboard API and page over the Cassandra tables a run wrote.
    Serve(ServeArgs),
    /// Print one output's rows from a running engine's API or from Cassandra.
    Query(QueryArgs),
}

#[derive(Args)]
struct RunArgs {
    /// The dataflow file (dataflows/*.toml).
    dataflow: PathBuf,
    /// Source URI replacing the dataflow's default (repeatable): file:PATH (JSON lines, or
    /// CSV for *.csv; a FIFO or device is read through a buffer), file:- (standard input),
    /// file:GLOB (one partition per file), or
    /// kafka://[USER@]HOST:PORT[,HOST:PORT]/TOPIC?start=earliest|latest|committed|RFC3339&group=NAME&stop=end
    /// (runs until stopped, or with stop=end until the log end offsets seen at start; logins
    /// and TLS: security=, mechanism=, password.env=, password.file=, tls.ca=, config=FILE), or
    /// gen:tweets|taxi|stocks?rate=N&... (events made as they happen, event time now; until
    /// stopped, or count=N / duration_s=S).
    #[arg(long = "source", value_name = "URI")]
    sources: Vec<String>,
    /// Sink URI (repeatable): jsonl:PATH, jsonl:- (standard output, the default),
    /// cassandra://[USER@]HOST:PORT[,HOST:PORT]/KEYSPACE?replication=N&ttl=SECONDS&consistency=LEVEL
    /// (logins and TLS: password.env=, password.file=, tls=true, tls.ca=), or
    /// kafka://[USER@]HOST:PORT[,HOST:PORT]/TOPIC (one JSON message per row, keyed by the
    /// row's output, window and key or rank; logins and TLS as for a Kafka source).
    #[arg(long = "sink", value_name = "URI")]
    sinks: Vec<String>,
    /// Where malformed records go (jsonl:PATH); without it the first few are logged.
    #[arg(long)]
    dead_letter: Option<String>,
    /// Where records too late for every window go (jsonl:PATH).
    #[arg(long)]
    late: Option<String>,
    /// Worker threads per process.
    #[arg(short = 'w', long = "workers", default_value_t = 1)]
    workers: usize,
    /// Number of processes.
    #[arg(short = 'n', long = "processes", default_value_t = 1)]
    processes: usize,
    /// Index of this process.
    #[arg(short = 'p', long = "process", default_value_t = 0)]
    process: usize,
    /// Hostfile: one host:port line per process (the ports between processes are for a
    /// trusted network only).
    #[arg(short = 'h', long = "hostfile")]
    hostfile: Option<PathBuf>,
    /// Seconds to wait for the other processes to connect before giving up (exit 2).
    #[arg(long, value_name = "SECONDS", default_value_t = 60)]
    connect_timeout: u64,
    /// Hide the progress line.
    #[arg(long)]
    quiet: bool,
    /// Serve the dashboard page and API from memory at HOST:PORT (process 0 serves; give
    /// the flag to every process). After a bounded input ends it keeps serving until stopped.
    #[arg(long, value_name = "HOST:PORT")]
    http: Option<String>,
    /// Serve the run's counters for Prometheus at http://HOST:PORT/metrics (with several
    /// processes, process p listens on PORT + p).
    #[arg(long, value_name = "HOST:PORT")]
    metrics: Option<String>,
    /// With more than one worker per process, each JSON-lines file is read by all of them,
    /// in pieces of about this many bytes cut at line ends (results do not depend on it).
    #[arg(long, value_name = "BYTES", default_value_t = tidemark::source::PIECE_BYTES,
          value_parser = clap::value_parser!(u64).range(1..))]
    piece_bytes: u64,
    /// How much of each output the dashboard keeps, before its newest window.
    #[arg(long, value_name = "DURATION", default_value = "6h")]
    http_retention: String,
    /// The most rows one API answer may hold.
    #[arg(long, value_name = "N", default_value_t = tidemark::dashboard::server::DEFAULT_ROW_LIMIT,
          value_parser = row_limit)]
    http_row_limit: usize,
    /// Print help.
    #[arg(long, action = ArgAction::Help)]
    help: Option<bool>,
}

#[derive(Args)]
struct ServeArgs {
    /// The dataflow file whose tables to read.
    dataflow: PathBuf,
    /// The Cassandra cluster and keyspace: cassandra://[USER@]HOST:PORT[,HOST:PORT]/KEYSPACE
    /// (with the sink's login and TLS parameters).
    #[arg(long, value_name = "URI")]
    cassandra: String,
    /// Address to serve at.
    #[arg(long, value_name = "HOST:PORT", default_value = "127.0.0.1:8080")]
    http: String,
    /// The most rows one API answer may hold.
    #[arg(long, value_name = "N", default_value_t = tidemark::dashboard::server::DEFAULT_ROW_LIMIT,
          value_parser = row_limit)]
    http_row_limit: usize,
}

#[derive(Args)]
struct QueryArgs {
    /// The dataflow file.
    dataflow: PathBuf,
    /// The output to read.
    output: String,
    /// One key, FIELD=VALUE (repeat for each key field).
    #[arg(long, value_name = "FIELD=VALUE")]
    key: Vec<String>,
    /// The last part of the output, up to its newest row (default 6h).
    #[arg(long, value_name = "DURATION", conflicts_with_all = ["from", "to", "latest"])]
    last: Option<String>,
    /// Range start: RFC 3339 or epoch milliseconds (with --to).
    #[arg(long, value_name = "TIME", requires = "to", conflicts_with = "latest")]
    from: Option<String>,
    /// Range end, included (with --from).
    #[arg(long, value_name = "TIME", requires = "from")]
    to: Option<String>,
    /// Only the newest window (the current ranking of a ranked output).
    #[arg(long)]
    latest: bool,
    /// Only final rows (with --latest: the newest final window).
    #[arg(long = "final")]
    final_only: bool,
    /// How to print.
    #[arg(long, value_enum, default_value = "table")]
    format: tidemark::dashboard::query::OutputFormat,
    /// Read from Cassandra: cassandra://[USER@]HOST:PORT/KEYSPACE (with the sink's login and
    /// TLS parameters).
    #[arg(long, value_name = "URI", conflicts_with = "http")]
    cassandra: Option<String>,
    /// Read from a running engine's (or `tidemark serve`'s) API.
    #[arg(long, value_name = "URL", default_value = "http://127.0.0.1:8080")]
    http: String,
}

#[derive(Args)]
struct ProduceArgs {
    /// Destination: kafka://[USER@]HOST:PORT[,HOST:PORT]/TOPIC (logins and TLS as for a
    /// Kafka source: security=, mechanism=, password.env=, password.file=, tls.ca=,
    /// config=FILE).
    #[arg(long)]
    to: String,
    /// Key each message by this field (a JSON path such as `data.author_id`); messages with
    /// the same key keep their order.
    #[arg(long)]
    key: Option<String>,
    /// Create the topic with this many partitions if it does not exist.
    #[arg(long)]
    partitions: Option<i32>,
    /// Messages per second (default: as fast as the broker takes them).
    #[arg(long, conflicts_with = "speedup")]
    rate: Option<f64>,
    /// Send each message when its event time comes round, at X times the original pace
    /// (1 = real time).
    #[arg(long, value_name = "X")]
    speedup: Option<f64>,
    /// `now`: shift event times so the first message happens now (gaps kept; with
    /// --speedup they shrink with the pace, so each time is the moment it is sent).
    #[arg(long, value_name = "now", value_parser = ["now"])]
    retime: Option<String>,
    /// The dataflow whose [time] tells where messages carry their event time (for
    /// --speedup and --retime; generators know their own).
    #[arg(long)]
    dataflow: Option<PathBuf>,
    /// Spool directory: messages wait here while no broker takes them, and a restart with
    /// the same directory and sources carries on where the last run stopped.
    #[arg(long)]
    spool: Option<PathBuf>,
    /// With --spool: seconds a message may wait for its acknowledgement before the producer
    /// treats the broker as down and spools.
    #[arg(long, default_value_t = 10.0)]
    ack_timeout_s: f64,
    /// Hide the progress line.
    #[arg(long)]
    quiet: bool,
    /// Serve the producer's counters for Prometheus at http://HOST:PORT/metrics.
    #[arg(long, value_name = "HOST:PORT")]
    metrics: Option<String>,
    /// Sources, in order: file:PATH (JSONL, or CSV rows as JSON objects; globs allowed),
    /// gen:tweets|taxi|stocks?count=N&seed=S&rate=R&... (parameters: count, duration_s,
    /// seed, rate, start, disorder_s, very_late, skew, symbols, users, cities), or - (stdin).
    #[arg(required = true)]
    sources: Vec<String>,
}

#[derive(Args)]
struct GenArgs {
    /// What to generate.
    kind: GenKind,
    /// Number of events.
    #[arg(long)]
    count: u64,
    /// Random seed (the same seed gives the same bytes).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Largest delay of an event behind the event-time clock, seconds.
    #[arg(long, default_value_t = 0)]
    disorder_s: u64,
    /// Share of events pushed 2-3 hours into the past.
    #[arg(long, default_value_t = 0.0)]
    very_late: f64,
    /// Events per second of event time.
    #[arg(long, default_value_t = 1000)]
    rate: u64,
    /// Event time of the first event (RFC 3339).
    #[arg(long, default_value = "2022-09-26T03:00:00Z")]
    start: String,
    /// Key skew: 1 is uniform; larger makes a few keys (cities, areas, symbols) busier
    /// (default 3, stocks 2).
    #[arg(long)]
    skew: Option<f64>,
    /// Number of stock symbols.
    #[arg(long, default_value_t = 500)]
    symbols: usize,
    /// Number of possible tweet authors (how many appear depends on --count and --skew).
    #[arg(long, default_value_t = 200_000)]
    users: usize,
    /// Number of tweet cities: the 42 real Canadian ones first, then numbered ones
    /// ("Toronto 2, Ontario"), for high-cardinality input.
    #[arg(long, default_value_t = tidemark::gen::REAL_CITIES)]
    cities: usize,
}

/// Parses `--http-row-limit`: a whole number of rows, at least 1.
fn row_limit(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(0) => Err("an answer holds at least 1 row".to_string()),
        Ok(n) => Ok(n),
        Err(e) => Err(e.to_string()),
    }
}

fn main() -> ExitCode {
    use std::io::IsTerminal;
    #[cfg(feature = "mimalloc")]
    tune_allocator();
    let colour = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    tracing_subscriber::fmt()
        .with_ansi(colour)
        .with_env_filter(
            // The Cassandra driver reports every connection at info: warnings and up only.
            tracing_subscriber::EnvFilter::try_from_env("TIDEMARK_LOG")
                .unwrap_or_else(|_| "info,scylla=warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let result = match Cli::parse().command {
        Command::Run(args) => run(args),
        Command::Produce(args) => produce(args),
        Command::Schema {
            dataflow,
            keyspace,
            replication,
        } => schema(&dataflow, keyspace, replication),
        Command::Gen(args) => generate(args),
        Command::Serve(args) => serve(args),
        Command::Query(args) => query(args),
    };
    // The one place a failure becomes an exit code.
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("error: {failure}");
            ExitCode::from(failure.exit_code())
        }
    }
}

fn schema(dataflow: &Path, keyspace: Option<String>, replication: u32) -> Result<(), Failure> {
    let plan = tidemark::plan::load(dataflow).map_err(Failure::setup)?;
    let keyspace = keyspace.unwrap_or_else(|| plan.name.clone());
    print!(
        "{}",
        tidemark::sink::schema_cql(&plan, &keyspace, replication)
    );
    Ok(())
}

fn serve(args: ServeArgs) -> Result<(), Failure> {
    use tidemark::dashboard::server::serve_history;
    let plan = tidemark::plan::load(&args.dataflow).map_err(Failure::setup)?;
    let uri = tidemark::sink::CassandraUri::parse(&args.cassandra).map_err(Failure::setup)?;
    let stop = tidemark::signals::StopSignal::listen()
        .map_err(|e| Failure::Setup(format!("cannot listen for SIGTERM and Ctrl-C: {e}")))?;
    let catalog = tidemark::dashboard::Catalog::new(&plan);
    serve_history(&uri, catalog, &args.http, args.http_row_limit, stop).map_err(Failure::from)
}

fn query(args: QueryArgs) -> Result<(), Failure> {
    use tidemark::dashboard::query::{self, QueryOptions, Source};
    let plan = tidemark::plan::load(&args.dataflow).map_err(Failure::setup)?;
    let options = QueryOptions {
        output: args.output,
        key: args.key,
        last: args.last,
        from: args.from,
        to: args.to,
        latest: args.latest,
        final_only: args.final_only,
        source: match args.cassandra {
            Some(uri) => Source::Cassandra(uri),
            None => Source::Http(args.http),
        },
        format: args.format,
    };
    let text = query::run(tidemark::dashboard::Catalog::new(&plan), &options)?;
    print!("{text}");
    Ok(())
}

fn generate(args: GenArgs) -> Result<(), Failure> {
    let options = GenOptions {
        count: args.count,
        seed: args.seed,
        rate: args.rate,
        start_ms: tidemark::gen::parse_start(&args.start).map_err(Failure::setup)?,
        disorder_s: args.disorder_s,
        very_late: args.very_late,
        skew: args.skew.unwrap_or(GenOptions::defaults(args.kind).skew),
        symbols: args.symbols,
        users: args.users,
        cities: args.cities,
    };
    options.check().map_err(Failure::setup)?;
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::with_capacity(1 << 20, stdout.lock());
    match write_lines(args.kind, &options, &mut out) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(Failure::failed(e)),
    }
}

fn run(args: RunArgs) -> Result<(), Failure> {
    let http = match args.http {
        Some(address) => {
            let retention_ms = tidemark::plan::parse_millis(&args.http_retention)
                .map_err(|e| Failure::Setup(format!("--http-retention: {e}")))?;
            Some(engine::HttpOptions {
                address,
                retention_ms,
                row_limit: args.http_row_limit,
            })
        }
        None => None,
    };
    let options = RunOptions {
        dataflow: args.dataflow,
        sources: args.sources,
        sinks: args.sinks,
        dead_letter: args.dead_letter,
        late: args.late,
        cluster: Cluster {
            workers: args.workers,
            processes: args.processes,
            process: args.process,
            hostfile: args.hostfile,
            connect_timeout: std::time::Duration::from_secs(args.connect_timeout),
        },
        progress: !args.quiet,
        http,
        metrics: args.metrics,
        piece_bytes: Some(args.piece_bytes),
    };
    let finished = engine::run(options)?;
    eprintln!("{}", finished.summary);
    finished.serve_until_stopped();
    Ok(())
}

fn produce(args: ProduceArgs) -> Result<(), Failure> {
    if !(args.ack_timeout_s > 0.0 && args.ack_timeout_s.is_finite()) {
        return Err(Failure::Setup(
            "--ack-timeout-s must be a positive number of seconds".into(),
        ));
    }
    if let Some(rate) = args.rate.filter(|r| !(*r > 0.0 && r.is_finite())) {
        return Err(Failure::Setup(format!(
            "--rate must be a positive number of messages per second, not {rate}"
        )));
    }
    if let Some(partitions) = args.partitions.filter(|p| *p < 1) {
        return Err(Failure::Setup(format!(
            "--partitions must be at least 1, not {partitions}"
        )));
    }
    let options = ProduceOptions {
        to: args.to,
        key: args.key,
        partitions: args.partitions,
        rate: args.rate,
        speedup: args.speedup,
        retime: args.retime.is_some(),
        dataflow: args.dataflow,
        spool: args.spool,
        ack_timeout: std::time::Duration::from_secs_f64(args.ack_timeout_s),
        sources: args.sources,
        progress: !args.quiet,
        metrics: args.metrics,
    };
    let summary = tidemark::produce::run(&options)?;
    eprintln!("{summary}");
    Ok(())
}

#[cfg(all(test, feature = "mimalloc"))]
mod tests {
    /// The option number names the purge delay: it reads mimalloc's documented default
    /// (tests run without `MIMALLOC_PURGE_DELAY`, and do not call `tune_allocator`).
    #[test]
    fn the_purge_delay_option_is_the_one_set() {
        assert!(std::env::var_os("MIMALLOC_PURGE_DELAY").is_none());
        // SAFETY: reads an option.
        let delay = unsafe { libmimalloc_sys::mi_option_get(super::PURGE_DELAY) };
        assert_eq!(delay, 1000);
    }
}
