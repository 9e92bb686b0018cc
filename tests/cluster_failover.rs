//! Failures on the real cluster of `scripts/cluster.sh` (two brokers, topics replicated
//! twice, Cassandra with a login): a broker killed mid-stream, an engine process of two
//! killed, and a run restarted at other worker and process counts. Each time the final rows
//! in Cassandra are exactly those of an uninterrupted run.

mod common;

use common::cluster::Cluster;
use common::engine::Engine;
use common::{committed_offsets, free_port, gen_tweet_lines, root, tidemark};
use std::collections::BTreeSet;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// A replicated topic on the cluster, a Cassandra role for the sinks, and the tweets.
struct Failover {
    cluster: Cluster,
    dir: tempfile::TempDir,
    topic: String,
    partitions: i32,
    lines: Vec<String>,
    role: (String, String),
    prefix: String,
}

impl Failover {
    /// 20 000 generated tweets, one a second with disorder (5.5 hours: windows are still
    /// open at any interruption), on a topic of `partitions` partitions, two replicas each.
    fn new(prefix: &str, partitions: i32, seed: &str) -> Failover {
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
        let topic = common::topic_on(cluster.kafka(), prefix, partitions, 2);
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
    fn produce(&self, range: std::ops::Range<usize>) {
        let offset = range.start;
        common::produce_to(self.cluster.kafka(), &self.topic, &self.lines[range], |i| {
            ((i + offset) % self.partitions as usize) as i32
        });
    }

    fn keyspace(&self, name: &str) -> String {
        format!("{name}_{}_{}", self.prefix, std::process::id())
    }

    /// A command running evilnet from the topic under `group` into the keyspace `name`.
    fn command(&self, group: &str, name: &str, query: &str, args: &[&str]) -> Command {
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
    fn spawn(&self, group: &str, name: &str, args: &[&str]) -> Engine {
        static STARTED: AtomicUsize = AtomicUsize::new(0);
        let n = STARTED.fetch_add(1, Ordering::Relaxed);
        let log = self.dir.path().join(format!("{group}-{n}.log"));
        Engine::spawn(self.command(group, name, "", args), log)
    }

    /// Runs to the end of the topic as it is now.
    fn run_to_end(&self, group: &str, name: &str, args: &[&str]) -> Output {
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

    fn committed(&self, group: &str) -> Vec<i64> {
        committed_offsets(self.cluster.kafka(), group, &self.topic, self.partitions)
    }

    /// Waits until `group` has committed a position on every partition.
    fn wait_committed(&self, group: &str, engines: &[&Engine]) {
        let deadline = Instant::now() + Duration::from_secs(90);
        while self.committed(group).iter().any(|&o| o <= 0) {
            let logs: Vec<String> = engines.iter().map(|e| e.stderr()).collect();
            assert!(Instant::now() < deadline, "nothing committed: {logs:?}");
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Every row in the keyspace `name`.
    fn rows(&self, name: &str) -> BTreeSet<String> {
        self.cluster
            .cassandra_admin()
            .rows_of_keyspace(&self.keyspace(name))
    }

    /// An uninterrupted `-w 2` run over the whole topic.
    fn uninterrupted(&self) -> BTreeSet<String> {
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
fn assert_same(expected: &BTreeSet<String>, got: &BTreeSet<String>, what: &str) {
    let differ: Vec<_> = expected.symmetric_difference(got).take(4).collect();
    assert!(
        differ.is_empty(),
        "{what}: {} rows differ, e.g. {differ:?}",
        expected.symmetric_difference(got).count()
    );
}

fn summary_read(stderr: &str) -> i64 {
    stderr
        .lines()
        .find_map(|l| {
            l.strip_prefix("summary: read ")?
                .split(',')
                .next()?
                .parse()
                .ok()
        })
        .unwrap_or_else(|| panic!("no summary in {stderr}"))
}

#[test]
fn a_broker_killed_mid_stream_loses_and_doubles_nothing() {
    let failover = Failover::new("broker-kill", 2, "61");
    let tweets = failover.dir.path().join("tweets.jsonl");
    let mut engine = failover.spawn("live", "live", &["-w", "2"]);
    let mut producer = Engine::spawn(
        {
            let mut command = tidemark();
            command.args([
                "produce",
                &format!("file:{}", tweets.display()),
                "--quiet",
                "--rate",
                "2000",
                "--to",
                &format!("kafka://{}/{}", failover.cluster.kafka(), failover.topic),
            ]);
            command
        },
        failover.dir.path().join("producer.log"),
    );
    failover.wait_committed("live", &[&engine]);
    failover.cluster.member("kill", "broker-1");
    assert!(producer.running(), "the producer finished before the kill");
    let status = producer.wait("the producer did not finish through broker-2");
    let produced = producer.stderr();
    assert!(status.success(), "{produced}");
    assert!(produced.contains("acknowledged 20000"), "{produced}");
    assert!(produced.contains("possible duplicates 0"), "{produced}");
    failover.cluster.member("start", "broker-1");

    // Every tweet is in the topic exactly once.
    let mut in_topic: Vec<String> =
        common::consume_all_from(failover.cluster.kafka(), &failover.topic)
            .iter()
            .map(|v| String::from_utf8_lossy(v).into_owned())
            .collect();
    let mut sent = failover.lines.clone();
    in_topic.sort();
    sent.sort();
    assert!(in_topic == sent, "the topic lost or doubled tweets");

    // The engine read on through the other broker; stopped and finished, it wrote what an
    // uninterrupted run writes.
    assert!(engine.running(), "the engine ended: {}", engine.stderr());
    engine.terminate();
    let status = engine.wait("still running after SIGTERM");
    assert!(status.success(), "{}", engine.stderr());
    failover.run_to_end("live", "live", &["-w", "2"]);
    assert_same(
        &failover.uninterrupted(),
        &failover.rows("live"),
        "broker killed",
    );
}

#[test]
fn an_engine_process_killed_ends_its_peer_and_both_resume_from_committed_offsets() {
    let failover = Failover::new("process-kill", 2, "62");
    failover.produce(0..12_000);
    let dir = failover.dir.path();
    let hostfile = dir.join("hosts");
    let lost = format!("127.0.0.1:{}", free_port());
    std::fs::write(&hostfile, format!("127.0.0.1:{}\n{lost}\n", free_port())).expect("hosts");
    let hosts = hostfile.display().to_string();
    let cluster_args =
        |p: &'static str| ["-w", "1", "-n", "2", "-p", p, "-h", hosts.as_str()].map(String::from);
    let spawn = |p: &'static str| {
        let args = cluster_args(p);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        failover.spawn("two", "two", &args)
    };
    let mut survivor = spawn("0");
    let mut victim = spawn("1");
    failover.wait_committed("two", &[&survivor, &victim]);
    victim.kill();
    let status = survivor.wait("process 0 hung after losing process 1");
    let stderr = survivor.stderr();
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!("lost the connection to process 1 ({lost})")),
        "{stderr}"
    );
    let resumed_at: i64 = failover.committed("two").iter().sum();
    assert!(
        resumed_at < 12_000,
        "windows were open at the kill ({resumed_at} committed)"
    );

    failover.produce(12_000..20_000);
    let restarted: Vec<_> = ["0", "1"]
        .into_iter()
        .map(|p| {
            let args = cluster_args(p);
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            failover
                .command("two", "two", "&stop=end", &args)
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("restart")
        })
        .collect();
    let mut read = 0;
    for child in restarted {
        let output = child.wait_with_output().expect("wait");
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        assert!(output.status.success(), "{stderr}");
        read += summary_read(&stderr);
    }
    assert_eq!(
        read,
        20_000 - resumed_at,
        "the restart resumes from the committed offsets"
    );
    assert_same(
        &failover.uninterrupted(),
        &failover.rows("two"),
        "process killed",
    );
}

#[test]
fn a_run_stopped_at_two_workers_finishes_alike_as_two_processes_or_three_workers() {
    let failover = Failover::new("rescale", 3, "63");
    failover.produce(0..12_000);
    let mut killed = failover.spawn("killed", "killed", &["-w", "2"]);
    let mut stopped = failover.spawn("stopped", "stopped", &["-w", "2"]);
    failover.wait_committed("killed", &[&killed]);
    failover.wait_committed("stopped", &[&stopped]);
    killed.kill();
    stopped.terminate();
    assert!(stopped.wait("still running after SIGTERM").success());
    for group in ["killed", "stopped"] {
        let at: i64 = failover.committed(group).iter().sum();
        assert!(at < 12_000, "{group}: windows were open ({at} committed)");
    }
    failover.produce(12_000..20_000);

    // Killed at -w 2, finished as two processes of one worker each.
    let hostfile = failover.dir.path().join("hosts");
    std::fs::write(
        &hostfile,
        format!("127.0.0.1:{}\n127.0.0.1:{}\n", free_port(), free_port()),
    )
    .expect("hosts");
    let hosts = hostfile.display().to_string();
    let children: Vec<_> = ["0", "1"]
        .into_iter()
        .map(|p| {
            failover
                .command(
                    "killed",
                    "killed",
                    "&stop=end",
                    &["-w", "1", "-n", "2", "-p", p, "-h", &hosts],
                )
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("restart")
        })
        .collect();
    for child in children {
        let output = child.wait_with_output().expect("wait");
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    // Stopped at -w 2, finished at -w 3.
    failover.run_to_end("stopped", "stopped", &["-w", "3"]);

    let whole = failover.uninterrupted();
    assert_same(
        &whole,
        &failover.rows("killed"),
        "-w 2 killed, then -w 1 -n 2",
    );
    assert_same(&whole, &failover.rows("stopped"), "-w 2 stopped, then -w 3");
}
