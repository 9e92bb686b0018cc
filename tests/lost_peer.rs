//! One process of a two-process run killed with SIGKILL: the other does not hang. It ends
//! with exit 1, naming the lost process and its address, and leaves its output as written.

mod common;

use common::{free_port, root, tidemark};
use std::process::Stdio;
use std::time::{Duration, Instant};

#[test]
fn a_killed_peer_ends_the_other_process_naming_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let hostfile = dir.path().join("hosts");
    let second = format!("127.0.0.1:{}", free_port());
    std::fs::write(&hostfile, format!("127.0.0.1:{}\n{second}\n", free_port())).expect("hosts");
    let sink = format!("jsonl:{}", dir.path().join("rows.jsonl").display());
    let hosts = hostfile.display().to_string();
    let start = |process: &str| {
        tidemark()
            .args(["run", "tests/data/dataflows/tweets_per_second.toml"])
            .args([
                "--source",
                "gen:tweets?rate=500",
                "--sink",
                &sink,
                "--quiet",
            ])
            .args(["-n", "2", "-p", process, "-h", &hosts])
            .current_dir(root())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start a process")
    };
    let survivor = start("0");
    let mut victim = start("1");
    // Both running and results flowing: rows from process 0.
    let rows = dir.path().join("rows.jsonl.0");
    let deadline = Instant::now() + Duration::from_secs(60);
    while std::fs::metadata(&rows).map_or(0, |m| m.len()) == 0 {
        assert!(Instant::now() < deadline, "the run never wrote a row");
        std::thread::sleep(Duration::from_millis(200));
    }
    victim.kill().expect("SIGKILL process 1");
    victim.wait().expect("reap process 1");
    let pid = survivor.id();
    let waiter = std::thread::spawn(move || survivor.wait_with_output().expect("process 0"));
    let deadline = Instant::now() + Duration::from_secs(60);
    while !waiter.is_finished() {
        if Instant::now() > deadline {
            // SAFETY: kill(2) on our own child's pid has no memory effects.
            unsafe {
                libc::kill(pid as libc::pid_t, libc::SIGKILL);
            }
            panic!("process 0 hung after losing process 1");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let output = waiter.join().expect("waiter");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!("lost the connection to process 1 ({second})")),
        "{stderr}"
    );
    assert!(stderr.contains("summary:"), "{stderr}");
}
