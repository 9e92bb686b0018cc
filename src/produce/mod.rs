//! `tidemark produce`: replays files, generators or standard input into a Kafka topic, and
//! survives broker outages without losing a message.
//!
//! Messages get increasing sequence numbers in source order. While a broker acknowledges
//! them (idempotent producer, `acks=all`) they go straight to Kafka. When every broker is
//! down, or a message is not acknowledged within the ack timeout, the producer stops
//! reading, takes back everything unacknowledged, and spools it (in order) to disk; new
//! messages then go to the spool too. Once a broker answers again, the spool is sent in
//! order while new messages keep being appended behind it; when it has been sent and
//! acknowledged, the producer goes back to sending directly. Segments are deleted only
//! after their messages are acknowledged.
//!
//! A checkpoint in the spool directory records how many source messages are acknowledged
//! or spooled, and which spooled ones are acknowledged: restarted with the same spool and
//! sources, the producer sends the spool, then skips the source messages already handled.
//! Messages that were in flight when it was killed are sent again, so they may appear
//! twice in the topic; nothing else is duplicated and nothing is lost. (Standard input
//! cannot be replayed: what was in flight at a kill is lost there.)

mod input;
mod kafka_out;
mod options;
mod pace;
mod probe;
mod producing;
mod progress;
mod replay;
mod spool;

use crate::failure::Failure;
pub use input::InputUri;
pub use kafka_out::Destination;
pub use options::{ProduceOptions, ProduceSummary};
pub use replay::{EventTimeField, ReplayOptions};
pub use spool::{Checkpoint, Damage, Record, Spool};

use producing::Producing;
use std::sync::Arc;
use std::time::Duration;

/// Produces every source message into the topic, then waits for every acknowledgement.
pub fn run(options: &ProduceOptions) -> Result<ProduceSummary, Failure> {
    let setup = Failure::Setup;
    let to = Destination::parse(&options.to).map_err(Failure::setup)?;
    let mut uris = Vec::new();
    for source in &options.sources {
        uris.extend(InputUri::parse(source).map_err(Failure::setup)?);
    }
    if uris.is_empty() {
        return Err(Failure::Setup("name at least one SOURCE".into()));
    }
    let key_path = match &options.key {
        Some(path) => Some(
            crate::decode::JsonPaths::compile([path.as_str()])
                .map_err(|e| Failure::Setup(format!("--key `{path}`: {e}")))?,
        ),
        None => None,
    };
    let replay = replay_options(options, &uris)?.map(replay::Replay::new);
    if let Some(address) = &options.metrics {
        use crate::dashboard::server;
        crate::prometheus::install();
        let listener = server::bind("--metrics", address).map_err(|e| setup(e.to_string()))?;
        let url = server::url(&listener);
        server::spawn_metrics(listener, None).map_err(|e| setup(e.to_string()))?;
        tracing::info!("metrics for Prometheus at {url}metrics");
    }
    let ack_timeout = if options.spool.is_some() {
        options.ack_timeout
    } else {
        // Without a spool, librdkafka retries for ever and the source waits.
        Duration::ZERO
    };
    let producer = Arc::new(kafka_out::connect(&to, ack_timeout).map_err(Failure::setup)?);
    let writable = || kafka_out::topic_writable(&producer, &to.topic, Duration::from_secs(10));
    let mut can_write = writable();
    if !can_write {
        // A refused login or TLS handshake is never mended by waiting, spool or not.
        if let Some(refused) = to.refused(&producer) {
            return Err(Failure::setup(refused));
        }
    }
    if let Some(partitions) = options.partitions {
        kafka_out::ensure_topic(&to, partitions).map_err(Failure::setup)?;
        can_write = can_write || writable();
    }
    if !can_write && options.spool.is_none() {
        return Err(Failure::Setup(format!(
            "topic {} is not writable at {} (does it exist? --partitions N creates it; \
             --spool DIR keeps going while the broker is down)",
            to.topic,
            to.brokers()
        )));
    }
    let spool = match &options.spool {
        Some(dir) => Some(Spool::open(dir).map_err(Failure::setup)?),
        None => None,
    };
    let replayable = uris.iter().all(InputUri::is_replayable);
    let mut producing = Producing::new(
        producer,
        to.topic.clone(),
        key_path,
        spool,
        options.sources.join(" "),
        replayable,
        ack_timeout,
    );
    let probe = probe::Probe::start(Arc::clone(&producing.producer), to.topic.clone());
    let stop = crate::signals::StopSignal::listen()
        .map_err(|e| Failure::Setup(format!("cannot listen for SIGTERM and Ctrl-C: {e}")))?;
    producing.run(
        &stop,
        input::Inputs::new(uris),
        pace::Pacer::new(options.rate),
        replay,
        &probe,
        options.progress,
    )
}

/// What --speedup / --retime need: where the event time is, from the dataflow file or
/// from the generator every source is.
fn replay_options(
    options: &ProduceOptions,
    uris: &[InputUri],
) -> Result<Option<ReplayOptions>, Failure> {
    if options.speedup.is_none() && !options.retime {
        return Ok(None);
    }
    if let Some(speedup) = options.speedup {
        if !(speedup > 0.0 && speedup.is_finite()) {
            return Err(Failure::Setup(format!(
                "--speedup must be a positive number, not {speedup}"
            )));
        }
    }
    let field = match &options.dataflow {
        Some(path) => {
            let plan = crate::plan::load(path).map_err(|e| Failure::Setup(e.to_string()))?;
            EventTimeField {
                paths: plan.fields[plan.time.field].paths().to_vec(),
                formats: plan.time.formats,
            }
        }
        None => {
            let mut kinds = uris.iter().map(|uri| match uri {
                InputUri::Generated(kind, _) => Some(*kind),
                _ => None,
            });
            let first = kinds.next().flatten();
            match first.filter(|_| kinds.all(|k| k == first)) {
                Some(kind) => {
                    let (path, format) = kind.event_time();
                    EventTimeField {
                        paths: vec![path.into()],
                        formats: vec![format],
                    }
                }
                None => {
                    return Err(Failure::Setup(
                        "--speedup and --retime need to know where the event time is: name \
                         the dataflow whose [time] describes these messages with --dataflow FILE"
                            .into(),
                    ))
                }
            }
        }
    };
    Ok(Some(ReplayOptions {
        field,
        speedup: options.speedup,
        retime: options.retime,
    }))
}
