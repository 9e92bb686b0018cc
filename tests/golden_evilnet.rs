//! Golden test: the evilnet dataflow on the bundled seed tweets reproduces the seed
//! pipeline's validated Cassandra tables exactly.
//!
//! The anchors in `tests/data/evilnet/` are copies of the seed's `tester/*.csv`
//! (b-yond-infinite-network/amaze-us, PR #109, Apache-2.0): `city,date,count`, one row per
//! (city, 5-minute window) with a non-zero count.

mod common;

use common::{assert_seed_anchors, root, run_into};
use serde_json::Value;
use std::collections::BTreeMap;

fn evilnet_rows() -> Vec<Value> {
    let dir = tempfile::tempdir().expect("tempdir");
    run_into(dir.path(), "dataflows/evilnet.toml", None, &[]).rows
}

#[test]
fn city_stats_reproduce_the_seed_anchors_exactly() {
    assert_seed_anchors(&evilnet_rows());
}

#[test]
fn exactly_one_final_line_per_window_and_key_or_rank() {
    let rows = evilnet_rows();
    let mut seen = BTreeMap::new();
    for r in rows.iter().filter(|r| r["final"] == true) {
        let identity = match r.get("rank") {
            Some(rank) => rank.to_string(),
            None => r["city"].to_string(),
        };
        let key = (
            r["output"].to_string(),
            r["window_start"].to_string(),
            identity,
        );
        *seen.entry(key).or_insert(0) += 1;
    }
    assert!(
        seen.values().all(|&n| n == 1),
        "duplicated final lines: {seen:?}"
    );
    assert!(seen.keys().any(|(o, _, _)| o == "\"top_cities\""));
}

/// Top and bottom cities come from a plain batch computation over the same tweets.
#[test]
fn rankings_match_a_batch_computation() {
    let rows = evilnet_rows();
    let text =
        std::fs::read_to_string(root().join("data/evilnet/tweets_decoded.jsonl")).expect("tweets");
    let mut tweets: Vec<(i64, String, bool)> = Vec::new();
    for line in text.lines() {
        let v: Value = serde_json::from_str(line).expect("json");
        if v["includes"]["places"][0]["place_type"] != "city" {
            continue;
        }
        let at =
            chrono::DateTime::parse_from_rfc3339(v["data"]["created_at"].as_str().expect("time"))
                .expect("rfc3339");
        let referenced = v["data"]["referenced_tweets"]
            .as_array()
            .is_some_and(|a| !a.is_empty());
        tweets.push((
            at.timestamp_millis(),
            v["includes"]["places"][0]["full_name"]
                .as_str()
                .expect("city")
                .to_string(),
            referenced,
        ));
    }
    let (hour, five) = (3_600_000i64, 300_000i64);
    let first = tweets.iter().map(|t| t.0).min().expect("tweets") / five * five - hour;
    let last = tweets.iter().map(|t| t.0).max().expect("tweets");
    let mut start = first;
    let mut windows_checked = 0;
    while start <= last {
        let mut per_city: BTreeMap<&str, (u64, u64)> = BTreeMap::new();
        for (t, city, referenced) in &tweets {
            if *t >= start && *t < start + hour {
                let e = per_city.entry(city).or_default();
                e.0 += 1;
                e.1 += u64::from(*referenced);
            }
        }
        let window_start = chrono::DateTime::from_timestamp_millis(start)
            .expect("t")
            .format("%Y-%m-%dT%H:%M:%S%.3fZ")
            .to_string();
        let mut top: Vec<(&str, u64)> = per_city.iter().map(|(c, v)| (*c, v.0)).collect();
        top.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        let mut bottom: Vec<(&str, u64)> = per_city.iter().map(|(c, v)| (*c, v.1)).collect();
        bottom.sort_by(|a, b| a.1.cmp(&b.1).then(a.0.cmp(b.0)));
        for (output, column, expected) in [
            ("top_cities", "tweets", top),
            ("least_retweeted_cities", "retweets", bottom),
        ] {
            let mut got: Vec<(u64, String, u64)> = rows
                .iter()
                .filter(|r| {
                    r["output"] == output
                        && r["final"] == true
                        && r["window_start"] == window_start.as_str()
                })
                .map(|r| {
                    (
                        r["rank"].as_u64().expect("rank"),
                        r["city"].as_str().expect("city").to_string(),
                        r[column].as_u64().expect("n"),
                    )
                })
                .collect();
            got.sort();
            let want: Vec<(u64, String, u64)> = expected
                .iter()
                .take(5)
                .enumerate()
                .map(|(i, (c, n))| (i as u64 + 1, c.to_string(), *n))
                .collect();
            assert_eq!(got, want, "{output} at {window_start}");
            windows_checked += usize::from(!want.is_empty());
        }
        start += five;
    }
    assert!(
        windows_checked >= 20,
        "only {windows_checked} windows had tweets"
    );
}

/// The three hand-edited tweets push the watermark 5 minutes ahead; the tweets after them
/// are behind the watermark but within the allowed lateness, so none is late.
#[test]
fn early_tweets_do_not_make_later_ones_late() {
    let dir = tempfile::tempdir().expect("tempdir");
    let run = run_into(dir.path(), "dataflows/evilnet.toml", None, &[]);
    assert!(run.late.is_empty());
    assert!(
        run.stderr
            .contains("read 74, kept 73, filtered 1, duplicates 0, late 0, dead letters 0"),
        "{}",
        run.stderr
    );
}
