//! Effectively-once on the real servers: the engine is killed with SIGKILL mid-stream (with
//! data in open windows), restarted from the offsets it committed, and every final row in
//! Cassandra is exactly what an uninterrupted run writes.

mod common;

use common::{broker, gen_tweet_lines, produce, root, run_ok, tidemark, topic};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{Offset, TopicPartitionList};
use scylla::client::session_builder::SessionBuilder;
use scylla::value::CqlTimestamp;
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

fn cassandra() -> String {
    std::env::var("TIDEMARK_CASSANDRA").unwrap_or_else(|_| "127.0.0.1:9042".to_string())
}

/// Kills the engine however the test ends.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Offsets the group has committed on each partition.
fn committed(group: &str, topic: &str, partitions: i32) -> Vec<i64> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", broker())
        .set("group.id", group)
        .create()
        .expect("consumer");
    let mut wanted = TopicPartitionList::new();
    for p in 0..partitions {
        wanted.add_partition(topic, p);
    }
    // A broker that has just started answers "not coordinator" for a while.
    let deadline = Instant::now() + Duration::from_secs(30);
    let found = loop {
        match consumer.committed_offsets(wanted.clone(), Duration::from_secs(10)) {
            Ok(found) => break found,
            Err(e) if Instant::now() < deadline => {
                eprintln!("committed offsets: {e}; asking again");
                std::thread::sleep(Duration::from_millis(200));
            }
            Err(e) => panic!("committed offsets: {e}"),
        }
    };
    (0..partitions)
        .map(
            |p| match found.find_partition(topic, p).map(|e| e.offset()) {
                Some(Offset::Offset(o)) => o,
                _ => -1,
            },
        )
        .collect()
}

/// Every final row of the evilnet tables of a keyspace, as text.
fn final_rows(keyspace: &str) -> BTreeSet<String> {
    final_rows_of(keyspace, &["top_cities", "least_retweeted_cities"])
}

/// Every final row of `city_stats` and of the `ranked` tables of a keyspace, as text.
fn final_rows_of(keyspace: &str, ranked: &[&str]) -> BTreeSet<String> {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let session = SessionBuilder::new().known_node(cassandra()).build().await.expect("connect");
        let mut rows = BTreeSet::new();
        let stats = session
            .query_unpaged(format!("SELECT city, window_start, tweets, retweets, unique_users, final FROM {keyspace}.city_stats"), ())
            .await
            .expect("city_stats");
        for row in stats.into_rows_result().expect("rows").rows::<(String, CqlTimestamp, i64, i64, i64, bool)>().expect("typed") {
            let (city, start, tweets, retweets, users, is_final) = row.expect("row");
            assert!(is_final, "after a finished run every row is final");
            rows.insert(format!("city_stats {city} {} {tweets} {retweets} {users}", start.0));
        }
        for &table in ranked {
            let column = if table == "top_cities" { "tweets" } else { "retweets" };
            let ranked = session
                .query_unpaged(format!("SELECT window_end, rank, city, {column}, final FROM {keyspace}.{table}"), ())
                .await
                .expect(table);
            for row in ranked.into_rows_result().expect("rows").rows::<(CqlTimestamp, i32, String, i64, bool)>().expect("typed") {
                let (end, rank, city, n, is_final) = row.expect("row");
                assert!(is_final);
                rows.insert(format!("{table} {} {rank} {city} {n}", end.0));
            }
        }
        rows
    })
}

#[test]
fn kill_9_and_restart_write_exactly_what_an_uninterrupted_run_writes() {
    let name = topic("once", 2);
    let dir = tempfile::tempdir().expect("tempdir");
    // Five and a half hours of out-of-order tweets with a few very late ones. A record is
    // done once its last window (1 h, sliding) is final (1 h lateness): two hours after it,
    // so the first 3.3 hours give committed positions with open windows after them.
    let lines = gen_tweet_lines(
        &dir.path().join("tweets.jsonl"),
        &[
            "--count",
            "20000",
            "--seed",
            "21",
            "--rate",
            "1",
            "--disorder-s",
            "120",
            "--very-late",
            "0.002",
        ],
    );
    let (first, rest) = lines.split_at(12_000);
    produce(&name, first, |i| (i % 2) as i32);

    let run = std::process::id();
    let (ks_once, ks_killed) = (format!("once_a_{run}"), format!("once_b_{run}"));
    let source =
        |group: &str, query: &str| format!("kafka://{}/{name}?group={group}{query}", broker());
    let sink = |keyspace: &str| format!("cassandra://{}/{keyspace}", cassandra());

    // The interrupted run: unbounded, killed once it has committed positions past the start.
    let group = format!("once-killed-{run}");
    let mut engine = KillOnDrop(
        tidemark()
            .current_dir(root())
            .args(["run", "dataflows/evilnet.toml", "--quiet", "-w", "2"])
            .args(["--source", &source(&group, ""), "--sink", &sink(&ks_killed)])
            .spawn()
            .expect("spawn engine"),
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    while committed(&group, &name, 2).iter().any(|&o| o <= 0) {
        assert!(
            Instant::now() < deadline,
            "the engine committed no positions"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    std::thread::sleep(Duration::from_millis(500));
    engine.0.kill().expect("SIGKILL");
    let _ = engine.0.wait();
    let resumed_at: i64 = committed(&group, &name, 2).iter().sum();
    assert!(
        resumed_at < 12_000,
        "some records were still in open windows at the kill ({resumed_at} committed)"
    );

    produce(&name, rest, |i| (i % 2) as i32);
    let restarted = run_ok(&[
        "dataflows/evilnet.toml",
        "-w",
        "2",
        "--source",
        &source(&group, "&stop=end"),
        "--sink",
        &sink(&ks_killed),
    ]);
    let stderr = String::from_utf8_lossy(&restarted.stderr);
    let read: i64 = stderr
        .lines()
        .find_map(|l| {
            l.strip_prefix("summary: read ")?
                .split(',')
                .next()?
                .parse()
                .ok()
        })
        .expect("summary");
    assert_eq!(
        read,
        20_000 - resumed_at,
        "the restart resumes from the committed offsets"
    );

    // The uninterrupted run over the same topic.
    run_ok(&[
        "dataflows/evilnet.toml",
        "-w",
        "2",
        "--source",
        &source(&format!("once-whole-{run}"), "&stop=end"),
        "--sink",
        &sink(&ks_once),
    ]);

    let whole = final_rows(&ks_once);
    let killed = final_rows(&ks_killed);
    assert!(whole.len() > 100, "{} rows", whole.len());
    let differ: Vec<_> = whole.symmetric_difference(&killed).take(6).collect();
    assert!(
        differ.is_empty(),
        "{} rows differ, e.g. {differ:?}",
        whole.symmetric_difference(&killed).count()
    );
}

/// Runs one CQL statement.
fn cql(statement: &str) {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let session = SessionBuilder::new()
            .known_node(cassandra())
            .build()
            .await
            .expect("connect");
        session.query_unpaged(statement, ()).await.expect(statement);
    });
}

/// The final rows of the evilnet tables left intact by the test below.
fn city_stats_and_top_cities(keyspace: &str) -> BTreeSet<String> {
    final_rows_of(keyspace, &["top_cities"])
}

#[test]
fn a_write_refused_for_good_ends_the_run_and_commits_nothing_unwritten() {
    let name = topic("refused", 1);
    let dir = tempfile::tempdir().expect("tempdir");
    let lines = gen_tweet_lines(
        &dir.path().join("tweets.jsonl"),
        &[
            "--count",
            "20000",
            "--seed",
            "5",
            "--rate",
            "1",
            "--disorder-s",
            "60",
        ],
    );
    // Records are committed two hours (window and lateness) after them: the first 3.3
    // hours give committed positions, the rest new windows to write.
    let (first, rest) = lines.split_at(12_000);
    produce(&name, first, |_| 0);
    let run = std::process::id();
    let (ks_whole, ks_failed) = (format!("refused_a_{run}"), format!("refused_b_{run}"));
    let source =
        |group: &str, query: &str| format!("kafka://{}/{name}?group={group}{query}", broker());
    let sink = |keyspace: &str| format!("cassandra://{}/{keyspace}", cassandra());
    let group = format!("refused-{run}");
    let log = dir.path().join("engine.log");
    let mut engine = KillOnDrop(
        tidemark()
            .current_dir(root())
            .args(["run", "dataflows/evilnet.toml", "--quiet"])
            .args(["--source", &source(&group, ""), "--sink", &sink(&ks_failed)])
            .stderr(std::fs::File::create(&log).expect("log"))
            .spawn()
            .expect("spawn engine"),
    );
    let stderr = || std::fs::read_to_string(&log).expect("log");
    let deadline = Instant::now() + Duration::from_secs(60);
    while committed(&group, &name, 1)[0] <= 0 {
        assert!(Instant::now() < deadline, "nothing committed: {}", stderr());
        std::thread::sleep(Duration::from_millis(200));
    }
    // The table changes under the running engine: its upserts can never succeed again.
    cql(&format!(
        "ALTER TABLE {ks_failed}.least_retweeted_cities DROP retweets"
    ));
    produce(&name, rest, |_| 0);
    let deadline = Instant::now() + Duration::from_secs(90);
    let status = loop {
        if let Some(status) = engine.0.try_wait().expect("wait") {
            break status;
        }
        assert!(Instant::now() < deadline, "still running: {}", stderr());
        std::thread::sleep(Duration::from_millis(200));
    };
    let stderr = stderr();
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("Cassandra refused a write for good: table least_retweeted_cities, key ["),
        "{stderr}"
    );
    assert!(
        stderr.contains("retweets"),
        "the error names the column: {stderr}"
    );
    let committed_at = committed(&group, &name, 1)[0];
    assert!(committed_at < 20_000, "{committed_at}");

    // Mended and restarted from what was committed, the run ends as an uninterrupted one.
    cql(&format!(
        "ALTER TABLE {ks_failed}.least_retweeted_cities ADD retweets bigint"
    ));
    run_ok(&[
        "dataflows/evilnet.toml",
        "--source",
        &source(&group, "&stop=end"),
        "--sink",
        &sink(&ks_failed),
    ]);
    run_ok(&[
        "dataflows/evilnet.toml",
        "--source",
        &source(&format!("refused-whole-{run}"), "&stop=end"),
        "--sink",
        &sink(&ks_whole),
    ]);
    let whole = city_stats_and_top_cities(&ks_whole);
    let failed = city_stats_and_top_cities(&ks_failed);
    assert!(whole.len() > 50, "{} rows", whole.len());
    let differ: Vec<_> = whole.symmetric_difference(&failed).take(6).collect();
    assert!(differ.is_empty(), "rows differ, e.g. {differ:?}");
}

/// Sends SIGTERM to a child process.
fn terminate(child: &std::process::Child) {
    let status = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
}

#[test]
fn sigterm_stops_cleanly_and_a_restart_writes_what_an_uninterrupted_run_writes() {
    let name = topic("sigterm", 2);
    let dir = tempfile::tempdir().expect("tempdir");
    let lines = gen_tweet_lines(
        &dir.path().join("tweets.jsonl"),
        &[
            "--count",
            "20000",
            "--seed",
            "9",
            "--rate",
            "1",
            "--disorder-s",
            "120",
        ],
    );
    let (first, rest) = lines.split_at(12_000);
    produce(&name, first, |i| (i % 2) as i32);
    let run = std::process::id();
    let (ks_whole, ks_stopped) = (format!("sigterm_a_{run}"), format!("sigterm_b_{run}"));
    let source =
        |group: &str, query: &str| format!("kafka://{}/{name}?group={group}{query}", broker());
    let sink = |keyspace: &str| format!("cassandra://{}/{keyspace}", cassandra());
    let group = format!("sigterm-{run}");
    let log = dir.path().join("engine.log");
    let mut engine = KillOnDrop(
        tidemark()
            .current_dir(root())
            .args(["run", "dataflows/evilnet.toml", "--quiet", "-w", "2"])
            .args([
                "--source",
                &source(&group, ""),
                "--sink",
                &sink(&ks_stopped),
            ])
            .stderr(std::fs::File::create(&log).expect("log"))
            .spawn()
            .expect("spawn engine"),
    );
    let stderr = || std::fs::read_to_string(&log).expect("log");
    let deadline = Instant::now() + Duration::from_secs(60);
    while committed(&group, &name, 2).iter().any(|&o| o <= 0) {
        assert!(Instant::now() < deadline, "nothing committed: {}", stderr());
        std::thread::sleep(Duration::from_millis(200));
    }
    terminate(&engine.0);
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = engine.0.try_wait().expect("wait") {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "still running after SIGTERM: {}",
            stderr()
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    let text = stderr();
    assert_eq!(status.code(), Some(0), "{text}");
    assert!(text.contains("summary: read "), "{text}");
    let resumed_at: i64 = committed(&group, &name, 2).iter().sum();
    assert!(
        resumed_at < 12_000,
        "windows were open at the stop ({resumed_at} committed)"
    );

    produce(&name, rest, |i| (i % 2) as i32);
    run_ok(&[
        "dataflows/evilnet.toml",
        "-w",
        "2",
        "--source",
        &source(&group, "&stop=end"),
        "--sink",
        &sink(&ks_stopped),
    ]);
    run_ok(&[
        "dataflows/evilnet.toml",
        "-w",
        "2",
        "--source",
        &source(&format!("sigterm-whole-{run}"), "&stop=end"),
        "--sink",
        &sink(&ks_whole),
    ]);
    let whole = final_rows(&ks_whole);
    let stopped = final_rows(&ks_stopped);
    assert!(whole.len() > 100, "{} rows", whole.len());
    let differ: Vec<_> = whole.symmetric_difference(&stopped).take(6).collect();
    assert!(differ.is_empty(), "rows differ, e.g. {differ:?}");
}

#[test]
fn a_jsonl_sink_keeps_its_rows_across_a_kill_and_a_restart_from_committed() {
    let name = topic("jsonl-once", 2);
    let dir = tempfile::tempdir().expect("tempdir");
    let lines = gen_tweet_lines(
        &dir.path().join("tweets.jsonl"),
        &[
            "--count",
            "20000",
            "--seed",
            "13",
            "--rate",
            "1",
            "--disorder-s",
            "120",
        ],
    );
    let (first, rest) = lines.split_at(12_000);
    produce(&name, first, |i| (i % 2) as i32);
    let run = std::process::id();
    let source =
        |group: &str, query: &str| format!("kafka://{}/{name}?group={group}{query}", broker());
    let (killed, whole) = (
        dir.path().join("killed.jsonl"),
        dir.path().join("whole.jsonl"),
    );
    let group = format!("jsonl-once-{run}");
    let mut engine = KillOnDrop(
        tidemark()
            .current_dir(root())
            .args(["run", "dataflows/evilnet.toml", "--quiet", "-w", "2"])
            .args(["--source", &source(&group, "")])
            .arg("--sink")
            .arg(format!("jsonl:{}", killed.display()))
            .spawn()
            .expect("spawn engine"),
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    while committed(&group, &name, 2).iter().any(|&o| o <= 0) {
        assert!(
            Instant::now() < deadline,
            "the engine committed no positions"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    engine.0.kill().expect("SIGKILL");
    let _ = engine.0.wait();
    let before: BTreeSet<String> = common::final_lines(&common::read_jsonl(&killed))
        .into_iter()
        .collect();
    assert!(!before.is_empty(), "windows were final before the kill");

    produce(&name, rest, |i| (i % 2) as i32);
    let sink = |path: &std::path::Path| format!("jsonl:{}", path.display());
    run_ok(&[
        "dataflows/evilnet.toml",
        "-w",
        "2",
        "--source",
        &source(&group, "&stop=end"),
        "--sink",
        &sink(&killed),
    ]);
    run_ok(&[
        "dataflows/evilnet.toml",
        "-w",
        "2",
        "--source",
        &source(&format!("jsonl-whole-{run}"), "&stop=end"),
        "--sink",
        &sink(&whole),
    ]);
    let after: BTreeSet<String> = common::final_lines(&common::read_jsonl(&killed))
        .into_iter()
        .collect();
    let want: BTreeSet<String> = common::final_lines(&common::read_jsonl(&whole))
        .into_iter()
        .collect();
    assert!(
        before.is_subset(&after),
        "the restart kept the rows written before the kill"
    );
    let differ: Vec<_> = want.symmetric_difference(&after).take(6).collect();
    assert!(differ.is_empty(), "rows differ, e.g. {differ:?}");
}
