//! `dataflows/sessions.toml` (user sessions per city) over generated tweets with disorder and
//! very late records: its final rows equal a batch computation of the sessions, at `-w 1`,
//! `-w 3` and `-n 2` alike, and every record it leaves out is in the late output.

mod common;

use common::{final_lines, gen_tweets, run_into, run_two_processes_of};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

const GAP: i64 = 30 * 60_000;
const LATENESS: i64 = 10 * 60_000;
const OUT_OF_ORDERNESS: i64 = 10_000;

fn millis(text: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(text)
        .expect("time")
        .timestamp_millis()
}

fn stamp(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .expect("time")
        .format("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string()
}

/// The batch computation over the one input file: (final rows as sorted JSON-like lines, the
/// number of records late for the sessions).
fn batch(path: &std::path::Path) -> (BTreeSet<String>, usize) {
    let mut seen = BTreeSet::new();
    let mut watermark: Option<i64> = None;
    let mut late = 0;
    let mut per_key: BTreeMap<(String, String), Vec<(i64, bool)>> = BTreeMap::new();
    for line in std::fs::read_to_string(path).expect("tweets").lines() {
        let v: Value = serde_json::from_str(line).expect("json");
        let t = millis(v["data"]["created_at"].as_str().expect("created_at"));
        // Filtered records do not move the watermark.
        let place = &v["includes"]["places"][0];
        if place["place_type"] != "city" {
            continue;
        }
        let arrival = watermark.map_or(t, |w| t.max(w));
        watermark = Some(watermark.map_or(t - OUT_OF_ORDERNESS, |w| w.max(t - OUT_OF_ORDERNESS)));
        if arrival > t + LATENESS {
            late += 1;
            continue;
        }
        if !seen.insert(v["data"]["id"].as_str().expect("id").to_string()) {
            continue;
        }
        let city = place["full_name"].as_str().expect("city").to_string();
        let author = v["data"]["author_id"].as_str().expect("author").to_string();
        let referenced = v["data"]["referenced_tweets"]
            .as_array()
            .is_some_and(|a| !a.is_empty());
        per_key
            .entry((city, author))
            .or_default()
            .push((t, referenced));
    }
    let mut rows = BTreeSet::new();
    for ((city, author), mut tweets) in per_key {
        tweets.sort();
        let mut sessions: Vec<Vec<(i64, bool)>> = Vec::new();
        for tweet in tweets {
            match sessions.last_mut() {
                Some(s) if tweet.0 - s.last().expect("non-empty").0 < GAP => s.push(tweet),
                _ => sessions.push(vec![tweet]),
            }
        }
        for s in sessions {
            let retweets = s.iter().filter(|t| t.1).count();
            rows.insert(format!(
                "{}|{}|{city}|{author}|{}|{retweets}",
                stamp(s[0].0),
                stamp(s.last().expect("non-empty").0 + GAP),
                s.len()
            ));
        }
    }
    (rows, late)
}

/// Asserts two sets of rows are equal, showing a few differences when they are not.
fn assert_same(got: &BTreeSet<String>, want: &BTreeSet<String>) {
    let missing: Vec<&String> = want.difference(got).take(5).collect();
    let extra: Vec<&String> = got.difference(want).take(5).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "{} rows, {} expected; missing {missing:#?}, extra {extra:#?}",
        got.len(),
        want.len()
    );
}

fn as_lines(rows: &[Value]) -> BTreeSet<String> {
    let mut lines = BTreeSet::new();
    for r in rows.iter().filter(|r| r["final"] == true) {
        let line = format!(
            "{}|{}|{}|{}|{}|{}",
            r["window_start"].as_str().expect("start"),
            r["window_end"].as_str().expect("end"),
            r["city"].as_str().expect("city"),
            r["author"].as_str().expect("author"),
            r["tweets"],
            r["retweets"]
        );
        assert!(lines.insert(line.clone()), "two final rows for {line}");
    }
    lines
}

#[test]
fn user_sessions_equal_the_batch_sessions_at_any_worker_count() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("tweets.jsonl");
    // 300 users over 30 cities, one tweet a second of event time: a user's tweets
    // in one city come minutes to hours apart, so sessions split, and disorder plus a few
    // very late tweets make late records, corrections and merges.
    gen_tweets(
        &input,
        &[
            "--count",
            "20000",
            "--users",
            "300",
            "--rate",
            "1",
            "--disorder-s",
            "900",
            "--very-late",
            "0.002",
        ],
    );
    let (want, late) = batch(&input);
    assert!(want.len() > 1000, "enough sessions: {}", want.len());
    assert!(late > 0, "the input has late records");
    let multi_tweet = want
        .iter()
        .filter(|l| l.split('|').nth(4) != Some("1"))
        .count();
    assert!(
        multi_tweet > 100,
        "sessions of several tweets: {multi_tweet}"
    );

    let one = run_into(
        dir.path(),
        "dataflows/sessions.toml",
        Some(&input),
        &["-w", "1"],
    );
    assert_same(&as_lines(&one.rows), &want);
    assert_eq!(
        one.late.len(),
        late,
        "every late record is in the late output"
    );
    assert!(
        one.rows.iter().any(|r| r["final"] == false),
        "late records corrected sessions that had fired"
    );

    let three = run_into(
        dir.path(),
        "dataflows/sessions.toml",
        Some(&input),
        &["-w", "3"],
    );
    assert_same(&as_lines(&three.rows), &want);

    let cluster = dir.path().join("cluster");
    std::fs::create_dir(&cluster).expect("dir");
    let source = format!("file:{}", input.display());
    let two = run_two_processes_of("dataflows/sessions.toml", &source, &cluster, "2");
    assert_eq!(two, final_lines(&one.rows));
}
