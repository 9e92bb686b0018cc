//! Helpers shared by the integration tests: run the real binary, read its JSONL output.
#![allow(dead_code)]

pub mod cassandra;
pub mod cluster;
pub mod dashboard;
pub mod engine;
pub mod failover;
pub mod prometheus;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

/// The built `tidemark` binary.
pub fn tidemark() -> Command {
    Command::new(env!("CARGO_BIN_EXE_tidemark"))
}

/// The repository root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Runs `tidemark run` with the given arguments (plus `--quiet`), asserting success.
pub fn run_ok(args: &[&str]) -> Output {
    let output = tidemark()
        .arg("run")
        .args(args)
        .arg("--quiet")
        .current_dir(root())
        .output()
        .expect("start tidemark");
    assert!(
        output.status.success(),
        "tidemark run {args:?} failed: {}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// Parses every JSON line of a file.
pub fn read_jsonl(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect()
}

/// The final rows, as sorted canonical JSON strings (for set comparisons).
pub fn final_lines(rows: &[Value]) -> Vec<String> {
    let mut lines: Vec<String> = rows
        .iter()
        .filter(|r| r["final"] == Value::Bool(true))
        .map(|r| r.to_string())
        .collect();
    lines.sort();
    lines
}

/// Generates tweets with `tidemark gen tweets` into `path`.
pub fn gen_tweets(path: &Path, args: &[&str]) {
    let output = tidemark()
        .args(["gen", "tweets"])
        .args(args)
        .output()
        .expect("start tidemark gen");
    assert!(
        output.status.success(),
        "gen failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    std::fs::write(path, output.stdout).expect("write tweets");
}

/// What a finished run wrote: result rows, dead letters, late records, and standard error.
pub struct Finished {
    /// Result rows.
    pub rows: Vec<Value>,
    /// Dead letters.
    pub dead: Vec<Value>,
    /// Late records.
    pub late: Vec<Value>,
    /// Standard error (progress, logs, summary).
    pub stderr: String,
}

/// Runs `dataflow` (over `source` when given, plus `extra` flags), sending results, dead
/// letters and late records to files in `dir`, and reads them back.
pub fn run_into(dir: &Path, dataflow: &str, source: Option<&Path>, extra: &[&str]) -> Finished {
    let (rows, dead, late) = (
        dir.join("rows.jsonl"),
        dir.join("dead.jsonl"),
        dir.join("late.jsonl"),
    );
    let sinks = [
        format!("jsonl:{}", rows.display()),
        format!("jsonl:{}", dead.display()),
        format!("jsonl:{}", late.display()),
    ];
    let mut args = vec![
        dataflow,
        "--sink",
        &sinks[0],
        "--dead-letter",
        &sinks[1],
        "--late",
        &sinks[2],
    ];
    let source = source.map(|s| format!("file:{}", s.display()));
    if let Some(uri) = &source {
        args.extend(["--source", uri]);
    }
    args.extend_from_slice(extra);
    let output = run_ok(&args);
    Finished {
        rows: read_jsonl(&rows),
        dead: read_jsonl(&dead),
        late: read_jsonl(&late),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

type Table = BTreeSet<(String, String, u64)>;

/// A validated table of the seed pipeline (`tests/data/evilnet/`, copied from
/// b-yond-infinite-network/amaze-us PR #109, Apache-2.0): `city,date,count` rows.
fn anchor(name: &str) -> Table {
    let path = root().join("tests/data/evilnet").join(name);
    let mut reader = csv::Reader::from_path(&path).expect("anchor csv");
    reader
        .records()
        .map(|r| {
            let r = r.expect("anchor row");
            let count: f64 = r[2].parse().expect("count");
            (r[0].to_string(), r[1].to_string(), count as u64)
        })
        .collect()
}

/// One column of the final `city_stats` rows in the anchors' layout (zero counts have no row).
fn city_stats_column(rows: &[Value], column: &str) -> Table {
    rows.iter()
        .filter(|r| r["output"] == "city_stats" && r["final"] == true)
        .filter(|r| r[column].as_u64().expect("count") > 0)
        .map(|r| {
            let start = r["window_start"].as_str().expect("start");
            // 2022-09-26T03:15:00.000Z -> 2022-09-26 03:15:00, the anchors' layout.
            let date = format!("{} {}", &start[..10], &start[11..19]);
            (
                r["city"].as_str().expect("city").to_string(),
                date,
                r[column].as_u64().expect("count"),
            )
        })
        .collect()
}

/// Asserts the final `city_stats` rows reproduce the seed's 40 tweets, 35 retweets and 40
/// unique-users rows exactly.
pub fn assert_seed_anchors(rows: &[Value]) {
    let tweets = anchor("anchor_tweets.csv");
    let retweets = anchor("anchor_retweets.csv");
    let unique = anchor("anchor_uniqueusers.csv");
    assert_eq!((tweets.len(), retweets.len(), unique.len()), (40, 35, 40));
    assert_eq!(city_stats_column(rows, "tweets"), tweets);
    assert_eq!(city_stats_column(rows, "retweets"), retweets);
    assert_eq!(city_stats_column(rows, "unique_users"), unique);
}

/// A free port on the loopback interface.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

/// Runs evilnet over `source` as two processes (`-n 2`, `workers` each) on loopback ports and
/// returns the union of their final lines.
pub fn run_two_processes(source: &str, dir: &Path, workers: &str) -> Vec<String> {
    let hostfile = dir.join("hosts");
    std::fs::write(
        &hostfile,
        format!("127.0.0.1:{}\n127.0.0.1:{}\n", free_port(), free_port()),
    )
    .expect("hostfile");
    let sink = format!("jsonl:{}", dir.join("cluster.jsonl").display());
    let hosts = hostfile.display().to_string();
    let children: Vec<_> = ["0", "1"]
        .iter()
        .map(|p| {
            tidemark()
                .current_dir(root())
                .args([
                    "run",
                    "dataflows/evilnet.toml",
                    "--source",
                    source,
                    "--sink",
                    &sink,
                    "--quiet",
                ])
                .args(["-w", workers, "-n", "2", "-p", p, "-h", &hosts])
                .spawn()
                .expect("spawn process")
        })
        .collect();
    for child in children {
        let output = child.wait_with_output().expect("wait");
        assert!(
            output.status.success(),
            "a process failed: {}",
            output.status
        );
    }
    let mut rows = read_jsonl(&dir.join("cluster.jsonl.0"));
    rows.extend(read_jsonl(&dir.join("cluster.jsonl.1")));
    final_lines(&rows)
}

/// Generates tweets into `path` and returns them as lines.
pub fn gen_tweet_lines(path: &Path, args: &[&str]) -> Vec<String> {
    gen_tweets(path, args);
    std::fs::read_to_string(path)
        .expect("tweets")
        .lines()
        .map(String::from)
        .collect()
}

/// The Kafka bootstrap address the tests use.
pub fn broker() -> String {
    std::env::var("TIDEMARK_KAFKA").unwrap_or_else(|_| "127.0.0.1:9092".to_string())
}

/// Creates a topic with a name no other test run uses.
pub fn topic(prefix: &str, partitions: i32) -> String {
    topic_on(&broker(), prefix, partitions, 1)
}

/// Creates a topic on `brokers` with `replication` copies of each partition, named so that
/// no other test run uses it.
pub fn topic_on(brokers: &str, prefix: &str, partitions: i32, replication: i32) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_nanos();
    let name = format!("{prefix}-{}-{nanos}", std::process::id());
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .create()
        .expect("admin client");
    let created = futures_executor::block_on(admin.create_topics(
        &[NewTopic::new(
            &name,
            partitions,
            TopicReplication::Fixed(replication),
        )],
        &AdminOptions::new().operation_timeout(Some(Duration::from_secs(10))),
    ))
    .expect("create topic (is Kafka running? scripts/services.sh up)");
    assert!(created.iter().all(Result::is_ok), "{created:?}");
    name
}

/// Produces lines to explicit partitions (`partition_of(index)`), and waits for every ack.
pub fn produce(topic: &str, lines: &[String], partition_of: impl Fn(usize) -> i32) {
    produce_to(&broker(), topic, lines, partition_of)
}

/// Produces lines to explicit partitions of a topic on `brokers`, and waits for every ack.
pub fn produce_to(
    brokers: &str,
    topic: &str,
    lines: &[String],
    partition_of: impl Fn(usize) -> i32,
) {
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("acks", "all")
        .set("enable.idempotence", "true")
        .create()
        .expect("producer");
    for (i, line) in lines.iter().enumerate() {
        let record = BaseRecord::<(), str>::to(topic)
            .payload(line.as_str())
            .partition(partition_of(i));
        producer.send(record).map_err(|(e, _)| e).expect("send");
        producer.poll(Duration::ZERO);
    }
    producer
        .flush(Duration::from_secs(30))
        .expect("all messages acknowledged");
}

/// Every message value in the topic, read from the start to the current end of each partition.
pub fn consume_all(topic: &str) -> Vec<Vec<u8>> {
    consume_all_from(&broker(), topic)
}

/// Every message value in a topic on `brokers`, read from the start to the current end.
pub fn consume_all_from(brokers: &str, topic: &str) -> Vec<Vec<u8>> {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    use rdkafka::message::Message;
    use rdkafka::{Offset, TopicPartitionList};
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", "tidemark-tests-reader")
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    let metadata = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .expect("metadata");
    let partitions: Vec<i32> = metadata.topics()[0]
        .partitions()
        .iter()
        .map(|p| p.id())
        .collect();
    let mut assignment = TopicPartitionList::new();
    let mut remaining = 0;
    for &p in &partitions {
        let (low, high) = consumer
            .fetch_watermarks(topic, p, Duration::from_secs(10))
            .expect("watermarks");
        remaining += high - low;
        assignment
            .add_partition_offset(topic, p, Offset::Beginning)
            .expect("assign");
    }
    consumer.assign(&assignment).expect("assign");
    let mut values = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    while remaining > 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "topic {topic} not read in time"
        );
        if let Some(message) = consumer.poll(Duration::from_millis(500)) {
            let message = message.expect("message");
            values.push(message.payload().unwrap_or_default().to_vec());
            remaining -= 1;
        }
    }
    values
}

/// The `data.id` of every tweet message in the topic, with repeats.
pub fn tweet_ids(topic: &str) -> Vec<String> {
    consume_all(topic)
        .iter()
        .map(|v| {
            let tweet: Value = serde_json::from_slice(v).expect("a JSON tweet");
            tweet["data"]["id"].as_str().expect("data.id").to_string()
        })
        .collect()
}

/// Offsets `group` has committed on each partition of a topic on `brokers` (-1: none).
pub fn committed_offsets(brokers: &str, group: &str, topic: &str, partitions: i32) -> Vec<i64> {
    let consumer: rdkafka::consumer::BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", group)
        .create()
        .expect("consumer");
    let mut wanted = rdkafka::TopicPartitionList::new();
    for p in 0..partitions {
        wanted.add_partition(topic, p);
    }
    // A broker that has just started answers "not coordinator" for a while.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let found = loop {
        match rdkafka::consumer::Consumer::committed_offsets(
            &consumer,
            wanted.clone(),
            Duration::from_secs(10),
        ) {
            Ok(found) => break found,
            Err(e) if std::time::Instant::now() < deadline => {
                eprintln!("committed offsets: {e}; asking again");
                std::thread::sleep(Duration::from_millis(200));
            }
            Err(e) => panic!("committed offsets: {e}"),
        }
    };
    (0..partitions)
        .map(
            |p| match found.find_partition(topic, p).map(|e| e.offset()) {
                Some(rdkafka::Offset::Offset(o)) => o,
                _ => -1,
            },
        )
        .collect()
}

/// Runs `scripts/services.sh ACTION SERVICE` on the same state (for outage tests).
pub fn services(action: &str, service: &str) {
    let status = Command::new(root().join("scripts/services.sh"))
        .args([action, service])
        .env("TIDEMARK_KEEP_STATE", "1")
        .status()
        .expect("run scripts/services.sh");
    assert!(
        status.success(),
        "scripts/services.sh {action} {service} failed"
    );
}
