//! Running the real `tidemark` binary and reading what it wrote.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The built `tidemark` binary.
pub fn tidemark() -> Command {
    Command::new(env!("CARGO_BIN_EXE_tidemark"))
}

/// The repository root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Runs `tidemark run` with the given arguments (plus `--quiet`), asserting success.
pub fn run_ok(args: &[&str]) -> Output {
    let output = tidemark()
        .arg("run")
        .args(args)
        .arg("--quiet")
        .current_dir(root())
        .output()
        .expect("start tidemark");
    assert!(
        output.status.success(),
        "tidemark run {args:?} failed: {}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// Parses every JSON line of a file.
pub fn read_jsonl(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect()
}

/// The final rows, as sorted canonical JSON strings (for set comparisons).
pub fn final_lines(rows: &[Value]) -> Vec<String> {
    let mut lines: Vec<String> = rows
        .iter()
        .filter(|r| r["final"] == Value::Bool(true))
        .map(|r| r.to_string())
        .collect();
    lines.sort();
    lines
}

/// Generates tweets with `tidemark gen tweets` into `path`.
pub fn gen_tweets(path: &Path, args: &[&str]) {
    let output = tidemark()
        .args(["gen", "tweets"])
        .args(args)
        .output()
        .expect("start tidemark gen");
    assert!(
        output.status.success(),
        "gen failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    std::fs::write(path, output.stdout).expect("write tweets");
}

/// What a finished run wrote: result rows, dead letters, late records, and standard error.
pub struct Finished {
    /// Result rows.
    pub rows: Vec<Value>,
    /// Dead letters.
    pub dead: Vec<Value>,
    /// Late records.
    pub late: Vec<Value>,
    /// Standard error (progress, logs, summary).
    pub stderr: String,
}

/// Runs `dataflow` (over `source` when given, plus `extra` flags), sending results, dead
/// letters and late records to files in `dir`, and reads them back.
pub fn run_into(dir: &Path, dataflow: &str, source: Option<&Path>, extra: &[&str]) -> Finished {
    let (rows, dead, late) = (
        dir.join("rows.jsonl"),
        dir.join("dead.jsonl"),
        dir.join("late.jsonl"),
    );
    let sinks = [
        format!("jsonl:{}", rows.display()),
        format!("jsonl:{}", dead.display()),
        format!("jsonl:{}", late.display()),
    ];
    let mut args = vec![
        dataflow,
        "--sink",
        &sinks[0],
        "--dead-letter",
        &sinks[1],
        "--late",
        &sinks[2],
    ];
    let source = source.map(|s| format!("file:{}", s.display()));
    if let Some(uri) = &source {
        args.extend(["--source", uri]);
    }
    args.extend_from_slice(extra);
    let output = run_ok(&args);
    Finished {
        rows: read_jsonl(&rows),
        dead: read_jsonl(&dead),
        late: read_jsonl(&late),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// A free port on the loopback interface.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

/// Runs evilnet over `source` as two processes (`-n 2`, `workers` each) on loopback ports and
/// returns the union of their final lines.
pub fn run_two_processes(source: &str, dir: &Path, workers: &str) -> Vec<String> {
    run_two_processes_of("dataflows/evilnet.toml", source, dir, workers)
}

/// Runs `dataflow` over `source` as two processes (`-n 2`, `workers` each) on loopback ports
/// and returns the union of their final lines.
pub fn run_two_processes_of(
    dataflow: &str,
    source: &str,
    dir: &Path,
    workers: &str,
) -> Vec<String> {
    let hostfile = dir.join("hosts");
    std::fs::write(
        &hostfile,
        format!("127.0.0.1:{}\n127.0.0.1:{}\n", free_port(), free_port()),
    )
    .expect("hostfile");
    let sink = format!("jsonl:{}", dir.join("cluster.jsonl").display());
    let hosts = hostfile.display().to_string();
    let children: Vec<_> = ["0", "1"]
        .iter()
        .map(|p| {
            tidemark()
                .current_dir(root())
                .args([
                    "run", dataflow, "--source", source, "--sink", &sink, "--quiet",
                ])
                .args(["-w", workers, "-n", "2", "-p", p, "-h", &hosts])
                .spawn()
                .expect("spawn process")
        })
        .collect();
    for child in children {
        let output = child.wait_with_output().expect("wait");
        assert!(
            output.status.success(),
            "a process failed: {}",
            output.status
        );
    }
    let mut rows = read_jsonl(&dir.join("cluster.jsonl.0"));
    rows.extend(read_jsonl(&dir.join("cluster.jsonl.1")));
    final_lines(&rows)
}

/// Generates tweets into `path` and returns them as lines.
pub fn gen_tweet_lines(path: &Path, args: &[&str]) -> Vec<String> {
    gen_tweets(path, args);
    std::fs::read_to_string(path)
        .expect("tweets")
        .lines()
        .map(String::from)
        .collect()
}

/// The `read` count of a run's summary line.
pub fn summary_read(stderr: &str) -> i64 {
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
