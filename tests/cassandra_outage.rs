//! Cassandra stopped for 30 s in the middle of an unbounded run, then started again: the
//! engine holds back meanwhile, and afterwards every final row reaches Cassandra, none lost. Runs against the node `scripts/services.sh` manages;
//! with `TIDEMARK_CASSANDRA` set (a node this suite does not control) it cannot stop the
//! node, says so, and checks nothing.

mod common;

use common::{gen_tweet_lines, produce, root, services, tidemark, topic};
use scylla::client::session_builder::SessionBuilder;
use scylla::value::CqlTimestamp;
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

/// Stops the engine however the test ends.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Cassandra is down from `begin` until this is dropped, however the test ends.
struct Outage;

impl Outage {
    fn begin() -> Outage {
        services("down", "cassandra");
        Outage
    }
}

impl Drop for Outage {
    fn drop(&mut self) {
        services("up", "cassandra");
    }
}

/// Final `city_stats` rows as (city, window_start ms, tweets).
type Rows = BTreeSet<(String, i64, i64)>;

fn jsonl_finals(path: &std::path::Path) -> Rows {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|r| r["output"] == "city_stats" && r["final"] == true)
        .map(|r| {
            let start =
                chrono::DateTime::parse_from_rfc3339(r["window_start"].as_str().expect("start"))
                    .expect("time");
            (
                r["city"].as_str().expect("city").to_string(),
                start.timestamp_millis(),
                r["tweets"].as_i64().expect("tweets"),
            )
        })
        .collect()
}

#[test]
fn rows_written_while_cassandra_is_down_arrive_when_it_is_back() {
    if std::env::var("TIDEMARK_CASSANDRA").is_ok() {
        eprintln!(
            "TIDEMARK_CASSANDRA is set: this test cannot stop that node, so it checks nothing"
        );
        return;
    }
    let keyspace = format!("outage_{}", std::process::id());
    let name = topic("outage", 2);
    let dir = tempfile::tempdir().expect("tempdir");
    // 10 000 tweets one second apart; the first 83 minutes go in before the outage, enough to
    // make the first windows final (1 h lateness), the rest while Cassandra is down.
    let lines = gen_tweet_lines(
        &dir.path().join("tweets.jsonl"),
        &["--count", "10000", "--seed", "12", "--rate", "1"],
    );
    let (before, during) = lines.split_at(5000);
    produce(&name, before, |i| (i % 2) as i32);

    let jsonl = dir.path().join("rows.jsonl");
    let log = dir.path().join("engine.log");
    let engine = KillOnDrop(
        tidemark()
            .current_dir(root())
            .args(["run", "dataflows/evilnet.toml", "--quiet", "-w", "2"])
            // The engine's own throttled warnings say enough; the driver's are per second.
            .env("TIDEMARK_LOG", "info,scylla=off")
            .args([
                "--source",
                &format!("kafka://{}/{name}?start=earliest", common::broker()),
            ])
            .args(["--sink", &format!("cassandra://127.0.0.1:9042/{keyspace}")])
            .args(["--sink", &format!("jsonl:{}", jsonl.display())])
            .stderr(std::fs::File::create(&log).expect("engine log"))
            .spawn()
            .expect("spawn engine"),
    );
    let wait_for = |what: &str, limit: Duration, done: &dyn Fn() -> bool| {
        let deadline = Instant::now() + limit;
        while !done() {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(200));
        }
    };
    wait_for("the first final rows", Duration::from_secs(60), &|| {
        !jsonl_finals(&jsonl).is_empty()
    });

    let outage = Outage::begin();
    let outage_began = Instant::now();
    let finals_before = jsonl_finals(&jsonl).len();
    produce(&name, during, |i| (i % 2) as i32);
    // Rows fire from the new tweets, their writes fail, and the engine holds back (it stops
    // reading until they are written) rather than failing or dropping them.
    wait_for(
        "writes failing during the outage",
        Duration::from_secs(30),
        &|| {
            std::fs::read_to_string(&log)
                .unwrap_or_default()
                .contains("Cassandra writes failing")
        },
    );
    std::thread::sleep(Duration::from_secs(30).saturating_sub(outage_began.elapsed()));
    drop(outage);
    // Then it reads on: the rest of the windows become final, in the JSONL sink too.
    wait_for(
        "windows final after the outage",
        Duration::from_secs(90),
        &|| jsonl_finals(&jsonl).len() > finals_before,
    );

    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let session = runtime
        .block_on(SessionBuilder::new().known_node("127.0.0.1:9042").build())
        .expect("connect");
    let stored = || -> Rows {
        let query = format!("SELECT city, window_start, tweets, final FROM {keyspace}.city_stats");
        let Ok(result) = runtime.block_on(session.query_unpaged(query, ())) else {
            return Rows::new();
        };
        let Ok(rows) = result.into_rows_result() else {
            return Rows::new();
        };
        let Ok(typed) = rows.rows::<(String, CqlTimestamp, i64, bool)>() else {
            return Rows::new();
        };
        typed
            .filter_map(Result::ok)
            .filter(|r| r.3)
            .map(|(city, start, tweets, _)| (city, start.0, tweets))
            .collect()
    };
    let want = jsonl_finals(&jsonl);
    let deadline = Instant::now() + Duration::from_secs(90);
    let mut got = stored();
    while !want.is_subset(&got) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(500));
        got = stored();
    }
    drop(engine);
    let missing: Vec<_> = want.difference(&got).take(5).collect();
    assert!(
        missing.is_empty(),
        "{} final rows never reached Cassandra, e.g. {missing:?}",
        want.difference(&got).count()
    );
}
