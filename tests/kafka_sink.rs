//! The Kafka sink on the real broker: each row's last message in the topic is the JSONL
//! sink's final row, also when the engine is killed with SIGKILL and restarted from its
//! committed offsets.

mod common;

use common::engine::Engine;
use common::{
    broker, committed_offsets, consume_messages_from, final_lines, gen_tweet_lines, produce,
    read_jsonl, root, run_ok, tidemark, topic,
};
use serde_json::Value;
use std::collections::BTreeMap;

/// The last message of each key in `topic`, as sorted JSON lines; every message has a key
/// naming its output and window.
fn last_per_key(topic: &str) -> Vec<String> {
    let mut last = BTreeMap::new();
    for (key, value) in consume_messages_from(&broker(), topic) {
        let key = key.expect("every message has a key");
        let identity: Value = serde_json::from_slice(&key).expect("a JSON key");
        assert!(
            identity["output"].is_string() && identity["window_start"].is_string(),
            "{identity}"
        );
        let row: Value = serde_json::from_slice(&value).expect("a JSON row");
        assert_eq!(identity["output"], row["output"]);
        last.insert(key, row.to_string());
    }
    let mut lines: Vec<String> = last.into_values().collect();
    lines.sort();
    lines
}

/// Every row of a finished run is final; the set is compared line by line.
fn assert_final_rows(topic_rows: &[String], jsonl_finals: &[String]) {
    assert!(jsonl_finals.len() > 50, "{} final rows", jsonl_finals.len());
    for row in topic_rows {
        assert!(row.contains("\"final\":true"), "not final: {row}");
    }
    let differ: Vec<_> = topic_rows
        .iter()
        .filter(|r| jsonl_finals.binary_search(r).is_err())
        .take(3)
        .collect();
    assert!(differ.is_empty(), "rows not in the JSONL sink: {differ:?}");
    assert_eq!(topic_rows.len(), jsonl_finals.len());
}

#[test]
fn each_rows_last_message_is_the_jsonl_sinks_final_row() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = topic("sink-in", 2);
    let rows = topic("sink-rows", 3);
    let lines = gen_tweet_lines(
        &dir.path().join("tweets.jsonl"),
        &["--count", "6000", "--seed", "31", "--disorder-s", "60"],
    );
    produce(&input, &lines, |i| (i % 2) as i32);
    let jsonl = dir.path().join("rows.jsonl");
    run_ok(&[
        "dataflows/evilnet.toml",
        "-w",
        "2",
        "--source",
        &format!("kafka://{}/{input}?start=earliest&stop=end", broker()),
        "--sink",
        &format!("kafka://{}/{rows}", broker()),
        "--sink",
        &format!("jsonl:{}", jsonl.display()),
    ]);
    assert_final_rows(&last_per_key(&rows), &final_lines(&read_jsonl(&jsonl)));
}

#[test]
fn a_kill_9_and_a_restart_leave_each_rows_final_version_last() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = topic("sink-kill-in", 2);
    let rows = topic("sink-kill-rows", 2);
    // One tweet a second for 5.5 hours: a record's windows are final two hours after it, so
    // the kill leaves windows open after the committed positions.
    let lines = gen_tweet_lines(
        &dir.path().join("tweets.jsonl"),
        &[
            "--count",
            "20000",
            "--rate",
            "1",
            "--seed",
            "33",
            "--disorder-s",
            "120",
        ],
    );
    produce(&input, &lines[..12_000], |i| (i % 2) as i32);
    let group = format!("sink-kill-{}", std::process::id());
    let source = |query: &str| format!("kafka://{}/{input}?group={group}{query}", broker());
    let sink = format!("kafka://{}/{rows}", broker());
    let mut command = tidemark();
    command.current_dir(root()).args([
        "run",
        "dataflows/evilnet.toml",
        "--quiet",
        "-w",
        "2",
        "--source",
        &source(""),
        "--sink",
        &sink,
    ]);
    let mut engine = Engine::spawn(command, dir.path().join("engine.log"));
    common::wait_committed(&broker(), &group, &input, 2, || engine.stderr());
    engine.kill();
    let committed: i64 = committed_offsets(&broker(), &group, &input, 2).iter().sum();
    assert!(
        committed < 12_000,
        "windows were open at the kill ({committed} committed)"
    );

    produce(&input, &lines[12_000..], |i| (i % 2) as i32);
    run_ok(&[
        "dataflows/evilnet.toml",
        "-w",
        "2",
        "--source",
        &source("&stop=end"),
        "--sink",
        &sink,
    ]);
    let whole = dir.path().join("whole.jsonl");
    run_ok(&[
        "dataflows/evilnet.toml",
        "-w",
        "2",
        "--source",
        &format!(
            "kafka://{}/{input}?group={group}-whole&start=earliest&stop=end",
            broker()
        ),
        "--sink",
        &format!("jsonl:{}", whole.display()),
    ]);
    assert_final_rows(&last_per_key(&rows), &final_lines(&read_jsonl(&whole)));
}

#[test]
fn a_dataflows_sinks_take_the_rows_when_the_command_line_names_none() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rows = topic("sink-file-rows", 1);
    let evilnet = std::fs::read_to_string(root().join("dataflows/evilnet.toml")).expect("evilnet");
    let dataflow = dir.path().join("evilnet.toml");
    std::fs::write(
        &dataflow,
        format!(
            "{}\n[[sink]]\nuri = \"kafka://{}/{rows}\"\n\n[[sink]]\nuri = \"jsonl:rows.jsonl\"\n",
            evilnet.replace(
                "uri = \"file:../data/evilnet/tweets_decoded.jsonl\"",
                &format!(
                    "uri = \"file:{}\"",
                    root().join("data/evilnet/tweets_decoded.jsonl").display()
                )
            ),
            broker()
        ),
    )
    .expect("dataflow");
    run_ok(&[dataflow.to_str().expect("path")]);
    // The JSONL path is relative to the dataflow file.
    let finals = final_lines(&read_jsonl(&dir.path().join("rows.jsonl")));
    assert_final_rows(&last_per_key(&rows), &finals);
}
