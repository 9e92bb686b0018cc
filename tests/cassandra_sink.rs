//! The Cassandra sink on a real Apache Cassandra 5 node (`scripts/services.sh up`, or
//! `TIDEMARK_CASSANDRA=host:port` for a node of your own): rows land as idempotent upserts in
//! tables that answer the dashboard queries of docs/operations.md without ALLOW FILTERING.

mod common;

use common::cassandra::{keyspace, node, Cassandra};
use common::{assert_seed_anchors, final_lines, read_jsonl, root, run_ok, tidemark};
use scylla::value::CqlTimestamp;
use serde_json::{json, Value};

fn time(ts: CqlTimestamp) -> String {
    chrono::DateTime::from_timestamp_millis(ts.0)
        .expect("time")
        .format("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string()
}

/// Reads of the evilnet tables.
trait EvilnetTables {
    fn city_stats(&self, cql: &str) -> Vec<Value>;
    fn ranks(&self, cql: &str) -> Vec<(i32, String, i64)>;
}

impl EvilnetTables for Cassandra {
    /// Runs a query and returns its rows as JSON objects named like the JSONL output.
    fn city_stats(&self, cql: &str) -> Vec<Value> {
        self.query(cql)
            .rows::<(String, CqlTimestamp, CqlTimestamp, i64, i64, i64, bool)>()
            .expect("typed rows")
            .map(|r| {
                let (city, start, end, tweets, retweets, unique_users, is_final) = r.expect("row");
                json!({"output": "city_stats", "window_start": time(start), "window_end": time(end), "city": city,
                       "tweets": tweets, "retweets": retweets, "unique_users": unique_users, "final": is_final})
            })
            .collect()
    }

    fn ranks(&self, cql: &str) -> Vec<(i32, String, i64)> {
        self.query(cql)
            .rows::<(i32, String, i64)>()
            .expect("typed rows")
            .map(|r| r.expect("row"))
            .collect()
    }
}

const COLUMNS: &str = "city, window_start, window_end, tweets, retweets, unique_users, final";

#[test]
fn seed_tweets_land_in_cassandra_and_answer_dashboard_queries() {
    let ks = keyspace("seed");
    let sink = format!("cassandra://{}/{ks}", node());
    let dir = tempfile::tempdir().expect("tempdir");
    let jsonl = dir.path().join("rows.jsonl");
    run_ok(&[
        "dataflows/evilnet.toml",
        "--sink",
        &sink,
        "--sink",
        &format!("jsonl:{}", jsonl.display()),
        "-w",
        "2",
    ]);
    let db = Cassandra::connect();

    let all = db.city_stats(&format!("SELECT {COLUMNS} FROM {ks}.city_stats"));
    assert_seed_anchors(&all);
    assert!(
        all.iter().all(|r| r["final"] == true),
        "after a finished run every stored row is final"
    );
    let jsonl_rows = read_jsonl(&jsonl);
    let mut want: Vec<String> = jsonl_rows
        .iter()
        .filter(|r| r["output"] == "city_stats" && r["final"] == true)
        .map(|r| {
            json!({"city": r["city"], "window_start": r["window_start"], "tweets": r["tweets"]})
                .to_string()
        })
        .collect();
    want.sort();
    let mut got: Vec<String> = all
        .iter()
        .map(|r| {
            json!({"city": r["city"], "window_start": r["window_start"], "tweets": r["tweets"]})
                .to_string()
        })
        .collect();
    got.sort();
    assert_eq!(got, want, "Cassandra holds exactly the final JSONL rows");

    // Trend of one city over 6 hours: one partition, newest first.
    let trend = db.city_stats(&format!(
        "SELECT {COLUMNS} FROM {ks}.city_stats WHERE city = 'Toronto, Ontario' \
         AND window_start >= '2022-09-25 21:20:00+0000' AND window_start <= '2022-09-26 03:20:00+0000'"
    ));
    let starts: Vec<&str> = trend
        .iter()
        .map(|r| r["window_start"].as_str().expect("start"))
        .collect();
    let mut want_starts: Vec<&str> = jsonl_rows
        .iter()
        .filter(|r| {
            r["output"] == "city_stats" && r["final"] == true && r["city"] == "Toronto, Ontario"
        })
        .map(|r| r["window_start"].as_str().expect("start"))
        .collect();
    want_starts.sort_unstable_by(|a, b| b.cmp(a));
    assert!(!starts.is_empty());
    assert_eq!(starts, want_starts, "the trend comes back newest first");

    // Every city in the last hour: the day partition, a window_start range.
    let hour = db.city_stats(&format!(
        "SELECT {COLUMNS} FROM {ks}.city_stats_by_window WHERE day = '2022-09-26' \
         AND window_start >= '2022-09-26 02:25:00+0000' AND window_start < '2022-09-26 03:25:00+0000'"
    ));
    assert_eq!(hour.len(), all.len());

    // Top 5 cities of the hour ending 03:20: one slice of the day partition, in rank order.
    let top = db.ranks(&format!(
        "SELECT rank, city, tweets FROM {ks}.top_cities WHERE day = '2022-09-26' AND window_end = '2022-09-26 03:20:00+0000'"
    ));
    let want_top: Vec<(i32, String, i64)> = jsonl_rows
        .iter()
        .filter(|r| {
            r["output"] == "top_cities"
                && r["final"] == true
                && r["window_end"] == "2022-09-26T03:20:00.000Z"
        })
        .map(|r| {
            (
                r["rank"].as_i64().expect("rank") as i32,
                r["city"].as_str().expect("city").to_string(),
                r["tweets"].as_i64().expect("n"),
            )
        })
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    assert_eq!(top, want_top);
    assert_eq!(top.len(), 5);
}

#[test]
fn replaying_a_run_overwrites_and_never_adds() {
    let ks = keyspace("replay");
    let sink = format!("cassandra://{}/{ks}", node());
    run_ok(&["dataflows/evilnet.toml", "--sink", &sink]);
    let db = Cassandra::connect();
    let first = final_lines(&db.city_stats(&format!("SELECT {COLUMNS} FROM {ks}.city_stats")));
    run_ok(&["dataflows/evilnet.toml", "--sink", &sink, "-w", "3"]);
    let second = final_lines(&db.city_stats(&format!("SELECT {COLUMNS} FROM {ks}.city_stats")));
    assert_eq!(first.len(), 40);
    assert!(first == second, "a replay must leave the same rows");
}

#[test]
fn committed_schema_matches_the_dataflow() {
    let output = tidemark()
        .current_dir(root())
        .args(["schema", "dataflows/evilnet.toml"])
        .output()
        .expect("schema");
    assert!(output.status.success());
    let committed = std::fs::read_to_string(root().join("config/cassandra/evilnet.cql"))
        .expect("committed CQL");
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        committed,
        "regenerate with: tidemark schema dataflows/evilnet.toml > config/cassandra/evilnet.cql"
    );
}

#[test]
fn per_record_and_cumulative_outputs_land_in_their_tables() {
    let ks = keyspace("pipelines");
    let sink = format!("cassandra://{}/{ks}", node());
    let dir = tempfile::tempdir().expect("tempdir");
    let jsonl = dir.path().join("rows.jsonl");
    let jsonl_sink = format!("jsonl:{}", jsonl.display());
    run_ok(&[
        "dataflows/sentiment.toml",
        "--sink",
        &sink,
        "--sink",
        &jsonl_sink,
    ]);
    let db = Cassandra::connect();
    let query = |cql: String| db.query(&cql);

    // Every tweet's polarity, as a number, identified by its time and id.
    let stored: std::collections::BTreeMap<String, (f64, String)> = query(format!(
        "SELECT id, polarity, label FROM {ks}.tweet_polarity WHERE day = '2013-12-24'"
    ))
    .rows::<(String, f64, String)>()
    .expect("typed rows")
    .map(|r| {
        let (id, polarity, label) = r.expect("row");
        (id, (polarity, label))
    })
    .collect();
    let rows = read_jsonl(&jsonl);
    let want: std::collections::BTreeMap<String, (f64, String)> = rows
        .iter()
        .filter(|r| r["output"] == "tweet_polarity")
        .map(|r| {
            (
                r["id"].as_str().expect("id").to_string(),
                (
                    r["polarity"].as_f64().expect("polarity"),
                    r["label"].as_str().expect("label").to_string(),
                ),
            )
        })
        .collect();
    assert!(want.len() > 200);
    assert_eq!(stored, want);

    // A cumulative day: the day's first row is "so far today", the whole day.
    let taxi = keyspace("taxi");
    let taxi_sink = format!("cassandra://{}/{taxi}", node());
    let trips = root().join("data/chicago_taxi/socrata_legacy_sample.csv");
    run_ok(&[
        "dataflows/taxi.toml",
        "--source",
        &format!("file:{}", trips.display()),
        "--sink",
        &taxi_sink,
        "--sink",
        &jsonl_sink,
    ]);
    let day_rows: Vec<Value> = read_jsonl(&jsonl)
        .into_iter()
        .filter(|r| r["output"] == "daily_totals" && r["final"] == true)
        .collect();
    let first = &day_rows[0];
    let start = first["window_start"].as_str().expect("start");
    let day = &start[..10];
    let (end, trips_so_far) = day_rows
        .iter()
        .filter(|r| r["window_start"] == start)
        .map(|r| {
            (
                r["window_end"].as_str().expect("end"),
                r["trips"].as_i64().expect("n"),
            )
        })
        .max()
        .expect("a day");
    let latest = query(format!(
        "SELECT window_end, trips FROM {taxi}.daily_totals_by_window WHERE day = '{day}' \
         AND window_start = '{}' LIMIT 1",
        start.replace('T', " ").replace(".000Z", "+0000")
    ))
    .rows::<(CqlTimestamp, i64)>()
    .expect("typed rows")
    .map(|r| r.expect("row"))
    .next()
    .expect("a stored row");
    assert_eq!((time(latest.0), latest.1), (end.to_string(), trips_so_far));
}
