//! The Kafka source on a real Apache Kafka 4 broker (`scripts/services.sh up`, or
//! `TIDEMARK_KAFKA=host:port` for a broker of your own).

mod common;

use common::{
    assert_seed_anchors, broker, final_lines, gen_tweet_lines, produce, root, run_into,
    run_two_processes, tidemark, topic,
};
use std::path::Path;
use std::time::{Duration, Instant};

fn uri(topic: &str, query: &str) -> String {
    format!("kafka://{}/{topic}?{query}", broker())
}

fn seed_lines() -> Vec<String> {
    let text = std::fs::read_to_string(root().join("data/evilnet/tweets_decoded.jsonl"))
        .expect("seed tweets");
    text.lines().map(String::from).collect()
}

fn run_kafka(dir: &Path, source: &str, extra: &[&str]) -> common::Finished {
    let mut args = vec!["--source", source];
    args.extend_from_slice(extra);
    run_into(dir, "dataflows/evilnet.toml", None, &args)
}

#[test]
fn seed_tweets_from_three_partitions_reproduce_the_anchors() {
    let name = topic("seed", 3);
    produce(&name, &seed_lines(), |i| (i % 3) as i32);
    let dir = tempfile::tempdir().expect("tempdir");
    let run = run_kafka(
        dir.path(),
        &uri(&name, "start=earliest&stop=end"),
        &["-w", "2"],
    );
    assert!(
        run.stderr.contains("read 74, kept 73, filtered 1"),
        "{}",
        run.stderr
    );
    assert_seed_anchors(&run.rows);
}

#[test]
fn two_processes_write_the_same_rows_as_one_worker() {
    let name = topic("cluster", 4);
    let dir = tempfile::tempdir().expect("tempdir");
    let tweets = dir.path().join("tweets.jsonl");
    let lines = gen_tweet_lines(
        &tweets,
        &[
            "--count",
            "4000",
            "--seed",
            "9",
            "--disorder-s",
            "120",
            "--rate",
            "2",
        ],
    );
    produce(&name, &lines, |i| (i % 4) as i32);
    let source = uri(&name, "start=earliest&stop=end");
    let one = final_lines(&run_kafka(dir.path(), &source, &["-w", "1"]).rows);
    assert!(one.len() > 100);

    assert!(
        run_two_processes(&source, dir.path(), "1") == one,
        "-n 2 differs from -w 1"
    );
}

#[test]
fn bad_records_in_a_topic_are_dead_lettered_with_their_offsets() {
    let name = topic("bad", 2);
    let mut lines = seed_lines();
    lines.insert(5, "{\"data\": ".to_string());
    lines.insert(9, "{\"data\": {\"id\": \"x\", \"created_at\": \"soon\"}, \"includes\": {\"places\": [{\"full_name\": \"A\", \"place_type\": \"city\"}]}}".to_string());
    produce(&name, &lines, |_| 1);
    let dir = tempfile::tempdir().expect("tempdir");
    let run = run_kafka(
        dir.path(),
        &uri(&name, "start=earliest&stop=end"),
        &["-w", "2"],
    );
    assert!(
        run.stderr
            .contains("read 76, kept 73, filtered 1, duplicates 0, late 0, dead letters 2"),
        "{}",
        run.stderr
    );
    let offsets: Vec<u64> = run
        .dead
        .iter()
        .map(|d| d["offset"].as_u64().expect("offset"))
        .collect();
    assert_eq!(offsets, vec![5, 9]);
    assert!(run.dead.iter().all(|d| d["source"]
        .as_str()
        .expect("source")
        .ends_with(&format!("{name}/1"))
        && d["partition"] == 1));
    assert_seed_anchors(&run.rows);
}

/// Two of four partitions never get data; an unbounded run must still close windows, because
/// empty partitions (told apart by their log end offsets) hold nothing. The live run's final
/// rows for the first window must become exactly those of a bounded run over the same tweets.
#[test]
fn partitions_without_data_do_not_stall_windows() {
    let name = topic("idle", 4);
    let dir = tempfile::tempdir().expect("tempdir");
    let tweets = dir.path().join("tweets.jsonl");
    // 5000 tweets one second apart: 83 minutes of event time, so the first windows are final
    // (1 h lateness) long before the last tweet.
    let lines = gen_tweet_lines(&tweets, &["--count", "5000", "--seed", "4", "--rate", "1"]);
    produce(&name, &lines, |i| (i % 2) as i32);

    let first_window = |rows: &[serde_json::Value]| {
        let mut lines: Vec<String> = rows
            .iter()
            .filter(|r| {
                r["output"] == "city_stats"
                    && r["final"] == true
                    && r["window_start"] == "2022-09-26T03:00:00.000Z"
            })
            .map(|r| r.to_string())
            .collect();
        lines.sort();
        lines
    };
    let want =
        first_window(&run_into(dir.path(), "dataflows/evilnet.toml", Some(&tweets), &[]).rows);
    assert!(!want.is_empty());

    let out = dir.path().join("live.jsonl");
    let mut engine = tidemark()
        .current_dir(root())
        .args([
            "run",
            "dataflows/evilnet.toml",
            "--source",
            &uri(&name, "start=earliest"),
            "--quiet",
            "-w",
            "2",
        ])
        .arg("--sink")
        .arg(format!("jsonl:{}", out.display()))
        .spawn()
        .expect("spawn engine");
    let deadline = Instant::now() + Duration::from_secs(60);
    let got = loop {
        let text = std::fs::read_to_string(&out).unwrap_or_default();
        let rows: Vec<serde_json::Value> = text
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect();
        let got = first_window(&rows);
        if got == want || Instant::now() > deadline {
            break got;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    engine.kill().expect("stop engine");
    let _ = engine.wait();
    assert_eq!(
        got, want,
        "the first window's final rows never matched: empty partitions stalled the frontier?"
    );
}

#[test]
fn a_missing_topic_is_a_setup_error() {
    let output = tidemark()
        .current_dir(root())
        .args([
            "run",
            "dataflows/evilnet.toml",
            "--quiet",
            "--source",
            &uri("no-such-topic-here", "stop=end"),
        ])
        .output()
        .expect("run");
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("no-such-topic-here (no such topic)"));
}
