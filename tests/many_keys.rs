//! Many keys at once: more partial states than a pre-aggregator sends in one go, and more
//! rows at the input's end than a window store fires in one go, so both go in parts. The
//! final rows still match a plain batch computation, at any worker and process count.

mod common;

use common::{final_lines, gen_tweet_lines, read_jsonl, run_ok, run_two_processes};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Tweets per city and 5-minute window, and their distinct authors, from the generated
/// lines themselves (every generated tweet has its own id and a city place).
fn batch_city_stats(lines: &[String]) -> BTreeMap<(String, i64), (u64, BTreeSet<String>)> {
    let mut stats: BTreeMap<(String, i64), (u64, BTreeSet<String>)> = BTreeMap::new();
    for line in lines {
        let tweet: Value = serde_json::from_str(line).expect("a generated tweet");
        let place = &tweet["includes"]["places"][0];
        if place["place_type"] != "city" {
            continue;
        }
        let at = chrono::DateTime::parse_from_rfc3339(
            tweet["data"]["created_at"].as_str().expect("created_at"),
        )
        .expect("an RFC 3339 time")
        .timestamp_millis();
        let window = at - at.rem_euclid(300_000);
        let city = place["full_name"].as_str().expect("a city").to_string();
        let entry = stats.entry((city, window)).or_default();
        entry.0 += 1;
        let author = tweet["data"]["author_id"].as_str().expect("an author");
        entry.1.insert(author.to_string());
    }
    stats
}

fn run_final(input: &str, out: &Path, workers: &str) -> Vec<Value> {
    let sink = format!("jsonl:{}", out.display());
    run_ok(&[
        "dataflows/evilnet.toml",
        "--source",
        input,
        "--sink",
        &sink,
        "-w",
        workers,
    ]);
    read_jsonl(out)
        .into_iter()
        .filter(|r| r["final"] == true)
        .collect()
}

#[test]
fn many_keys_give_the_batch_results_at_any_worker_and_process_count() {
    let dir = tempfile::tempdir().expect("tempdir");
    let tweets = dir.path().join("tweets.jsonl");
    // Over 5 minutes of event time, nearly every tweet from another city and author: about
    // 170 000 cities in one window, each a partial state and a row of its own.
    let lines = gen_tweet_lines(
        &tweets,
        &[
            "--count",
            "240000",
            "--cities",
            "1000000",
            "--users",
            "1000000000",
            "--seed",
            "5",
        ],
    );
    let expected = batch_city_stats(&lines);
    assert!(
        expected.len() > 150_000,
        "expected over 150 000 (city, window) cells, got {}",
        expected.len()
    );
    let input = format!("file:{}", tweets.display());
    let one = run_final(&input, &dir.path().join("w1.jsonl"), "1");
    let mut got = BTreeMap::new();
    for row in one.iter().filter(|r| r["output"] == "city_stats") {
        let city = row["city"].as_str().expect("city").to_string();
        let start = chrono::DateTime::parse_from_rfc3339(
            row["window_start"].as_str().expect("window_start"),
        )
        .expect("an RFC 3339 time")
        .timestamp_millis();
        let counts = (
            row["tweets"].as_u64().expect("tweets"),
            row["unique_users"].as_u64().expect("unique_users"),
        );
        assert!(
            got.insert((city, start), counts).is_none(),
            "two final rows for one city and window"
        );
    }
    let want: BTreeMap<(String, i64), (u64, u64)> = expected
        .into_iter()
        .map(|(cell, (tweets, users))| (cell, (tweets, users.len() as u64)))
        .collect();
    assert!(got == want, "city_stats differ from the batch computation");
    let one = {
        let mut lines: Vec<String> = one.iter().map(Value::to_string).collect();
        lines.sort();
        lines
    };
    let two = run_final(&input, &dir.path().join("w2.jsonl"), "2");
    assert!(
        final_lines(&two) == one,
        "-w 2 differs from -w 1 ({} against {} final rows)",
        two.len(),
        one.len()
    );
    assert!(
        run_two_processes(&input, dir.path(), "1") == one,
        "-n 2 differs from -w 1"
    );
}
