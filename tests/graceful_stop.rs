//! SIGTERM or Ctrl-C stops a run cleanly: reading stops, what fired is written, the summary
//! is printed and the exit code is 0, and no window that the input had not closed is final.

mod common;

use common::{final_lines, gen_tweet_lines, read_jsonl, root, tidemark};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::{Duration, Instant};

/// Generated tweets, two a second with some disorder.
fn tweets(dir: &Path, count: &str, seed: &str) -> (PathBuf, Vec<String>) {
    let path = dir.join("all.jsonl");
    let args = [
        "--count",
        count,
        "--seed",
        seed,
        "--rate",
        "2",
        "--disorder-s",
        "30",
    ];
    let lines = gen_tweet_lines(&path, &args);
    (path, lines)
}

/// A named pipe in `dir`.
fn fifo(dir: &Path) -> PathBuf {
    let fifo = dir.join("tweets.fifo");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("mkfifo");
    assert!(made.success());
    fifo
}

/// Starts the evilnet dataflow over `source` into the JSONL file `sink`, with `extra` flags;
/// its standard error goes to `log`.
fn engine(source: &Path, sink: &Path, extra: &[&str], log: &Path) -> Child {
    tidemark()
        .current_dir(root())
        .args(["run", "dataflows/evilnet.toml", "--quiet", "--source"])
        .arg(format!("file:{}", source.display()))
        .arg("--sink")
        .arg(format!("jsonl:{}", sink.display()))
        .args(extra)
        .stderr(std::fs::File::create(log).expect("log"))
        .spawn()
        .expect("spawn")
}

/// Opens the pipe for writing (once the engine has opened it) and writes `lines`; the pipe
/// stays open while the returned file lives.
fn feed(fifo: &Path, lines: &[String]) -> std::fs::File {
    let mut pipe = std::fs::OpenOptions::new()
        .write(true)
        .open(fifo)
        .expect("open the pipe");
    pipe.write_all((lines.join("\n") + "\n").as_bytes())
        .expect("write");
    pipe
}

/// Waits (a liveness deadline, not a speed check) until `rows` holds a final row.
fn wait_for_a_final_row(rows: &Path) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::fs::read_to_string(rows).map_or(true, |t| !t.contains("\"final\":true")) {
        assert!(Instant::now() < deadline, "no window became final");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Sends SIGTERM to `child`.
fn terminate(child: &Child) {
    let status = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
}

/// Waits for a terminated engine and checks it stopped cleanly: exit 0 and a summary.
/// Returns its standard error.
fn assert_stopped_cleanly(mut child: Child, log: &Path) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        assert!(Instant::now() < deadline, "still running after SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    };
    let stderr = std::fs::read_to_string(log).expect("log");
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("summary: read "), "{stderr}");
    stderr
}

#[test]
fn sigterm_on_a_live_pipe_writes_only_windows_the_input_closed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (all, lines) = tweets(dir.path(), "20000", "3");
    // What an uninterrupted run makes final.
    let whole = dir.path().join("whole.jsonl");
    let output = tidemark()
        .current_dir(root())
        .args(["run", "dataflows/evilnet.toml", "--quiet", "--source"])
        .arg(format!("file:{}", all.display()))
        .arg("--sink")
        .arg(format!("jsonl:{}", whole.display()))
        .output()
        .expect("run");
    assert!(output.status.success());
    let whole = final_lines(&read_jsonl(&whole));

    // The first half through a pipe that stays open, then SIGTERM.
    let fifo = fifo(dir.path());
    let (stopped, log) = (dir.path().join("stopped.jsonl"), dir.path().join("stderr"));
    let child = engine(&fifo, &stopped, &[], &log);
    let pipe = feed(&fifo, &lines[..10_000]);
    wait_for_a_final_row(&stopped);
    terminate(&child);
    let stderr = assert_stopped_cleanly(child, &log);
    drop(pipe);
    assert!(stderr.contains("summary: read 10000,"), "{stderr}");
    let finals = final_lines(&read_jsonl(&stopped));
    assert!(!finals.is_empty());
    assert!(
        finals.len() < whole.len(),
        "windows after the stop were not made final"
    );
    let early: Vec<&String> = finals
        .iter()
        .filter(|r| !whole.contains(r))
        .take(3)
        .collect();
    assert!(
        early.is_empty(),
        "final rows that differ from a whole run: {early:?}"
    );
}

#[test]
fn sigterm_stops_both_processes_of_a_two_process_run() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_, lines) = tweets(dir.path(), "10000", "5");
    let free = || {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("address").to_string()
    };
    let hosts = dir.path().join("hosts");
    std::fs::write(&hosts, format!("{}\n{}\n", free(), free())).expect("hosts");
    let hosts = hosts.display().to_string();
    let fifo = fifo(dir.path());
    let out = dir.path().join("rows.jsonl");
    let engines: Vec<(Child, PathBuf)> = ["0", "1"]
        .into_iter()
        .map(|p| {
            let log = dir.path().join(format!("stderr.{p}"));
            let extra = ["-n", "2", "-p", p, "-h", &hosts];
            (engine(&fifo, &out, &extra, &log), log)
        })
        .collect();
    // Process 0 reads the pipe's one partition.
    let pipe = feed(&fifo, &lines);
    wait_for_a_final_row(&dir.path().join("rows.jsonl.0"));
    for (child, _) in &engines {
        terminate(child);
    }
    for (child, log) in engines {
        assert_stopped_cleanly(child, &log);
    }
    drop(pipe);
}
