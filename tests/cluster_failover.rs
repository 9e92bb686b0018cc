//! Engine failures on the real cluster of `scripts/cluster.sh` (two brokers, topics replicated
//! twice, Cassandra with a login): an engine process of two killed, and a run restarted at
//! other worker and process counts. Each time the final rows in Cassandra are exactly those
//! of an uninterrupted run.

mod common;

use common::failover::{assert_same, Failover};
use common::{free_port, summary_read};

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
