//! A real Prometheus (Debian's `prometheus`; `scripts/test.sh` installs it when missing)
//! scrapes a run's `--metrics` endpoint, and PromQL over its HTTP API gives back the run's
//! summary: records read, kept, filtered, duplicate and late, dead letters by reason, final
//! windows and rows.

mod common;

use common::dashboard::{generate, Server};
use common::free_port;
use common::prometheus::PromQl;
use std::collections::BTreeMap;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A Prometheus server scraping one target every second, killed when dropped.
struct Prometheus {
    child: Child,
    api: PromQl,
}

impl Prometheus {
    fn scraping(dir: &std::path::Path, target: &str) -> Prometheus {
        let binary = ["/usr/bin/prometheus", "/usr/local/bin/prometheus"]
            .into_iter()
            .find(|p| std::path::Path::new(p).exists())
            .expect(
                "Prometheus is not installed: apt-get install -y prometheus (scripts/test.sh does)",
            );
        let config = dir.join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: tidemark\n    static_configs:\n      - targets: ['{target}']\n"
            ),
        )
        .expect("config");
        let address = format!("127.0.0.1:{}", free_port());
        let child = Command::new(binary)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("tsdb").display()
            ))
            .arg(format!("--web.listen-address={address}"))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("prometheus.log")).expect("log"))
            .spawn()
            .expect("start Prometheus");
        Prometheus {
            child,
            api: PromQl {
                url: format!("http://{address}"),
            },
        }
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The numbers of a run's summary (standard error), by name.
fn summary(log: &str) -> BTreeMap<String, u64> {
    let mut found = BTreeMap::new();
    let line = log
        .lines()
        .find(|l| l.starts_with("summary: "))
        .unwrap_or_else(|| panic!("no summary in\n{log}"));
    for part in line.trim_start_matches("summary: ").split(", ") {
        let (name, n) = part.rsplit_once(' ').expect("name and number");
        found.insert(name.to_string(), n.parse().expect("number"));
    }
    for line in log.lines().filter(|l| l.starts_with("  ")) {
        for part in line.trim().split(", ") {
            if let Some((name, n)) = part.rsplit_once(' ') {
                if let Ok(n) = n.parse() {
                    found.insert(name.trim_end_matches(':').to_string(), n);
                }
            }
        }
    }
    found
}

#[test]
fn prometheus_scrapes_the_runs_summary() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("tweets.jsonl");
    generate(
        &input,
        "tweets",
        "6000",
        &["--rate", "2", "--very-late", "0.02", "--seed", "6"],
    );
    let mut text = std::fs::read_to_string(&input).expect("tweets");
    let first = text.lines().next().expect("a tweet").to_string();
    text.push_str("{\"data\": \n");
    text.push_str("not json at all\n");
    text.push_str(&first);
    text.push('\n');
    std::fs::write(&input, text).expect("input");

    let metrics = format!("127.0.0.1:{}", free_port());
    let (source, dead) = (
        format!("file:{}", input.display()),
        format!("jsonl:{}", dir.path().join("dead.jsonl").display()),
    );
    let mut server = Server::start(
        dir.path(),
        &[
            "run",
            "dataflows/evilnet.toml",
            "--source",
            &source,
            "--sink",
            "jsonl:/dev/null",
            "--dead-letter",
            &dead,
            "--metrics",
            &metrics,
            "--quiet",
            "-w",
            "2",
        ],
    );
    server.wait_until_ended();
    let expected = summary(&server.log());
    assert!(
        expected["dead letters"] >= 2 && expected["duplicates"] >= 1 && expected["late"] > 0,
        "{expected:?}"
    );

    let prometheus = Prometheus::scraping(dir.path(), &metrics);
    let deadline = Instant::now() + Duration::from_secs(90);
    while prometheus.api.value("tidemark_records_read_total") != Some(expected["read"] as f64) {
        assert!(
            Instant::now() < deadline,
            "Prometheus never scraped the run"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    let checks = [
        ("tidemark_records_kept_total", "kept"),
        ("tidemark_records_filtered_total", "filtered"),
        ("tidemark_records_duplicate_total", "duplicates"),
        ("tidemark_records_late_total", "late"),
        ("sum(tidemark_dead_letters_total)", "dead letters"),
        ("tidemark_windows_final_total", "windows final"),
        ("sum(tidemark_rows_total)", "rows written"),
        ("sum(tidemark_rows_written_total)", "rows written"),
    ];
    for (query, name) in checks {
        assert_eq!(
            prometheus.api.value(query),
            Some(expected[name] as f64),
            "{query} vs {name}"
        );
    }
    let reasons: Vec<&String> = expected
        .keys()
        .filter(|k| k.starts_with("dead letters ") && *k != "dead letters")
        .collect();
    assert!(!reasons.is_empty());
    for reason in reasons {
        let label = reason.trim_start_matches("dead letters ");
        let query = format!("tidemark_dead_letters_total{{reason=\"{label}\"}}");
        assert_eq!(
            prometheus.api.value(&query),
            Some(expected[reason] as f64),
            "{query}"
        );
    }
    // Every row written went through the latency histogram.
    let count = prometheus
        .api
        .value("sum(tidemark_sink_write_seconds_count)")
        .expect("histogram");
    assert!(count >= 1.0);
}

#[test]
fn prometheus_scrapes_a_producer_while_it_sends() {
    let dir = tempfile::tempdir().expect("tempdir");
    let topic = common::topic("metrics", 2);
    let metrics = format!("127.0.0.1:{}", free_port());
    let prometheus = Prometheus::scraping(dir.path(), &metrics);
    let producer = common::tidemark()
        .args([
            "produce",
            "--to",
            &format!("kafka://{}/{topic}", common::broker()),
        ])
        .args([
            "--rate",
            "1000",
            "--quiet",
            "--metrics",
            &metrics,
            "gen:tweets?count=8000",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the producer");
    let deadline = Instant::now() + Duration::from_secs(60);
    while prometheus
        .api
        .value("tidemark_produce_acknowledged_total")
        .unwrap_or(0.0)
        <= 0.0
    {
        assert!(
            Instant::now() < deadline,
            "Prometheus never saw an acknowledgement"
        );
        std::thread::sleep(Duration::from_millis(300));
    }
    assert_eq!(
        prometheus.api.value("tidemark_produce_broker_up"),
        Some(1.0)
    );
    assert_eq!(
        prometheus.api.value("tidemark_produce_spool_backlog_bytes"),
        Some(0.0)
    );
    let output = producer.wait_with_output().expect("producer");
    assert!(output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("acknowledged 8000"), "{stderr}");
    // Sent comes before acknowledged, and nothing was sent twice (the broker stayed up).
    let sent = prometheus
        .api
        .value("max_over_time(tidemark_produce_sent_total[5m])")
        .expect("sent");
    let acked = prometheus
        .api
        .value("max_over_time(tidemark_produce_acknowledged_total[5m])")
        .expect("acknowledged");
    assert!(
        sent >= acked && sent <= 8000.0,
        "sent {sent}, acknowledged {acked}"
    );
    // What Prometheus saw never exceeds what the producer says it did.
    for name in ["read", "acknowledged"] {
        let seen = prometheus
            .api
            .value(&format!("max_over_time(tidemark_produce_{name}_total[5m])"))
            .expect("samples");
        assert!(seen > 0.0 && seen <= 8000.0, "{name}: {seen}");
    }
}
