//! Helpers for the dashboard tests: a `tidemark run --http` or `tidemark serve` process,
//! HTTP reads of its API, and what the JSONL sink says the API must answer.

use super::{free_port, root, tidemark};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

/// A GET: the status and the body as JSON.
pub fn get(url: &str) -> (u16, Value) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut response = agent
        .get(url)
        .call()
        .unwrap_or_else(|e| panic!("{url}: {e}"));
    let status = response.status().as_u16();
    let text = response.body_mut().read_to_string().expect("body");
    let body = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{url}: {e}: {text}"));
    (status, body)
}

/// A GET that must succeed: the body as text.
pub fn get_text(url: &str) -> String {
    let mut response = ureq::get(url)
        .call()
        .unwrap_or_else(|e| panic!("{url}: {e}"));
    response.body_mut().read_to_string().expect("body")
}

/// A serving process, ended with SIGTERM when dropped.
pub struct Server {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    stderr: std::path::PathBuf,
}

impl Server {
    /// Starts `tidemark ARGS --http 127.0.0.1:PORT` (`run` or `serve`) and waits until its API
    /// answers.
    pub fn start(dir: &Path, args: &[&str]) -> Server {
        Self::start_with(dir, args, Stdio::null())
    }

    /// As [`Server::start`], with the child's standard input.
    pub fn start_with(dir: &Path, args: &[&str], stdin: Stdio) -> Server {
        Self::launch(dir, args, stdin, &[])
    }

    /// As [`Server::start`], with environment variables set for the child.
    pub fn start_env(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Server {
        Self::launch(dir, args, Stdio::null(), env)
    }

    fn launch(dir: &Path, args: &[&str], stdin: Stdio, env: &[(&str, &str)]) -> Server {
        let port = free_port();
        let address = format!("127.0.0.1:{port}");
        let stderr = dir.join(format!("server-{port}.log"));
        let child = tidemark()
            .envs(env.iter().copied())
            .args(args)
            .args(["--http", &address])
            .current_dir(root())
            .stdin(stdin)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&stderr).expect("log file"))
            .spawn()
            .expect("start tidemark");
        let mut server = Server {
            child,
            url: format!("http://{address}"),
            stderr,
        };
        server.wait_for(|s| std::net::TcpStream::connect(&address).is_ok() && s.alive());
        server
    }

    /// The process's standard input, when it was started with a pipe there.
    pub fn stdin(&mut self) -> Option<std::process::ChildStdin> {
        self.child.stdin.take()
    }

    /// The process's standard error so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    fn alive(&mut self) -> bool {
        match self.child.try_wait() {
            Ok(None) => true,
            other => panic!("the server ended: {other:?}\n{}", self.log()),
        }
    }

    /// Polls `ready` until it holds (at most two minutes).
    pub fn wait_for(&mut self, mut ready: impl FnMut(&mut Server) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(120);
        while !ready(self) {
            assert!(Instant::now() < deadline, "timed out\n{}", self.log());
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Waits until a `run --http` says its input has ended.
    pub fn wait_until_ended(&mut self) {
        let status = format!("{}/api/status", self.url);
        self.wait_for(|s| s.alive() && get(&status).1["input_ended"] == true);
    }

    /// A GET under the server's URL.
    pub fn get(&self, path: &str) -> (u16, Value) {
        get(&format!("{}{path}", self.url))
    }

    /// Stops the process with SIGTERM and returns its exit code.
    pub fn stop(mut self) -> Option<i32> {
        self.terminate()
    }

    fn terminate(&mut self) -> Option<i32> {
        // SAFETY: kill(2) with a valid signal on our own child's pid has no memory effects.
        unsafe {
            libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM);
        }
        self.child.wait().ok().and_then(|s| s.code())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            self.terminate();
        }
    }
}

/// A row's identity: output, window and rank (ranked outputs) or key fields.
fn identity(row: &Value, keys: &[String]) -> String {
    let mut id = format!(
        "{}|{}|{}",
        row["output"], row["window_start"], row["window_end"]
    );
    match row.get("rank") {
        Some(rank) => id.push_str(&rank.to_string()),
        None => {
            for key in keys {
                id.push('|');
                id.push_str(&text(&row[key]));
            }
        }
    }
    id
}

/// A value as text: a string as it is, anything else in JSON form.
pub fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// What the API must hold for each output, from the JSONL sink's rows: the last version of
/// every row (rows are upserts), by output name, keyed by identity.
pub fn latest_versions(
    rows: &[Value],
    catalog: &Value,
) -> BTreeMap<String, BTreeMap<String, Value>> {
    let mut by_output: BTreeMap<String, BTreeMap<String, Value>> = BTreeMap::new();
    for output in catalog["outputs"].as_array().expect("outputs") {
        by_output.insert(
            output["name"].as_str().expect("name").into(),
            BTreeMap::new(),
        );
    }
    for row in rows {
        let name = row["output"].as_str().expect("output");
        let keys = keys_of(catalog, name);
        by_output
            .get_mut(name)
            .expect("known output")
            .insert(identity(row, &keys), row.clone());
    }
    by_output
}

/// The key fields of an output, from `GET /api/outputs`.
pub fn keys_of(catalog: &Value, output: &str) -> Vec<String> {
    let found = catalog["outputs"]
        .as_array()
        .expect("outputs")
        .iter()
        .find(|o| o["name"] == output)
        .expect("output in catalog");
    found["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .map(|k| k.as_str().expect("key").to_string())
        .collect()
}

/// Asserts that an API row says what a JSONL row says: the same window, rank, final flag,
/// key text and aggregate values.
pub fn assert_same_row(api: &Value, jsonl: &Value) {
    let (api, jsonl) = (
        api.as_object().expect("row"),
        jsonl.as_object().expect("row"),
    );
    assert_eq!(
        api.keys().collect::<Vec<_>>(),
        jsonl.keys().collect::<Vec<_>>(),
        "columns of {api:?} vs {jsonl:?}"
    );
    for (name, expected) in jsonl {
        let got = &api[name];
        match (got, expected) {
            (Value::Number(a), Value::Number(b)) => {
                let (a, b) = (a.as_f64().expect("f64"), b.as_f64().expect("f64"));
                assert!(
                    (a - b).abs() <= 1e-9 * b.abs().max(1.0),
                    "{name}: {a} vs {b} in {api:?}"
                );
            }
            _ => assert_eq!(text(got), text(expected), "{name} in {api:?}"),
        }
    }
}

/// Generates `count` events of `kind` with `tidemark gen`, extra flags appended.
pub fn generate(path: &Path, kind: &str, count: &str, extra: &[&str]) {
    let output = tidemark()
        .args(["gen", kind, "--count", count])
        .args(extra)
        .output()
        .expect("start tidemark gen");
    assert!(output.status.success(), "gen {kind} failed");
    std::fs::write(path, output.stdout).expect("write events");
}
