//! `tidemark produce` replaying event time into a real broker: `--speedup` paces messages by
//! their own event times, `--retime now` moves those times to the moment of the run, and the
//! generators (`gen:taxi`, `gen:stocks`) feed a topic directly.

mod common;

use common::{broker, consume_all, root, tidemark, topic};
use serde_json::Value;

fn produce(args: &[&str]) -> String {
    let output = tidemark()
        .arg("produce")
        .args(args)
        .arg("--quiet")
        .output()
        .expect("run tidemark produce");
    let stderr = String::from_utf8_lossy(&output.stderr).to_string();
    assert!(output.status.success(), "produce failed: {stderr}");
    stderr
}

fn millis(rfc3339: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(rfc3339)
        .unwrap_or_else(|e| panic!("{rfc3339}: {e}"))
        .timestamp_millis()
}

fn created_at(tweet: &Value) -> i64 {
    millis(tweet["data"]["created_at"].as_str().expect("created_at"))
}

#[test]
fn seed_tweets_replayed_at_60x_become_live_with_their_gaps_scaled() {
    let name = topic("replay-seed", 1);
    let file = root().join("data/evilnet/tweets_decoded.jsonl");
    let original: Vec<Value> = std::fs::read_to_string(&file)
        .expect("seed tweets")
        .lines()
        .map(|l| serde_json::from_str(l).expect("json"))
        .collect();
    let before = chrono::Utc::now().timestamp_millis();
    let summary = produce(&[
        "--to",
        &format!("kafka://{}/{name}", broker()),
        "--speedup",
        "60",
        "--retime",
        "now",
        "--dataflow",
        &root().join("dataflows/evilnet.toml").display().to_string(),
        &format!("file:{}", file.display()),
    ]);
    let after = chrono::Utc::now().timestamp_millis();
    assert!(summary.contains("acknowledged 74"), "{summary}");

    let replayed: Vec<Value> = consume_all(&name)
        .iter()
        .map(|v| serde_json::from_slice(v).expect("json"))
        .collect();
    assert_eq!(replayed.len(), original.len());
    let (first_then, first_now) = (created_at(&original[0]), created_at(&replayed[0]));
    assert!(
        (before..=after).contains(&first_now),
        "the first tweet happens during the run"
    );
    for (then, now) in original.iter().zip(&replayed) {
        assert_eq!(then["data"]["id"], now["data"]["id"], "file order is kept");
        assert_eq!(
            then["data"]["text"], now["data"]["text"],
            "only the time changes"
        );
        let scaled = (created_at(then) - first_then) as f64 / 60.0;
        assert!(
            ((created_at(now) - first_now) as f64 - scaled).abs() <= 1.0,
            "gap {} ms at 60x should be {scaled} ms",
            created_at(now) - first_now
        );
    }
    // Pacing: nothing went before its time. The latest tweet is ~4 minutes after the first
    // in event time, 60x faster that is ~4 s after the run began.
    let latest = original.iter().map(created_at).max().expect("tweets");
    let paced_ms = (latest - first_then) / 60;
    assert!(
        after - before >= paced_ms,
        "the run took {} ms, less than the {paced_ms} ms pacing demands",
        after - before
    );
}

#[test]
fn generated_ticks_and_trips_go_straight_into_a_topic() {
    let name = topic("replay-gen", 2);
    let before = chrono::Utc::now().timestamp_millis();
    let summary = produce(&[
        "--to",
        &format!("kafka://{}/{name}", broker()),
        "--key",
        "symbol",
        "--speedup",
        "4",
        "--retime",
        "now",
        "gen:stocks?count=2000&rate=1000&symbols=50&seed=3",
    ]);
    let after = chrono::Utc::now().timestamp_millis();
    assert!(summary.contains("acknowledged 2000"), "{summary}");
    let ticks: Vec<Value> = consume_all(&name)
        .iter()
        .map(|v| serde_json::from_slice(v).expect("json"))
        .collect();
    assert_eq!(ticks.len(), 2000);
    for tick in &ticks {
        let ts = tick["ts"].as_i64().expect("ts stays epoch milliseconds");
        assert!(
            (before..=after + 1).contains(&ts),
            "retimed into the run: {tick}"
        );
        assert!(tick["price"].as_f64().expect("price") > 0.0);
    }

    let trips = topic("replay-taxi", 1);
    let summary = produce(&[
        "--to",
        &format!("kafka://{}/{trips}", broker()),
        "gen:taxi?count=300&seed=2&rate=1",
    ]);
    assert!(summary.contains("acknowledged 300"), "{summary}");
    let starts: Vec<i64> = consume_all(&trips)
        .iter()
        .map(|v| {
            let trip: Value = serde_json::from_slice(v).expect("json");
            trip["trip_start_timestamp"]
                .as_i64()
                .expect("epoch seconds")
        })
        .collect();
    assert_eq!(starts.len(), 300);
    assert!(
        starts.windows(2).all(|w| w[1] - w[0] == 1),
        "one trip a second"
    );
}

#[test]
fn retimed_taxi_trips_feed_the_live_dashboard_windows() {
    let name = topic("replay-taxi-live", 2);
    let summary = produce(&[
        "--to",
        &format!("kafka://{}/{name}", broker()),
        "--speedup",
        "2",
        "--retime",
        "now",
        "gen:taxi?count=600&rate=100&seed=5",
    ]);
    assert!(summary.contains("acknowledged 600"), "{summary}");
    // What the topic holds, summed per 5-second window of the retimed start times.
    let mut want: std::collections::BTreeMap<i64, (u64, f64, f64)> = Default::default();
    for message in consume_all(&name) {
        let trip: Value = serde_json::from_slice(&message).expect("json");
        let start_ms = trip["trip_start_timestamp"]
            .as_i64()
            .expect("retimed seconds")
            * 1000;
        let window = want.entry(start_ms.div_euclid(5000) * 5000).or_default();
        window.0 += 1;
        window.1 += trip["fare"].as_f64().expect("fare");
        window.2 += trip["tips"].as_f64().expect("tips");
    }
    let dir = tempfile::tempdir().expect("dir");
    let source = format!(
        "kafka://{}/{name}?start=earliest&stop=end&group=taxi-live-{name}",
        broker()
    );
    let run = common::run_into(
        dir.path(),
        "dataflows/taxi_live.toml",
        None,
        &["--source", &source],
    );
    assert!(run.dead.is_empty() && run.late.is_empty(), "{}", run.stderr);
    let got: std::collections::BTreeMap<i64, (u64, f64, f64)> = run
        .rows
        .iter()
        .filter(|r| r["output"] == "fare_sums" && r["final"] == true)
        .map(|r| {
            (
                millis(r["window_start"].as_str().expect("start")),
                (
                    r["trips"].as_u64().expect("trips"),
                    r["fare_sum"].as_f64().expect("fares"),
                    r["tips_sum"].as_f64().expect("tips"),
                ),
            )
        })
        .collect();
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        want.keys().collect::<Vec<_>>()
    );
    for (window, (trips, fares, tips)) in &want {
        let (n, f, t) = got[window];
        assert_eq!(n, *trips, "window {window}");
        assert!(
            (f - fares).abs() < 1e-6 && (t - tips).abs() < 1e-6,
            "window {window}"
        );
    }
    assert!(run
        .rows
        .iter()
        .any(|r| r["output"] == "hotspot_community_areas" && r["rank"] == 1));
}
