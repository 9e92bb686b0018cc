//! SIGTERM or Ctrl-C stops a run cleanly: reading stops, what fired is written, the summary
//! is printed and the exit code is 0, and no window that the input had not closed is final.

mod common;

use common::{final_lines, gen_tweet_lines, read_jsonl, root, tidemark};
use std::io::Write;
use std::time::{Duration, Instant};

#[test]
fn sigterm_on_a_live_pipe_writes_only_windows_the_input_closed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let all = dir.path().join("all.jsonl");
    let lines = gen_tweet_lines(
        &all,
        &[
            "--count",
            "20000",
            "--seed",
            "3",
            "--rate",
            "2",
            "--disorder-s",
            "30",
        ],
    );
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
    let fifo = dir.path().join("tweets.fifo");
    assert!(std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("mkfifo")
        .success());
    let stopped = dir.path().join("stopped.jsonl");
    let log = dir.path().join("stderr.log");
    let mut engine = tidemark()
        .current_dir(root())
        .args(["run", "dataflows/evilnet.toml", "--quiet", "--source"])
        .arg(format!("file:{}", fifo.display()))
        .arg("--sink")
        .arg(format!("jsonl:{}", stopped.display()))
        .stderr(std::fs::File::create(&log).expect("log"))
        .spawn()
        .expect("spawn");
    let mut pipe = std::fs::OpenOptions::new()
        .write(true)
        .open(&fifo)
        .expect("open the pipe");
    pipe.write_all((lines[..10_000].join("\n") + "\n").as_bytes())
        .expect("write");
    // Wait until the engine has fired some windows of the first half.
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::fs::read_to_string(&stopped).map_or(true, |t| !t.contains("\"final\":true")) {
        assert!(Instant::now() < deadline, "no window became final");
        std::thread::sleep(Duration::from_millis(50));
    }
    let status = std::process::Command::new("kill")
        .args(["-TERM", &engine.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = engine.try_wait().expect("wait") {
            break status;
        }
        assert!(Instant::now() < deadline, "still running after SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    };
    drop(pipe);
    let stderr = std::fs::read_to_string(&log).expect("log");
    assert_eq!(status.code(), Some(0), "{stderr}");
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
    let lines = gen_tweet_lines(
        &dir.path().join("all.jsonl"),
        &[
            "--count",
            "10000",
            "--seed",
            "5",
            "--rate",
            "2",
            "--disorder-s",
            "30",
        ],
    );
    let free = || {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("address").to_string()
    };
    let hosts = dir.path().join("hosts");
    std::fs::write(&hosts, format!("{}\n{}\n", free(), free())).expect("hosts");
    let fifo = dir.path().join("tweets.fifo");
    assert!(std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("mkfifo")
        .success());
    let out = dir.path().join("rows.jsonl");
    let engines: Vec<(std::process::Child, std::path::PathBuf)> = (0..2)
        .map(|p| {
            let log = dir.path().join(format!("stderr.{p}"));
            let child = tidemark()
                .current_dir(root())
                .args(["run", "dataflows/evilnet.toml", "--quiet", "--source"])
                .arg(format!("file:{}", fifo.display()))
                .arg("--sink")
                .arg(format!("jsonl:{}", out.display()))
                .args(["-n", "2", "-p", &p.to_string(), "-h"])
                .arg(&hosts)
                .stderr(std::fs::File::create(&log).expect("log"))
                .spawn()
                .expect("spawn");
            (child, log)
        })
        .collect();
    // Both processes open the pipe's partition list; process 0 reads it.
    let mut pipe = std::fs::OpenOptions::new()
        .write(true)
        .open(&fifo)
        .expect("open the pipe");
    pipe.write_all((lines.join("\n") + "\n").as_bytes())
        .expect("write");
    let first = dir.path().join("rows.jsonl.0");
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::fs::read_to_string(&first).map_or(true, |t| !t.contains("\"final\":true")) {
        assert!(Instant::now() < deadline, "no window became final");
        std::thread::sleep(Duration::from_millis(50));
    }
    for (child, _) in &engines {
        let status = std::process::Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success());
    }
    for (mut child, log) in engines {
        let deadline = Instant::now() + Duration::from_secs(30);
        let status = loop {
            if let Some(status) = child.try_wait().expect("wait") {
                break status;
            }
            assert!(Instant::now() < deadline, "still running after SIGTERM");
            std::thread::sleep(Duration::from_millis(50));
        };
        let stderr = std::fs::read_to_string(&log).expect("log");
        assert_eq!(status.code(), Some(0), "{stderr}");
        assert!(stderr.contains("summary: read "), "{stderr}");
    }
    drop(pipe);
}
