//! The failover tests' scenario on the cluster of `scripts/cluster.sh`: a replicated topic of
//! generated tweets, a Cassandra role for the sinks, runs of the engine into keyspaces, and
//! their final rows.

use super::cluster::Cluster;
use super::engine::Engine;
use super::{committed_offsets, gen_tweet_lines, root, tidemark};
use std::collections::BTreeSet;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// A replicated topic on the cluster, a Cassandra role for the sinks, and the tweets.
pub struct Failover {
    pub cluster: Cluster,
    pub dir: tempfile::TempDir,
    pub topic: String,
    pub partitions: i32,
    pub lines: Vec<String>,
    pub role: (String, String),
    pub prefix: String,
}

impl Failover {
    /// 20 000 generated tweets, one a second with disorder (5.5 hours: windows are still
    /// open at any interruption), on a topic of `partitions` partitions, two replicas each.
    pub fn new(prefix: &str, partitions: i32, seed: &str) -> Failover {
        let cluster = Cluster::get();
        let dir = tempfile::tempdir().expect("tempdir");
        let lines = gen_tweet_lines(
            &dir.path().join("tweets.jsonl"),
            &[
                "--count",
                "20000",
                "--rate",
                "1",
                "--seed",
                seed,
                "--disorder-s",
                "120",
            ],
        );
        let topic = super::topic_on(cluster.kafka(), prefix, partitions, 2);
        let role = cluster.cassandra_role(&format!("tm_{}", prefix.replace('-', "_")));
        Failover {
            cluster,
            dir,
            topic,
            partitions,
            lines,
            role,
            prefix: prefix.replace('-', "_"),
        }
    }

    /// Produces `lines[range]` straight to the partitions (index mod partitions).
    pub fn produce(&self, range: std::ops::Range<usize>) {
        let offset = range.start;
        super::produce_to(self.cluster.kafka(), &self.topic, &self.lines[range], |i| {
            ((i + offset) % self.partitions as usize) as i32
        });
    }

    pub fn keyspace(&self, name: &str) -> String {
        format!("{name}_{}_{}", self.prefix, std::process::id())
    }

    /// A command running evilnet from the topic under `group` into the keyspace `name`.
    pub fn command(&self, group: &str, name: &str, query: &str, args: &[&str]) -> Command {
        let mut command = tidemark();
        command
            .current_dir(root())
            .env("TIDEMARK_CASSANDRA_PASSWORD", &self.role.1)
            .args(["run", "dataflows/evilnet.toml", "--quiet"])
            .args([
                "--source",
                &format!(
                    "kafka://{}/{}?group={group}{query}",
                    self.cluster.kafka(),
                    self.topic
                ),
                "--sink",
                &format!(
                    "cassandra://{}@{}/{}",
                    self.role.0,
                    self.cluster.cassandra(),
                    self.keyspace(name)
                ),
            ])
            .args(args);
        command
    }

    /// Starts an unbounded run.
    pub fn spawn(&self, group: &str, name: &str, args: &[&str]) -> Engine {
        static STARTED: AtomicUsize = AtomicUsize::new(0);
        let n = STARTED.fetch_add(1, Ordering::Relaxed);
        let log = self.dir.path().join(format!("{group}-{n}.log"));
        Engine::spawn(self.command(group, name, "", args), log)
    }

    /// Runs to the end of the topic as it is now.
    pub fn run_to_end(&self, group: &str, name: &str, args: &[&str]) -> Output {
        let output = self
            .command(group, name, "&stop=end", args)
            .output()
            .expect("run");
        assert!(
            output.status.success(),
            "{group} {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        output
    }

    pub fn committed(&self, group: &str) -> Vec<i64> {
        committed_offsets(self.cluster.kafka(), group, &self.topic, self.partitions)
    }

    /// Waits until `group` has committed a position on every partition.
    pub fn wait_committed(&self, group: &str, engines: &[&Engine]) {
        let logs = || {
            let logs: Vec<String> = engines.iter().map(|e| e.stderr()).collect();
            logs.join("\n---\n")
        };
        super::wait_committed(
            self.cluster.kafka(),
            group,
            &self.topic,
            self.partitions,
            logs,
        );
    }

    /// Every row in the keyspace `name`.
    pub fn rows(&self, name: &str) -> BTreeSet<String> {
        self.cluster
            .cassandra_admin()
            .rows_of_keyspace(&self.keyspace(name))
    }

    /// An uninterrupted `-w 2` run over the whole topic.
    pub fn uninterrupted(&self) -> BTreeSet<String> {
        self.run_to_end("whole", "whole", &["-w", "2"]);
        let rows = self.rows("whole");
        assert!(rows.len() > 200, "{} rows", rows.len());
        assert!(
            rows.iter().all(|r| r.contains("\"final\": true")),
            "every row of a finished run is final"
        );
        rows
    }
}

/// Asserts two sets of rows are equal, showing a few differences.
pub fn assert_same(expected: &BTreeSet<String>, got: &BTreeSet<String>, what: &str) {
    let differ: Vec<_> = expected.symmetric_difference(got).take(4).collect();
    assert!(
        differ.is_empty(),
        "{what}: {} rows differ, e.g. {differ:?}",
        expected.symmetric_difference(got).count()
    );
}
