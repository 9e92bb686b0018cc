//! `dataflows/stocks.toml` on generated ticks, checked against a plain batch computation over
//! the same file (group by 5-second window and symbol), and its handling of bad ticks.

mod common;

use common::{run_into, tidemark};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;

/// Per (window start, symbol): trades, price sum, min, max, (ts, price) of the last tick,
/// volume.
#[derive(Default, Debug)]
struct Stats {
    trades: u64,
    price_sum: f64,
    min: f64,
    max: f64,
    last: (u64, f64),
    volume: f64,
}

fn expected(file: &Path) -> BTreeMap<(u64, String), Stats> {
    let mut stats: BTreeMap<(u64, String), Stats> = BTreeMap::new();
    for line in std::fs::read_to_string(file).expect("ticks").lines() {
        let tick: Value = serde_json::from_str(line).expect("json");
        let ts = tick["ts"].as_u64().expect("ts");
        let price = tick["price"].as_f64().expect("price");
        let window = ts / 5000 * 5000;
        for symbol in [tick["symbol"].as_str().expect("symbol"), "*market*"] {
            let s = stats.entry((window, symbol.to_string())).or_insert(Stats {
                min: f64::MAX,
                max: f64::MIN,
                ..Stats::default()
            });
            s.trades += 1;
            s.price_sum += price;
            s.min = s.min.min(price);
            s.max = s.max.max(price);
            if (ts, price) > s.last {
                s.last = (ts, price);
            }
            s.volume += tick["volume"].as_f64().expect("volume");
        }
    }
    stats
}

fn close(a: &Value, b: f64) -> bool {
    a.as_f64()
        .is_some_and(|a| (a - b).abs() <= 1e-9 * b.abs().max(1.0))
}

#[test]
fn symbol_and_market_stats_match_a_batch_computation() {
    let dir = tempfile::tempdir().expect("dir");
    let ticks = dir.path().join("ticks.jsonl");
    let out = tidemark()
        .args([
            "gen", "stocks", "--count", "30000", "--seed", "9", "--rate", "2000",
        ])
        .args(["--symbols", "300", "--disorder-s", "1"])
        .output()
        .expect("gen stocks");
    assert!(out.status.success());
    std::fs::write(&ticks, &out.stdout).expect("write ticks");
    let run = run_into(dir.path(), "dataflows/stocks.toml", Some(&ticks), &[]);
    assert!(run.dead.is_empty() && run.late.is_empty(), "{}", run.stderr);

    let want = expected(&ticks);
    let finals: Vec<&Value> = run.rows.iter().filter(|r| r["final"] == true).collect();
    assert_eq!(
        finals.len(),
        want.len(),
        "one final row per window and symbol"
    );
    for row in finals {
        let start =
            chrono::DateTime::parse_from_rfc3339(row["window_start"].as_str().expect("start"))
                .expect("time")
                .timestamp_millis() as u64;
        let symbol = match row["output"].as_str() {
            Some("symbol_stats") => row["symbol"].as_str().expect("symbol").to_string(),
            _ => "*market*".to_string(),
        };
        let s = &want[&(start, symbol.clone())];
        let at = format!("{symbol} at {start}: {row}");
        assert_eq!(row["trades"].as_u64(), Some(s.trades), "{at}");
        assert!(
            close(&row["avg_price"], s.price_sum / s.trades as f64),
            "{at}"
        );
        assert!(close(&row["volume"], s.volume), "{at}");
        if row["output"] == "symbol_stats" {
            assert_eq!(row["min_price"].as_f64(), Some(s.min), "{at}");
            assert_eq!(row["max_price"].as_f64(), Some(s.max), "{at}");
            assert_eq!(row["last_price"].as_f64(), Some(s.last.1), "{at}");
        }
    }
}

#[test]
fn bad_ticks_are_dead_letters_and_the_rest_count() {
    let dir = tempfile::tempdir().expect("dir");
    let ticks = dir.path().join("ticks.jsonl");
    std::fs::write(
        &ticks,
        [
            r#"{"symbol": "AAA", "price": 10.5, "volume": 100, "ts": 1000, "currency": "USD"}"#,
            r#"{"symbol": "AAA", "price": "ten", "volume": 100, "ts": 1001, "currency": "USD"}"#,
            r#"{"symbol": "AAA", "price": 11.5, "volume": 100, "currency": "USD"}"#,
            r#"{"symbol": "AAA", "price": 12.5, "volume": 100, "ts": 1002"#,
            r#"{"symbol": "AAA", "price": 9.5, "volume": 300, "ts": 1003, "currency": "USD"}"#,
        ]
        .join("\n"),
    )
    .expect("write");
    let run = run_into(dir.path(), "dataflows/stocks.toml", Some(&ticks), &[]);
    let reasons: Vec<(u64, String)> = run
        .dead
        .iter()
        .map(|d| {
            (
                d["line"].as_u64().expect("line"),
                d["reason"].as_str().expect("reason").to_string(),
            )
        })
        .collect();
    assert_eq!(reasons.len(), 3, "{reasons:?}");
    assert_eq!(
        reasons[0],
        (2, "field `price`: expected a number, got \"ten\"".into())
    );
    assert_eq!(reasons[1], (3, "missing field `ts`".into()));
    assert_eq!(reasons[2].0, 4);
    assert!(
        reasons[2].1.starts_with("malformed JSON at byte"),
        "{reasons:?}"
    );
    let aaa = run
        .rows
        .iter()
        .find(|r| r["output"] == "symbol_stats" && r["final"] == true)
        .expect("AAA row");
    assert_eq!(aaa["trades"], 2);
    assert_eq!(aaa["last_price"], 9.5);
    assert_eq!(aaa["volume"], 400.0);
}
