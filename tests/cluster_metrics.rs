//! The cluster's Prometheus (`scripts/cluster.sh`, scraping ports 19898 and 19899) scrapes
//! both processes of a `-n 2` run reading a replicated topic: each serves its own metrics,
//! and per-partition lag, committed offsets, open windows and state size come back through
//! PromQL equal to what the brokers and the run say; every query of the engine-health
//! dashboard answers with data.

mod common;

use common::cluster::Cluster;
use common::engine::Engine;
use common::prometheus::PromQl;
use common::{committed_offsets, free_port, gen_tweet_lines, root, tidemark};
use std::time::{Duration, Instant};

/// Polls `holds` for up to 90 s.
fn eventually(what: &str, mut holds: impl FnMut() -> bool, logs: &[&Engine]) {
    let deadline = Instant::now() + Duration::from_secs(90);
    while !holds() {
        let logs: Vec<String> = logs.iter().map(|e| e.stderr()).collect();
        assert!(Instant::now() < deadline, "{what}: {logs:?}");
        std::thread::sleep(Duration::from_millis(500));
    }
}

#[test]
fn prometheus_scrapes_partition_lag_committed_offsets_and_state_from_every_process() {
    let cluster = Cluster::get();
    let dir = tempfile::tempdir().expect("tempdir");
    let partitions = 4;
    let topic = common::topic_on(cluster.kafka(), "metrics", partitions, 2);
    let lines = gen_tweet_lines(
        &dir.path().join("tweets.jsonl"),
        &["--count", "12000", "--rate", "1", "--seed", "71"],
    );
    common::produce_to(cluster.kafka(), &topic, &lines, |i| (i % 4) as i32);
    // One message that is not JSON: a dead letter, so every panel has a series.
    common::produce_to(cluster.kafka(), &topic, &["not json".to_string()], |_| 0);

    let hostfile = dir.path().join("hosts");
    std::fs::write(
        &hostfile,
        format!("127.0.0.1:{}\n127.0.0.1:{}\n", free_port(), free_port()),
    )
    .expect("hosts");
    let source = format!("kafka://{}/{topic}?group=metrics", cluster.kafka());
    let processes: Vec<Engine> = ["0", "1"]
        .into_iter()
        .map(|p| {
            let mut command = tidemark();
            command.current_dir(root()).args([
                "run",
                "dataflows/evilnet.toml",
                "--quiet",
                "--source",
                &source,
                "--sink",
                "jsonl:/dev/null",
                "--metrics",
                "127.0.0.1:19898",
                "-n",
                "2",
                "-p",
                p,
                "-h",
                &hostfile.display().to_string(),
            ]);
            Engine::spawn(command, dir.path().join(format!("process-{p}.log")))
        })
        .collect();
    let logs: Vec<&Engine> = processes.iter().collect();
    let prometheus = PromQl {
        url: format!("http://{}", cluster.var("TIDEMARK_CLUSTER_PROMETHEUS")),
    };

    // Both processes are scraped, and together they read the whole topic.
    eventually(
        "both processes up",
        || prometheus.value("count(up{job=\"tidemark\"} == 1)") == Some(2.0),
        &logs,
    );
    eventually(
        "everything read",
        || prometheus.value("sum(tidemark_records_read_total)") == Some(12_001.0),
        &logs,
    );
    // One lag and one committed offset per partition, across the processes; nothing left.
    eventually(
        "no lag",
        || {
            prometheus.value("count(tidemark_partition_lag)") == Some(partitions as f64)
                && prometheus.value("sum(tidemark_partition_lag)") == Some(0.0)
        },
        &logs,
    );
    let committed = || committed_offsets(cluster.kafka(), "metrics", &topic, partitions);
    eventually(
        "committed offsets as the brokers have them",
        || {
            let at_brokers = committed();
            at_brokers.iter().all(|&o| o > 0)
                && prometheus.value("count(tidemark_partition_committed_offset)")
                    == Some(partitions as f64)
                && prometheus.value("sum(tidemark_partition_committed_offset)")
                    == Some(at_brokers.iter().sum::<i64>() as f64)
        },
        &logs,
    );
    // The input is unbounded: its last windows stay open and hold state.
    let windows = prometheus
        .value("sum(tidemark_windows_open)")
        .expect("windows open");
    let cells = prometheus
        .value("sum(tidemark_state_cells)")
        .expect("cells");
    let distinct = prometheus
        .value("sum(tidemark_state_distinct_values)")
        .expect("distinct values");
    let bytes = prometheus
        .value("sum(tidemark_state_bytes)")
        .expect("bytes");
    assert!(windows >= 1.0, "{windows} windows open");
    assert!(cells >= windows, "{cells} cells in {windows} windows");
    assert!(distinct >= 1.0, "{distinct} distinct values");
    assert!(bytes > cells, "{bytes} bytes for {cells} cells");
    // Lag is counted in records, and committed offsets are behind the open windows.
    assert_eq!(
        prometheus.value("count(tidemark_partition_lag{unit=\"records\"})"),
        Some(partitions as f64)
    );
    assert!(committed().iter().sum::<i64>() < 12_000);

    // Every query of the engine-health dashboard answers with data.
    let dashboard: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("config/grafana/dashboards/engine-health.json"))
            .expect("dashboard"),
    )
    .expect("JSON");
    let mut checked = 0;
    for panel in dashboard["panels"].as_array().expect("panels") {
        for target in panel["targets"].as_array().expect("targets") {
            let expr = target["expr"].as_str().expect("expr");
            eventually(
                &format!("panel {}: {expr}", panel["title"]),
                || {
                    prometheus.query(expr).is_some_and(|series| {
                        !series.is_empty()
                            && series.iter().all(|s| {
                                s["value"][1]
                                    .as_str()
                                    .and_then(|v| v.parse::<f64>().ok())
                                    .is_some_and(f64::is_finite)
                            })
                    })
                },
                &logs,
            );
            checked += 1;
        }
    }
    assert!(checked >= 14, "{checked} panel queries");
}
