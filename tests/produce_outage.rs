//! `tidemark produce` against a real broker that is killed (SIGKILL) and restarted while
//! messages flow: every message ends up in the topic, duplicates only where the producer
//! says a message may have reached the broker before its failure, and the evilnet dataflow
//! gives the same final rows from the topic as from the file. Runs against the broker
//! `scripts/services.sh` manages; with `TIDEMARK_KAFKA` set it cannot kill that broker, says
//! so, and checks nothing.

mod common;

use common::{broker, final_lines, gen_tweets, run_into, services, tidemark, topic, tweet_ids};
use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Child, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The tests here kill the one broker; they take turns.
static BROKER: Mutex<()> = Mutex::new(());

const COUNT: usize = 200_000;
/// 20 000 messages a second: the run takes about ten seconds without an outage.
const RATE: &str = "20000";

/// Kafka is down from `begin` until `end` (or the end of the test, however it ends).
struct Outage(bool);

impl Outage {
    fn begin() -> Outage {
        services("kill", "kafka");
        Outage(true)
    }

    fn end(&mut self) {
        if std::mem::take(&mut self.0) {
            services("up", "kafka");
        }
    }
}

impl Drop for Outage {
    fn drop(&mut self) {
        self.end();
    }
}

fn producer(name: &str, spool: &Path) -> Child {
    tidemark()
        .args(["produce", "--to", &format!("kafka://{}/{name}", broker())])
        .args(["--spool", &spool.display().to_string(), "--rate", RATE])
        .args(["--ack-timeout-s", "5"])
        .arg(format!("gen:tweets?count={COUNT}&seed=21"))
        .stderr(Stdio::piped())
        .spawn()
        .expect("start tidemark produce")
}

/// Waits for the producer and returns its summary's "possible duplicates" count.
fn finished(child: Child) -> u64 {
    let output = child.wait_with_output().expect("producer");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "producer failed:\n{stderr}");
    let summary = stderr
        .lines()
        .find(|l| l.starts_with("produced:"))
        .unwrap_or_else(|| panic!("no summary in:\n{stderr}"));
    eprintln!("{summary}");
    summary
        .split("possible duplicates ")
        .nth(1)
        .and_then(|rest| rest.split(',').next())
        .and_then(|n| n.parse().ok())
        .expect("possible duplicates count")
}

fn expected_ids() -> BTreeSet<String> {
    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join("tweets.jsonl");
    gen_tweets(&file, &["--count", &COUNT.to_string(), "--seed", "21"]);
    std::fs::read_to_string(&file)
        .expect("tweets")
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("json");
            v["data"]["id"].as_str().expect("id").to_string()
        })
        .collect()
}

/// Checks that every id is in the topic; returns how many messages are repeats.
fn assert_complete(name: &str) -> usize {
    let ids = tweet_ids(name);
    let unique: BTreeSet<String> = ids.iter().cloned().collect();
    let want = expected_ids();
    let missing: Vec<_> = want.difference(&unique).take(5).collect();
    assert!(
        missing.is_empty(),
        "{} of {COUNT} tweets missing from the topic, e.g. {missing:?}",
        want.difference(&unique).count()
    );
    assert_eq!(unique.len(), COUNT, "nothing but the produced tweets");
    let duplicates = ids.len() - unique.len();
    eprintln!(
        "topic {name}: {} messages, {duplicates} duplicates",
        ids.len()
    );
    duplicates
}

fn kafka_is_ours() -> bool {
    if std::env::var("TIDEMARK_KAFKA").is_ok() {
        eprintln!("TIDEMARK_KAFKA is set: this test cannot kill that broker, so it checks nothing");
        return false;
    }
    true
}

fn sleep_until(start: Instant, after: Duration) {
    std::thread::sleep(after.saturating_sub(start.elapsed()));
}

#[test]
fn a_broker_killed_mid_stream_loses_nothing() {
    if !kafka_is_ours() {
        return;
    }
    let _turn = BROKER.lock().unwrap_or_else(|p| p.into_inner());
    let name = topic("produce-outage", 3);
    let spool = tempfile::tempdir().expect("spool");
    let start = Instant::now();
    let child = producer(&name, spool.path());
    // ~20% in: the broker dies; ~60% in: it comes back (restarting takes a few seconds more).
    sleep_until(start, Duration::from_secs(2));
    let mut outage = Outage::begin();
    sleep_until(start, Duration::from_secs(6));
    outage.end();
    let possible_duplicates = finished(child);
    let duplicates = assert_complete(&name);
    assert!(
        duplicates as u64 <= possible_duplicates,
        "{duplicates} duplicates, but the producer knew of only {possible_duplicates} messages in doubt"
    );
    let left = std::fs::read_dir(spool.path())
        .expect("spool dir")
        .filter(|e| {
            e.as_ref()
                .is_ok_and(|e| e.file_name().to_string_lossy().ends_with(".log"))
        })
        .count();
    assert_eq!(left, 0, "a drained spool keeps no segments");

    // The topic through the evilnet dataflow gives the file's final rows.
    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join("tweets.jsonl");
    gen_tweets(&file, &["--count", &COUNT.to_string(), "--seed", "21"]);
    let from_file = run_into(dir.path(), "dataflows/evilnet.toml", Some(&file), &[]);
    let source = format!("kafka://{}/{name}?start=earliest&stop=end", broker());
    std::fs::create_dir_all(dir.path().join("topic")).expect("dir");
    let from_topic = run_into(
        &dir.path().join("topic"),
        "dataflows/evilnet.toml",
        None,
        &["--source", &source, "-w", "2"],
    );
    assert!(!from_file.rows.is_empty());
    assert_eq!(final_lines(&from_topic.rows), final_lines(&from_file.rows));
}

#[test]
fn a_producer_killed_during_an_outage_resumes_from_its_spool() {
    if !kafka_is_ours() {
        return;
    }
    let _turn = BROKER.lock().unwrap_or_else(|p| p.into_inner());
    let name = topic("produce-outage-kill", 3);
    let spool = tempfile::tempdir().expect("spool");
    let start = Instant::now();
    let mut first = producer(&name, spool.path());
    sleep_until(start, Duration::from_secs(2));
    let mut outage = Outage::begin();
    // Let the first producer notice and spool for a while, then kill it.
    let spooled = || {
        std::fs::read_dir(spool.path())
            .map(|d| {
                d.filter_map(Result::ok)
                    .filter(|e| e.file_name().to_string_lossy().ends_with(".log"))
                    .filter_map(|e| e.metadata().ok())
                    .map(|m| m.len())
                    .sum::<u64>()
            })
            .unwrap_or(0)
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while spooled() < 1 << 20 {
        assert!(Instant::now() < deadline, "the producer never spooled");
        std::thread::sleep(Duration::from_millis(100));
    }
    first.kill().expect("kill the producer");
    let _ = first.wait();
    // Restarted while the broker is still down: it goes on spooling, then drains.
    let second = producer(&name, spool.path());
    std::thread::sleep(Duration::from_secs(3));
    outage.end();
    finished(second);
    assert_complete(&name);
}

#[test]
fn sigterm_stops_the_producer_cleanly_and_a_restart_completes_the_topic() {
    let _turn = BROKER.lock().unwrap_or_else(|p| p.into_inner());
    let name = topic("produce-sigterm", 2);
    let dir = tempfile::tempdir().expect("dir");
    let spool = dir.path().join("spool");
    let child = producer(&name, &spool);
    std::thread::sleep(Duration::from_secs(2));
    let status = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let output = child.wait_with_output().expect("producer");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "stopped producer: {stderr}");
    let summary = stderr
        .lines()
        .find(|l| l.starts_with("produced:"))
        .unwrap_or_else(|| panic!("no summary in:\n{stderr}"));
    let read: usize = summary
        .split("read ")
        .nth(1)
        .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no read count in {summary}"));
    assert!(read > 0 && read < COUNT, "stopped mid-stream: {summary}");
    assert!(
        spool.join("checkpoint").exists(),
        "the checkpoint is written"
    );
    // The same spool and sources carry on where the stopped run ended.
    finished(producer(&name, &spool));
    assert_complete(&name);
}
