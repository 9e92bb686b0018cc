//! Bad input is dead-lettered with its reason and position, counted, and the run goes on;
//! very late records are excluded, counted and written out; setup errors exit with code 2.

mod common;

use common::{root, run_into, tidemark};
use serde_json::Value;

fn tweet(id: u64, created_at: &str, city: &str) -> String {
    format!(
        r#"{{"data": {{"id": "{id}", "author_id": "u{id}", "created_at": "{created_at}", "referenced_tweets": []}}, "includes": {{"places": [{{"full_name": "{city}", "place_type": "city"}}]}}}}"#
    )
}

#[test]
fn bad_records_become_counted_dead_letters_and_the_run_continues() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("mixed.jsonl");
    let lines = [
        tweet(1, "2022-09-26T03:15:45.000Z", "Toronto, Ontario"),
        r#"{"data": {"id": "2", "created_at": "2022-09-26T03:15:46.000Z""#.to_string(),
        tweet(3, "yesterday", "Toronto, Ontario"),
        r#"{"data": {"id": "4", "author_id": "u4", "created_at": "2022-09-26T03:15:47.000Z"}, "includes": {"places": [{"place_type": "city"}]}}"#.to_string(),
        r#"{"data": {"id": "5", "author_id": "u5", "created_at": "2022-09-26T03:15:47.000Z"}, "includes": {"places": [{"full_name": ["not", "text"], "place_type": "city"}]}}"#.to_string(),
        r#"{"data": {"id": "6", "author_id": "u6"}, "includes": {"places": [{"full_name": "Toronto, Ontario", "place_type": "city"}]}}"#.to_string(),
        "not json at all".to_string(),
        tweet(8, "2022-09-26T03:16:00.000Z", "Toronto, Ontario"),
        // A clock far in the future must not drag the watermark along.
        tweet(9, "2999-01-01T00:00:00.000Z", "Toronto, Ontario"),
    ];
    let mut bytes = lines.join("\n").into_bytes();
    bytes.extend_from_slice(b"\n{\"data\": \"\xff\xfe\"}\n");
    std::fs::write(&input, bytes).expect("write");
    let run = run_into(dir.path(), "dataflows/evilnet.toml", Some(&input), &[]);
    let stderr = &run.stderr;
    assert!(
        stderr.contains("read 10, kept 2, filtered 0, duplicates 0, late 0, dead letters 8"),
        "{stderr}"
    );
    for (reason, n) in [
        ("malformed_json", 2),
        ("bad_timestamp", 1),
        ("missing_field", 2),
        ("wrong_type", 1),
        ("invalid_utf8", 1),
        ("future_timestamp", 1),
    ] {
        assert!(
            stderr.contains(&format!("dead letters {reason}: {n}")),
            "{reason}: {stderr}"
        );
    }

    let letters = &run.dead;
    let by_line = |line: u64| {
        letters
            .iter()
            .find(|l| l["line"] == line)
            .unwrap_or_else(|| panic!("no dead letter for line {line}"))
    };
    assert_eq!(letters.len(), 8);
    assert!(by_line(2)["reason"]
        .as_str()
        .expect("reason")
        .starts_with("malformed JSON at byte"));
    assert_eq!(by_line(2)["raw"], Value::String(lines[1].clone()));
    assert!(by_line(3)["reason"]
        .as_str()
        .expect("reason")
        .contains("field `created_at`: `yesterday` is not an RFC 3339 timestamp"));
    assert_eq!(by_line(4)["reason"], "missing field `city`");
    assert!(by_line(5)["reason"]
        .as_str()
        .expect("reason")
        .starts_with("field `city`: a key must be"));
    assert_eq!(by_line(6)["reason"], "missing field `created_at`");
    assert!(by_line(9)["reason"]
        .as_str()
        .expect("reason")
        .contains("ahead of the wall clock"));
    assert_eq!(by_line(10)["reason"], "line is not valid UTF-8");
    assert!(letters.iter().all(|l| l["source"]
        .as_str()
        .expect("source")
        .ends_with("mixed.jsonl")
        && l["partition"] == 0));
    assert!(letters.iter().all(|l| l["offset"].as_u64().is_some()));

    let toronto = run
        .rows
        .iter()
        .find(|r| r["output"] == "city_stats" && r["final"] == true)
        .expect("the good tweets still produce a window");
    assert_eq!(toronto["tweets"], 2);
    assert_eq!(toronto["unique_users"], 2);
}

#[test]
fn very_late_records_are_excluded_counted_and_written_out() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("tweets.jsonl");
    let lines = [
        tweet(1, "2022-09-26T03:00:00.000Z", "Ottawa, Ontario"),
        tweet(2, "2022-09-26T05:00:00.000Z", "Ottawa, Ontario"),
        // Over two hours behind: every window containing it is final (1 h lateness) - excluded.
        tweet(3, "2022-09-26T02:50:00.000Z", "Ottawa, Ontario"),
        // 55 minutes behind: late, but within the allowed lateness - counted.
        tweet(4, "2022-09-26T04:05:00.000Z", "Ottawa, Ontario"),
    ];
    std::fs::write(&input, lines.join("\n")).expect("write");
    let run = run_into(dir.path(), "dataflows/evilnet.toml", Some(&input), &[]);
    let stderr = &run.stderr;
    assert!(
        stderr.contains("read 4, kept 3, filtered 0, duplicates 0, late 1,"),
        "{stderr}"
    );
    assert!(stderr.contains("late for city_stats: 1"), "{stderr}");
    let late_rows = &run.late;
    assert_eq!(
        late_rows.len(),
        3,
        "one line per output the record was too late for"
    );
    assert!(late_rows
        .iter()
        .all(|r| r["line"] == 3 && r["raw"] == lines[2].as_str()));
    let outputs: Vec<&str> = late_rows
        .iter()
        .map(|r| r["output"].as_str().expect("output"))
        .collect();
    assert!(outputs.contains(&"city_stats") && outputs.contains(&"top_cities"));

    let window = |start: &str| {
        run.rows
            .iter()
            .find(|r| {
                r["output"] == "city_stats" && r["final"] == true && r["window_start"] == start
            })
            .cloned()
    };
    assert_eq!(
        window("2022-09-26T03:00:00.000Z").expect("03:00 window")["tweets"],
        1,
        "the excluded tweet is not counted"
    );
    assert_eq!(
        window("2022-09-26T04:05:00.000Z").expect("04:05 window")["tweets"],
        1,
        "the late-but-allowed tweet is"
    );
}

#[test]
fn setup_errors_exit_2_with_a_clear_message() {
    let missing = tidemark()
        .current_dir(root())
        .args([
            "run",
            "dataflows/evilnet.toml",
            "--source",
            "file:/no/such/tweets.jsonl",
            "--quiet",
        ])
        .output()
        .expect("run");
    assert_eq!(missing.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&missing.stderr).contains("/no/such/tweets.jsonl: no such file")
    );

    let dir = tempfile::tempdir().expect("tempdir");
    let bad = dir.path().join("bad.toml");
    let text = std::fs::read_to_string(root().join("dataflows/evilnet.toml")).expect("dataflow");
    std::fs::write(
        &bad,
        text.replace(
            "rank = { top = 5, by = \"tweets\" }",
            "rank = { top = 5, by = \"twets\" }",
        ),
    )
    .expect("write");
    let invalid = tidemark()
        .current_dir(root())
        .args(["run"])
        .arg(&bad)
        .arg("--quiet")
        .output()
        .expect("run");
    assert_eq!(invalid.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&invalid.stderr);
    assert!(stderr.contains("bad.toml: output.top_cities.rank.by: `twets` is not an aggregate of this output (have: tweets)"), "{stderr}");

    let overwrite = tidemark()
        .current_dir(root())
        .args([
            "run",
            "dataflows/evilnet.toml",
            "--sink",
            "jsonl:data/evilnet/tweets_decoded.jsonl",
            "--quiet",
        ])
        .output()
        .expect("run");
    assert_eq!(overwrite.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&overwrite.stderr).contains("this file is also a source"));
    assert!(
        root()
            .join("data/evilnet/tweets_decoded.jsonl")
            .metadata()
            .expect("input kept")
            .len()
            > 50_000
    );

    let no_dataflow = tidemark()
        .args(["run", "/no/such/dataflow.toml"])
        .output()
        .expect("run");
    assert_eq!(no_dataflow.status.code(), Some(2));
}
