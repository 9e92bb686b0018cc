//! A partition that goes quiet stops holding the frontier back after `idle_timeout`, on a
//! real Kafka broker: windows keep reaching the sink, and a record that later arrives in the
//! quiet partition behind the frontier is late (counted and written out), never dropped.

mod common;

use common::{broker, produce, read_jsonl, root, tidemark, topic};
use serde_json::Value;
use std::path::Path;
use std::time::{Duration, Instant};

/// Kills the engine however the test ends.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn tweet(id: u32, time: &str) -> String {
    format!(
        r#"{{"data": {{"id": "{id}", "author_id": "u{id}", "created_at": "{time}"}}, "includes": {{"places": [{{"full_name": "Toronto", "place_type": "city"}}]}}}}"#
    )
}

/// The evilnet dataflow with a short idle timeout and a minute of allowed lateness.
fn dataflow(dir: &Path) -> String {
    let text = std::fs::read_to_string(root().join("dataflows/evilnet.toml")).expect("dataflow");
    let text = text.replace(
        "allowed_lateness = \"1h\"",
        "allowed_lateness = \"1m\"\nidle_timeout = \"2s\"",
    );
    let path = dir.join("idle.toml");
    std::fs::write(&path, text).expect("write");
    path.display().to_string()
}

/// Waits (up to a generous deadline: this checks liveness, not speed) until `done` holds for
/// the rows of a JSONL file.
fn wait_for(path: &Path, what: &str, done: impl Fn(&[Value]) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if path.exists() && done(&read_jsonl(path)) {
            return;
        }
        assert!(Instant::now() < deadline, "{what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_quiet_partition_stops_holding_windows_back_and_later_records_there_are_late() {
    let name = topic("idle", 2);
    // Partition 1 has one tweet at 03:00 and then goes quiet; partition 0 goes on to 03:30.
    produce(&name, &[tweet(1, "2022-09-26T03:00:00.000Z")], |_| 1);
    let busy: Vec<String> = (0..30)
        .map(|m| tweet(100 + m, &format!("2022-09-26T03:{m:02}:00.000Z")))
        .collect();
    produce(&name, &busy, |_| 0);

    let dir = tempfile::tempdir().expect("tempdir");
    let (rows, late) = (dir.path().join("rows.jsonl"), dir.path().join("late.jsonl"));
    let engine = tidemark()
        .current_dir(root())
        .args(["run", &dataflow(dir.path()), "--quiet", "-w", "2"])
        .args([
            "--source",
            &format!("kafka://{}/{name}?start=earliest", broker()),
        ])
        .arg("--sink")
        .arg(format!("jsonl:{}", rows.display()))
        .arg("--late")
        .arg(format!("jsonl:{}", late.display()))
        .spawn()
        .expect("spawn engine");
    let engine = KillOnDrop(engine);

    // Without idleness the quiet partition would hold the frontier near 03:00 for ever:
    // the 03:15 window becomes final only once it stops counting.
    let final_window = |rows: &[Value], start: &str| {
        rows.iter().any(|r| {
            r["output"] == "city_stats" && r["final"] == true && r["window_start"] == start
        })
    };
    wait_for(&rows, "the 03:15 window never became final", |rows| {
        final_window(rows, "2022-09-26T03:15:00.000Z")
    });

    // A record behind the frontier in the quiet partition is late, not lost.
    produce(&name, &[tweet(2, "2022-09-26T03:01:00.000Z")], |_| 1);
    wait_for(&late, "the late record was not written out", |late| {
        late.iter().any(|r| {
            r["output"] == "city_stats"
                && r["raw"]
                    .as_str()
                    .is_some_and(|t| t.contains("\"id\": \"2\""))
        })
    });
    drop(engine);
    let rows = read_jsonl(&rows);
    let first = rows
        .iter()
        .find(|r| {
            r["output"] == "city_stats"
                && r["final"] == true
                && r["window_start"] == "2022-09-26T03:00:00.000Z"
        })
        .expect("the 03:00 window");
    // Tweet 1 and the busy partition's 03:00 to 03:04 tweets; not the late tweet 2.
    assert_eq!(
        first["tweets"], 6,
        "the late tweet did not change a final window: {first}"
    );
}
