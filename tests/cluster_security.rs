//! Logins and TLS on the real cluster of `scripts/cluster.sh`: Kafka brokers with SASL
//! (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512) over plaintext and TLS listeners, and a Cassandra node
//! with `PasswordAuthenticator` and TLS. Right credentials work and read what a file run
//! reads; wrong ones end the run with exit 2 naming the service and the user; and no secret
//! ever shows in any output.

mod common;

use common::cluster::{random_secret, Cluster};
use common::dashboard::{get_text, Server};
use common::{final_lines, free_port, gen_tweet_lines, read_jsonl, root, run_ok, tidemark};
use std::path::Path;
use std::process::Output;

/// Runs `tidemark ARGS` with `env`, from the repository root.
fn tidemark_env(args: &[&str], env: &[(&str, &str)]) -> Output {
    tidemark()
        .args(args)
        .envs(env.iter().copied())
        .current_dir(root())
        .output()
        .expect("start tidemark")
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// A topic on the cluster holding generated tweets, produced over SASL_SSL with
/// SCRAM-SHA-256; the tweets file and the final rows a file run makes of it.
struct Secured {
    cluster: Cluster,
    dir: tempfile::TempDir,
    topic: String,
    expected: Vec<String>,
}

impl Secured {
    fn new(prefix: &str, seed: &str) -> Secured {
        let cluster = Cluster::get();
        let dir = tempfile::tempdir().expect("tempdir");
        let tweets = dir.path().join("tweets.jsonl");
        gen_tweet_lines(&tweets, &["--count", "3000", "--seed", seed]);
        let topic = common::topic_on(cluster.kafka(), prefix, 1, 2);
        let produced = tidemark_env(
            &[
                "produce",
                &format!("file:{}", tweets.display()),
                "--quiet",
                "--to",
                &format!(
                    "kafka://{}@{}/{topic}?mechanism=SCRAM-SHA-256&tls.ca={}",
                    cluster.kafka_user(),
                    cluster.kafka_ssl(),
                    cluster.ca()
                ),
            ],
            &[("TIDEMARK_KAFKA_PASSWORD", cluster.kafka_password())],
        );
        assert!(produced.status.success(), "{}", stderr(&produced));
        assert!(
            stderr(&produced).contains("acknowledged 3000"),
            "{}",
            stderr(&produced)
        );
        let reference = dir.path().join("reference.jsonl");
        run_ok(&[
            "dataflows/evilnet.toml",
            "--source",
            &format!("file:{}", tweets.display()),
            "--sink",
            &format!("jsonl:{}", reference.display()),
        ]);
        let expected = final_lines(&read_jsonl(&reference));
        assert!(expected.len() > 50, "{} final rows", expected.len());
        Secured {
            cluster,
            dir,
            topic,
            expected,
        }
    }

    /// Runs evilnet over `source` into a JSONL file with `env`; returns its final rows.
    fn read(&self, name: &str, source: &str, env: &[(&str, &str)]) -> Vec<String> {
        let sink = self.dir.path().join(format!("{name}.jsonl"));
        let output = tidemark_env(
            &[
                "run",
                "dataflows/evilnet.toml",
                "--quiet",
                "--source",
                source,
                "--sink",
                &format!("jsonl:{}", sink.display()),
            ],
            env,
        );
        assert!(output.status.success(), "{name}: {}", stderr(&output));
        final_lines(&read_jsonl(&sink))
    }

    fn bounded(&self, group: &str) -> String {
        format!("{}?start=earliest&stop=end&group={group}", self.topic)
    }
}

#[test]
fn kafka_logins_over_sasl_and_tls_read_what_a_file_run_reads() {
    let secured = Secured::new("secure-read", "41");
    let cluster = &secured.cluster;
    let password_file = secured.dir.path().join("kafka-password");
    std::fs::write(&password_file, format!("{}\n", cluster.kafka_password())).expect("write");

    // SASL PLAIN without TLS, the password from a file.
    let plain = secured.read(
        "plain",
        &format!(
            "kafka://{}@{}/{}&security=sasl_plaintext&mechanism=PLAIN&password.file={}",
            cluster.kafka_user(),
            cluster.kafka_sasl(),
            secured.bounded("plain"),
            password_file.display()
        ),
        &[],
    );
    assert_eq!(plain, secured.expected);

    // SCRAM-SHA-512 over TLS, everything from a client properties file.
    let properties = secured.dir.path().join("client.properties");
    std::fs::write(
        &properties,
        format!(
            "# Kafka client settings\nsecurity.protocol=SASL_SSL\nsasl.mechanism=SCRAM-SHA-512\n\
             sasl.username={}\nsasl.password={}\nssl.ca.location={}\n",
            cluster.kafka_user(),
            cluster.kafka_password(),
            cluster.ca()
        ),
    )
    .expect("write");
    let scram = secured.read(
        "scram",
        &format!(
            "kafka://{}/{}&config={}",
            cluster.kafka_ssl(),
            secured.bounded("scram"),
            properties.display()
        ),
        &[],
    );
    assert_eq!(scram, secured.expected);
}

#[test]
fn wrong_kafka_credentials_end_the_run_with_exit_2_naming_the_service_and_user() {
    let secured = Secured::new("secure-refused", "42");
    let cluster = &secured.cluster;
    let wrong = random_secret();
    let source = format!(
        "kafka://{}@{}/{}?tls.ca={}&start=earliest&stop=end",
        cluster.kafka_user(),
        cluster.kafka_ssl(),
        secured.topic,
        cluster.ca()
    );
    let run = tidemark_env(
        &["run", "dataflows/evilnet.toml", "--source", &source],
        &[("TIDEMARK_KAFKA_PASSWORD", &wrong)],
    );
    let text = stderr(&run);
    assert_eq!(run.status.code(), Some(2), "{text}");
    assert!(
        text.contains(&format!(
            "refused the login of user `{}` (SCRAM-SHA-512)",
            cluster.kafka_user()
        )),
        "{text}"
    );
    assert!(text.contains("Kafka at 127.0.0.1:19292"), "{text}");
    assert!(!text.contains(&wrong), "the password shows: {text}");

    let produce = tidemark_env(
        &[
            "produce",
            "gen:tweets?count=10",
            "--to",
            &format!(
                "kafka://{}@{}/{}?security=sasl_plaintext&mechanism=PLAIN",
                cluster.kafka_user(),
                cluster.kafka_sasl(),
                secured.topic
            ),
        ],
        &[("TIDEMARK_KAFKA_PASSWORD", &wrong)],
    );
    let text = stderr(&produce);
    assert_eq!(produce.status.code(), Some(2), "{text}");
    assert!(
        text.contains(&format!(
            "refused the login of user `{}` (PLAIN)",
            cluster.kafka_user()
        )),
        "{text}"
    );
    assert!(!text.contains(&wrong), "the password shows: {text}");

    // TLS to a broker whose certificate nothing vouches for.
    let untrusted = tidemark_env(
        &[
            "run",
            "dataflows/evilnet.toml",
            "--source",
            &source.replace(&format!("tls.ca={}", cluster.ca()), "security=sasl_ssl"),
        ],
        &[("TIDEMARK_KAFKA_PASSWORD", cluster.kafka_password())],
    );
    let text = stderr(&untrusted);
    assert_eq!(untrusted.status.code(), Some(2), "{text}");
    assert!(text.contains("TLS with Kafka at"), "{text}");
    assert!(text.contains("certificate verify failed"), "{text}");

    // No password anywhere.
    let unset = tidemark_env(
        &[
            "run",
            "dataflows/evilnet.toml",
            "--source",
            &format!("{source}&password.env=TIDEMARK_TEST_NOT_SET"),
        ],
        &[],
    );
    let text = stderr(&unset);
    assert_eq!(unset.status.code(), Some(2), "{text}");
    assert!(
        text.contains("the password variable TIDEMARK_TEST_NOT_SET is not set"),
        "{text}"
    );
}

/// Rows of an output in a keyspace of the cluster's Cassandra.
fn count_rows(cluster: &Cluster, keyspace: &str, table: &str) -> usize {
    cluster
        .cassandra_admin()
        .query(&format!("SELECT final FROM {keyspace}.{table}"))
        .rows_num()
}

#[test]
fn cassandra_logins_with_tls_write_and_read_and_wrong_ones_exit_2() {
    let cluster = Cluster::get();
    let dir = tempfile::tempdir().expect("tempdir");
    let (role, password) = cluster.cassandra_role("tm_writer");
    let keyspace = common::cassandra::keyspace("secure");
    let tweets = dir.path().join("tweets.jsonl");
    gen_tweet_lines(&tweets, &["--count", "2000", "--seed", "43"]);
    let jsonl = dir.path().join("rows.jsonl");
    let sink = format!(
        "cassandra://{role}@{}/{keyspace}?tls.ca={}",
        cluster.cassandra(),
        cluster.ca()
    );
    let env = [("TIDEMARK_CASSANDRA_PASSWORD", password.as_str())];
    let run = tidemark_env(
        &[
            "run",
            "dataflows/evilnet.toml",
            "--quiet",
            "--source",
            &format!("file:{}", tweets.display()),
            "--sink",
            &sink,
            "--sink",
            &format!("jsonl:{}", jsonl.display()),
        ],
        &env,
    );
    assert!(run.status.success(), "{}", stderr(&run));
    let finals = read_jsonl(&jsonl)
        .into_iter()
        .filter(|r| r["output"] == "city_stats" && r["final"] == true)
        .count();
    assert!(finals > 10);
    assert_eq!(count_rows(&cluster, &keyspace, "city_stats"), finals);

    // `query` reads it back with the same login, without TLS this time.
    let query = tidemark_env(
        &[
            "query",
            "dataflows/evilnet.toml",
            "city_stats",
            "--format",
            "json",
            "--cassandra",
            &format!("cassandra://{role}@{}/{keyspace}", cluster.cassandra()),
        ],
        &env,
    );
    assert!(query.status.success(), "{}", stderr(&query));
    assert!(!query.stdout.is_empty());

    let wrong = random_secret();
    let refused = tidemark_env(
        &[
            "run",
            "dataflows/evilnet.toml",
            "--source",
            &format!("file:{}", tweets.display()),
            "--sink",
            &sink,
        ],
        &[("TIDEMARK_CASSANDRA_PASSWORD", &wrong)],
    );
    let text = stderr(&refused);
    assert_eq!(refused.status.code(), Some(2), "{text}");
    assert!(
        text.contains(&format!(
            "Cassandra at {} refused the login of user `{role}`",
            cluster.cassandra()
        )),
        "{text}"
    );
    assert!(!text.contains(&wrong), "the password shows: {text}");

    let anonymous = tidemark_env(
        &[
            "run",
            "dataflows/evilnet.toml",
            "--source",
            &format!("file:{}", tweets.display()),
            "--sink",
            &format!("cassandra://{}/{keyspace}", cluster.cassandra()),
        ],
        &[],
    );
    let text = stderr(&anonymous);
    assert_eq!(anonymous.status.code(), Some(2), "{text}");
    assert!(text.contains("requires a login"), "{text}");
}

/// Every file under `dir`, as text.
fn files_under(dir: &Path) -> Vec<(String, String)> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).expect("dir").flatten() {
        let path = entry.path();
        if path.is_dir() {
            found.extend(files_under(&path));
        } else if let Ok(bytes) = std::fs::read(&path) {
            found.push((
                path.display().to_string(),
                String::from_utf8_lossy(&bytes).into_owned(),
            ));
        }
    }
    found
}

#[test]
fn no_secret_shows_in_logs_errors_help_metrics_the_api_or_the_summary() {
    let secured = Secured::new("secure-quiet", "44");
    let cluster = &secured.cluster;
    let (role, cassandra_password) = cluster.cassandra_role("tm_quiet");
    let kafka_password = cluster.kafka_password().to_string();
    let keyspace = common::cassandra::keyspace("quiet");
    let out = secured.dir.path().join("out");
    std::fs::create_dir(&out).expect("out");
    let env = [
        ("TIDEMARK_KAFKA_PASSWORD", kafka_password.as_str()),
        ("TIDEMARK_CASSANDRA_PASSWORD", cassandra_password.as_str()),
        ("RUST_LOG", "debug"),
    ];
    let metrics = format!("127.0.0.1:{}", free_port());
    let source = format!(
        "kafka://{}@{}/{}?tls.ca={}&mechanism=SCRAM-SHA-256&start=earliest&stop=end",
        cluster.kafka_user(),
        cluster.kafka_ssl(),
        secured.topic,
        cluster.ca()
    );
    let cassandra = format!(
        "cassandra://{role}@{}/{keyspace}?tls.ca={}",
        cluster.cassandra(),
        cluster.ca()
    );
    let mut seen: Vec<(String, String)> = Vec::new();

    // A whole run, debug logs on, with the live API and metrics.
    let mut server = Server::start_env(
        &out,
        &[
            "run",
            "dataflows/evilnet.toml",
            "--source",
            &source,
            "--sink",
            &cassandra,
            "--sink",
            &format!("jsonl:{}", out.join("rows.jsonl").display()),
            "--dead-letter",
            &format!("jsonl:{}", out.join("dead.jsonl").display()),
            "--metrics",
            &metrics,
        ],
        &env,
    );
    server.wait_until_ended();
    for path in ["/api/status", "/api/outputs", "/metrics"] {
        seen.push((path.to_string(), get_text(&format!("{}{path}", server.url))));
    }
    seen.push((
        "--metrics".into(),
        get_text(&format!("http://{metrics}/metrics")),
    ));
    let log = server.log();
    assert_eq!(server.stop(), Some(0));
    assert!(log.contains("summary: read 3000"), "{log}");
    assert_eq!(
        final_lines(&read_jsonl(&out.join("rows.jsonl"))),
        secured.expected
    );

    // The history server and `query` over the same keyspace.
    let mut history = Server::start_env(
        &out,
        &["serve", "dataflows/evilnet.toml", "--cassandra", &cassandra],
        &env,
    );
    history.wait_for(|s| s.get("/api/outputs").0 == 200);
    seen.push((
        "serve /api/outputs".into(),
        get_text(&format!("{}/api/outputs", history.url)),
    ));
    drop(history);
    let query = tidemark_env(
        &[
            "query",
            "dataflows/evilnet.toml",
            "top_cities",
            "--cassandra",
            &cassandra,
        ],
        &env,
    );
    assert!(query.status.success(), "{}", stderr(&query));
    seen.push((
        "query".into(),
        String::from_utf8_lossy(&query.stdout).into(),
    ));
    seen.push(("query stderr".into(), stderr(&query)));

    // The producer, with its metrics.
    let produce = tidemark_env(
        &[
            "produce",
            "gen:tweets?count=100",
            "--to",
            &format!(
                "kafka://{}@{}/{}?security=sasl_plaintext",
                cluster.kafka_user(),
                cluster.kafka_sasl(),
                secured.topic
            ),
            "--metrics",
            &format!("127.0.0.1:{}", free_port()),
        ],
        &env,
    );
    assert!(produce.status.success(), "{}", stderr(&produce));
    seen.push(("produce".into(), stderr(&produce)));

    // Help, with the secrets in the environment.
    for command in ["run", "produce", "serve", "query"] {
        let help = tidemark_env(&[command, "--help"], &env);
        seen.push((
            format!("{command} --help"),
            String::from_utf8_lossy(&help.stdout).into(),
        ));
    }
    seen.extend(files_under(&out));
    assert!(seen.len() > 12, "{} outputs", seen.len());
    for (name, text) in &seen {
        for secret in [&kafka_password, &cassandra_password] {
            assert!(
                !text.contains(secret.as_str()),
                "a secret shows in {name}:\n{text}"
            );
        }
    }
}
