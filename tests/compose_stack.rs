//! The compose stack (`docker-compose.yml`, `Dockerfile`, `config/`): Debian's
//! `docker-compose config` accepts it (`scripts/test.sh` installs it when missing; no
//! container engine runs here), and everything it names exists: pinned public images or the
//! repository's own build, mounted files, the engine's script and flags, one engine service
//! per process with Prometheus scraping each, and a Prometheus configuration `promtool`
//! accepts.

mod common;

use common::{root, tidemark};
use serde_norway::Value;
use std::process::Command;

fn compose_config() -> Value {
    let output = Command::new("docker-compose")
        .args(["-f", "docker-compose.yml", "config"])
        .current_dir(root())
        .output()
        .expect("docker-compose is not installed: apt-get install -y docker-compose (scripts/test.sh does)");
    assert!(
        output.status.success(),
        "docker-compose config: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_norway::from_slice(&output.stdout).expect("the resolved compose file")
}

fn help(command: &str) -> String {
    let output = tidemark().args([command, "--help"]).output().expect("help");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn flags(words: &[&str]) -> Vec<String> {
    words
        .iter()
        .filter(|w| w.starts_with("--"))
        .map(|w| w.split('=').next().unwrap_or(w).to_string())
        .collect()
}

#[test]
fn the_compose_stack_is_valid_and_names_only_what_exists() {
    let config = compose_config();
    let services = config["services"].as_mapping().expect("services");
    for name in [
        "kafka-controller",
        "kafka-1",
        "kafka-2",
        "cassandra",
        "producer",
        "engine-0",
        "prometheus",
        "grafana",
    ] {
        assert!(services.contains_key(name), "no service {name}");
    }
    let mut engines = Vec::new();
    for (name, service) in services {
        let name = name.as_str().expect("name");
        let image = service["image"]
            .as_str()
            .unwrap_or_else(|| panic!("{name}: no image"));
        if service.get("build").is_some() {
            // The repository's own image, built from the Dockerfile at the top.
            let context = service["build"]["context"].as_str().expect("context");
            assert_eq!(
                std::path::Path::new(context),
                root(),
                "{name}: build context"
            );
            assert_eq!(image, "tidemark:local", "{name}");
        } else {
            let (_, tag) = image
                .rsplit_once(':')
                .unwrap_or_else(|| panic!("{name}: {image} is not pinned"));
            assert!(
                tag != "latest" && tag.chars().any(|c| c.is_ascii_digit()),
                "{name}: {image} is not pinned"
            );
        }
        for port in service
            .get("ports")
            .and_then(Value::as_sequence)
            .into_iter()
            .flatten()
        {
            let port = port.as_str().expect("port");
            assert!(
                port.starts_with("127.0.0.1:"),
                "{name}: {port} is published beyond this machine"
            );
        }
        for volume in service
            .get("volumes")
            .and_then(Value::as_sequence)
            .into_iter()
            .flatten()
        {
            let volume = volume.as_str().expect("volume");
            let source = volume.split(':').next().expect("source");
            if source.starts_with('/') {
                assert!(
                    std::path::Path::new(source).exists(),
                    "{name}: {source} is not in the repository"
                );
                assert!(
                    std::path::Path::new(source).starts_with(root()),
                    "{name}: {source}"
                );
            }
        }
        if name.starts_with("engine-") {
            engines.push((name.to_string(), service.clone()));
        }
    }
    let dockerfile = std::fs::read_to_string(root().join("Dockerfile")).expect("Dockerfile");
    assert!(
        dockerfile.matches("FROM ").count() >= 2,
        "a multi-stage build"
    );
    for line in dockerfile
        .lines()
        .filter(|l| l.starts_with("COPY ") && !l.contains("--from"))
    {
        let words: Vec<&str> = line.split_whitespace().collect();
        for source in &words[1..words.len() - 1] {
            assert!(
                root().join(source).exists(),
                "Dockerfile copies {source}, which does not exist"
            );
        }
    }

    // The producer's command is a `tidemark produce` this binary takes.
    let producer: Vec<&str> = services["producer"]["command"]
        .as_sequence()
        .expect("command")
        .iter()
        .map(|w| w.as_str().expect("word"))
        .collect();
    assert_eq!(producer[0], "produce");
    assert!(producer.contains(&"--retime") && producer.contains(&"--speedup"));
    let produce_help = help("produce");
    for flag in flags(&producer) {
        assert!(produce_help.contains(&flag), "produce has no {flag}");
    }
    for word in producer
        .iter()
        .filter(|w| w.starts_with("file:") || w.starts_with("dataflows/"))
    {
        let path = root().join(word.trim_start_matches("file:"));
        assert!(
            path.exists(),
            "the producer reads {word}, which the image does not hold"
        );
    }

    // One engine service per process, each with its index, all running the script.
    let processes: usize = engines[0].1["environment"]["PROCESSES"]
        .as_str()
        .map(|s| s.parse().expect("PROCESSES"))
        .or_else(|| {
            engines[0].1["environment"]["PROCESSES"]
                .as_u64()
                .map(|n| n as usize)
        })
        .expect("PROCESSES");
    assert_eq!(
        engines.len(),
        processes,
        "PROCESSES and the engine services disagree"
    );
    let script = std::fs::read_to_string(root().join("config/compose/engine.sh")).expect("script");
    let run_help = help("run");
    let run_words: Vec<&str> = script
        .split_whitespace()
        .map(|w| w.trim_matches('"').trim_end_matches('\\'))
        .collect();
    for flag in flags(&run_words) {
        assert!(run_help.contains(&flag), "run has no {flag}");
    }
    for (index, (name, service)) in engines.iter().enumerate() {
        assert_eq!(name, &format!("engine-{index}"));
        let entrypoint = service["entrypoint"][0].as_str().expect("entrypoint");
        assert_eq!(entrypoint, "/opt/tidemark/config/compose/engine.sh");
        let process = &service["environment"]["PROCESS"];
        let process = process
            .as_str()
            .map(|s| s.to_string())
            .unwrap_or_else(|| process.as_u64().expect("PROCESS").to_string());
        assert_eq!(process, index.to_string(), "{name}");
    }
    // Prometheus scrapes every process on its port (9898 + p).
    let prometheus: Value = serde_norway::from_str(
        &std::fs::read_to_string(root().join("config/prometheus/prometheus.yml"))
            .expect("prometheus.yml"),
    )
    .expect("yaml");
    let targets: Vec<&str> = prometheus["scrape_configs"][0]["static_configs"][0]["targets"]
        .as_sequence()
        .expect("targets")
        .iter()
        .map(|t| t.as_str().expect("target"))
        .collect();
    let expected: Vec<String> = (0..processes)
        .map(|p| format!("engine-{p}:{}", 9898 + p))
        .collect();
    assert_eq!(targets, expected);
    let promtool = Command::new("promtool")
        .args(["check", "config", "config/prometheus/prometheus.yml"])
        .current_dir(root())
        .output()
        .expect("promtool (Debian's prometheus package)");
    assert!(
        promtool.status.success(),
        "{}",
        String::from_utf8_lossy(&promtool.stderr)
    );

    // Grafana gets the provisioning and the dashboards of this repository, with the plugin.
    let grafana = &services["grafana"];
    assert_eq!(
        grafana["environment"]["GF_PLUGINS_PREINSTALL"].as_str(),
        Some("hadesarchitect-cassandra-datasource")
    );
    for dashboard in ["evilnet.json", "taxi.json", "engine-health.json"] {
        assert!(root()
            .join("config/grafana/dashboards")
            .join(dashboard)
            .exists());
    }
}
