//! Effectively-once on the real servers: the engine is killed with SIGKILL mid-stream (with
//! data in open windows), restarted from the offsets it committed, and every final row in
//! Cassandra is exactly what an uninterrupted run writes.

mod common;

use common::cassandra::{sink, Cassandra};
use common::engine::Engine;
use common::{
    broker, committed_offsets, gen_tweet_lines, produce, root, run_ok, summary_read, tidemark,
    topic,
};
use scylla::value::CqlTimestamp;
use std::collections::BTreeSet;
use std::time::Duration;

/// Offsets the group has committed on each partition.
fn committed(group: &str, topic: &str, partitions: i32) -> Vec<i64> {
    committed_offsets(&broker(), group, topic, partitions)
}

/// Every final row of the evilnet tables of a keyspace, as text.
fn final_rows(keyspace: &str) -> BTreeSet<String> {
    final_rows_of(keyspace, &["top_cities", "least_retweeted_cities"])
}

/// Every final row of `city_stats` and of the `ranked` tables of a keyspace, as text.
fn final_rows_of(keyspace: &str, ranked: &[&str]) -> BTreeSet<String> {
    let db = Cassandra::connect();
    let mut rows = BTreeSet::new();
    let stats = db.query(&format!(
        "SELECT city, window_start, tweets, retweets, unique_users, final FROM {keyspace}.city_stats"
    ));
    for row in stats
        .rows::<(String, CqlTimestamp, i64, i64, i64, bool)>()
        .expect("typed")
    {
        let (city, start, tweets, retweets, users, is_final) = row.expect("row");
        assert!(is_final, "after a finished run every row is final");
        rows.insert(format!(
            "city_stats {city} {} {tweets} {retweets} {users}",
            start.0
        ));
    }
    for &table in ranked {
        let column = if table == "top_cities" {
            "tweets"
        } else {
            "retweets"
        };
        let result = db.query(&format!(
            "SELECT window_end, rank, city, {column}, final FROM {keyspace}.{table}"
        ));
        for row in result
            .rows::<(CqlTimestamp, i32, String, i64, bool)>()
            .expect("typed")
        {
            let (end, rank, city, n, is_final) = row.expect("row");
            assert!(is_final);
            rows.insert(format!("{table} {} {rank} {city} {n}", end.0));
        }
    }
    rows
}

/// A topic holding the first 12 000 of 20 000 generated tweets, one a second with some
/// disorder (5.5 hours). A record is done once its last window (1 h, sliding) is final (1 h
/// lateness): two hours after it, so a run over the first 3.3 hours commits positions with
/// windows still open after them. The rest is produced after an interruption.
struct Scenario {
    name: String,
    partitions: i32,
    rest: Vec<String>,
    dir: tempfile::TempDir,
    run: u32,
}

impl Scenario {
    fn new(prefix: &str, partitions: i32, gen: &[&str]) -> Scenario {
        let name = topic(prefix, partitions);
        let dir = tempfile::tempdir().expect("tempdir");
        let mut args = vec!["--count", "20000", "--rate", "1"];
        args.extend_from_slice(gen);
        let lines = gen_tweet_lines(&dir.path().join("tweets.jsonl"), &args);
        let (first, rest) = lines.split_at(12_000);
        produce(&name, first, |i| i as i32 % partitions);
        Scenario {
            name,
            partitions,
            rest: rest.to_vec(),
            dir,
            run: std::process::id(),
        }
    }

    fn source(&self, group: &str, query: &str) -> String {
        format!("kafka://{}/{}?group={group}{query}", broker(), self.name)
    }

    /// Starts an unbounded run under `group` into `sinks`, its standard error in a file.
    fn spawn(&self, group: &str, sinks: &[String], workers: &str) -> Engine {
        let log = self.dir.path().join(format!("{group}.log"));
        let mut command = tidemark();
        command
            .current_dir(root())
            .args(["run", "dataflows/evilnet.toml", "--quiet", "-w", workers])
            .args(["--source", &self.source(group, "")]);
        for sink in sinks {
            command.args(["--sink", sink]);
        }
        Engine::spawn(command, log)
    }

    /// Offsets `group` has committed, summed over the partitions.
    fn committed(&self, group: &str) -> i64 {
        committed(group, &self.name, self.partitions).iter().sum()
    }

    /// Waits until `group` has committed a position on every partition.
    fn wait_committed(&self, group: &str, engine: &Engine) {
        common::wait_committed(&broker(), group, &self.name, self.partitions, || {
            engine.stderr()
        });
    }

    fn produce_rest(&self) {
        produce(&self.name, &self.rest, |i| i as i32 % self.partitions);
    }

    /// Runs `group` to the end of the topic into `sink`.
    fn run_to_end(&self, group: &str, sink: &str, workers: &str) -> std::process::Output {
        run_ok(&[
            "dataflows/evilnet.toml",
            "-w",
            workers,
            "--source",
            &self.source(group, "&stop=end"),
            "--sink",
            sink,
        ])
    }

    /// A name unique to this test run.
    fn unique(&self, name: &str) -> String {
        format!("{name}_{}", self.run)
    }
}

/// Asserts two sets of final rows are equal, showing a few differences.
fn assert_same(whole: &BTreeSet<String>, other: &BTreeSet<String>, at_least: usize) {
    assert!(whole.len() > at_least, "{} rows", whole.len());
    let differ: Vec<_> = whole.symmetric_difference(other).take(6).collect();
    assert!(
        differ.is_empty(),
        "{} rows differ, e.g. {differ:?}",
        whole.symmetric_difference(other).count()
    );
}

#[test]
fn kill_9_and_restart_write_exactly_what_an_uninterrupted_run_writes() {
    let scenario = Scenario::new(
        "once",
        2,
        &[
            "--seed",
            "21",
            "--disorder-s",
            "120",
            "--very-late",
            "0.002",
        ],
    );
    let (ks_once, ks_killed) = (scenario.unique("once_a"), scenario.unique("once_b"));
    let group = scenario.unique("once-killed");
    let mut engine = scenario.spawn(&group, &[sink(&ks_killed)], "2");
    scenario.wait_committed(&group, &engine);
    std::thread::sleep(Duration::from_millis(500));
    engine.kill();
    let resumed_at = scenario.committed(&group);
    assert!(
        resumed_at < 12_000,
        "some records were still in open windows at the kill ({resumed_at} committed)"
    );

    scenario.produce_rest();
    let restarted = scenario.run_to_end(&group, &sink(&ks_killed), "2");
    let stderr = String::from_utf8_lossy(&restarted.stderr);
    let read = summary_read(&stderr);
    assert_eq!(
        read,
        20_000 - resumed_at,
        "the restart resumes from the committed offsets"
    );
    scenario.run_to_end(&scenario.unique("once-whole"), &sink(&ks_once), "2");
    assert_same(&final_rows(&ks_once), &final_rows(&ks_killed), 100);
}

/// Runs one CQL statement.
fn cql(statement: &str) {
    Cassandra::connect().execute(statement);
}

#[test]
fn a_write_refused_for_good_ends_the_run_and_commits_nothing_unwritten() {
    let scenario = Scenario::new("refused", 1, &["--seed", "5", "--disorder-s", "60"]);
    let (ks_whole, ks_failed) = (scenario.unique("refused_a"), scenario.unique("refused_b"));
    let group = scenario.unique("refused");
    let mut engine = scenario.spawn(&group, &[sink(&ks_failed)], "1");
    scenario.wait_committed(&group, &engine);
    // The table changes under the running engine: its upserts can never succeed again.
    cql(&format!(
        "ALTER TABLE {ks_failed}.least_retweeted_cities DROP retweets"
    ));
    scenario.produce_rest();
    let status = engine.wait("still running after a permanent write error");
    let stderr = engine.stderr();
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("Cassandra refused a write for good: table least_retweeted_cities, key ["),
        "{stderr}"
    );
    assert!(
        stderr.contains("retweets"),
        "the error names the column: {stderr}"
    );
    assert!(scenario.committed(&group) < 20_000);

    // Mended and restarted from what was committed, the run ends as an uninterrupted one.
    cql(&format!(
        "ALTER TABLE {ks_failed}.least_retweeted_cities ADD retweets bigint"
    ));
    scenario.run_to_end(&group, &sink(&ks_failed), "1");
    scenario.run_to_end(&scenario.unique("refused-whole"), &sink(&ks_whole), "1");
    // The table that was changed lost its column's values; the others are compared.
    let intact = |keyspace: &str| final_rows_of(keyspace, &["top_cities"]);
    assert_same(&intact(&ks_whole), &intact(&ks_failed), 50);
}

#[test]
fn sigterm_stops_cleanly_and_a_restart_writes_what_an_uninterrupted_run_writes() {
    let scenario = Scenario::new("sigterm", 2, &["--seed", "9", "--disorder-s", "120"]);
    let (ks_whole, ks_stopped) = (scenario.unique("sigterm_a"), scenario.unique("sigterm_b"));
    let group = scenario.unique("sigterm");
    let mut engine = scenario.spawn(&group, &[sink(&ks_stopped)], "2");
    scenario.wait_committed(&group, &engine);
    engine.terminate();
    let status = engine.wait("still running after SIGTERM");
    let stderr = engine.stderr();
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("summary: read "), "{stderr}");
    let resumed_at = scenario.committed(&group);
    assert!(
        resumed_at < 12_000,
        "windows were open at the stop ({resumed_at} committed)"
    );

    scenario.produce_rest();
    scenario.run_to_end(&group, &sink(&ks_stopped), "2");
    scenario.run_to_end(&scenario.unique("sigterm-whole"), &sink(&ks_whole), "2");
    assert_same(&final_rows(&ks_whole), &final_rows(&ks_stopped), 100);
}

#[test]
fn a_jsonl_sink_keeps_its_rows_across_a_kill_and_a_restart_from_committed() {
    let scenario = Scenario::new("jsonl-once", 2, &["--seed", "13", "--disorder-s", "120"]);
    let killed = scenario.dir.path().join("killed.jsonl");
    let whole = scenario.dir.path().join("whole.jsonl");
    let jsonl = |path: &std::path::Path| format!("jsonl:{}", path.display());
    let finals = |path: &std::path::Path| -> BTreeSet<String> {
        common::final_lines(&common::read_jsonl(path))
            .into_iter()
            .collect()
    };
    let group = scenario.unique("jsonl-once");
    let mut engine = scenario.spawn(&group, &[jsonl(&killed)], "2");
    scenario.wait_committed(&group, &engine);
    engine.kill();
    let before = finals(&killed);
    assert!(!before.is_empty(), "windows were final before the kill");

    scenario.produce_rest();
    scenario.run_to_end(&group, &jsonl(&killed), "2");
    scenario.run_to_end(&scenario.unique("jsonl-whole"), &jsonl(&whole), "2");
    let after = finals(&killed);
    assert!(
        before.is_subset(&after),
        "the restart kept the rows written before the kill"
    );
    assert_same(&finals(&whole), &after, 100);
}
