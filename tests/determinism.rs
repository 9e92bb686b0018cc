//! Final results are identical at any worker or process count, and with duplicates replayed.

mod common;

use common::{final_lines, gen_tweets, read_jsonl, run_ok, run_two_processes};
use std::path::Path;

fn run_final(input: &str, out: &Path, extra: &[&str]) -> Vec<String> {
    let sink = format!("jsonl:{}", out.display());
    let mut args = vec!["dataflows/evilnet.toml", "--source", input, "--sink", &sink];
    args.extend_from_slice(extra);
    run_ok(&args);
    final_lines(&read_jsonl(out))
}

#[test]
fn same_final_rows_at_any_worker_and_process_count() {
    let dir = tempfile::tempdir().expect("tempdir");
    let tweets = dir.path().join("tweets.jsonl");
    gen_tweets(
        &tweets,
        &[
            "--count",
            "30000",
            "--seed",
            "11",
            "--disorder-s",
            "600",
            "--very-late",
            "0.005",
            "--rate",
            "5",
        ],
    );
    let input = format!("file:{}", tweets.display());
    let one = run_final(&input, &dir.path().join("w1.jsonl"), &["-w", "1"]);
    assert!(
        one.len() > 500,
        "expected many final rows, got {}",
        one.len()
    );
    for workers in ["2", "4"] {
        let many = run_final(
            &input,
            &dir.path().join(format!("w{workers}.jsonl")),
            &["-w", workers],
        );
        assert!(many == one, "-w {workers} differs from -w 1");
    }
    assert!(
        run_two_processes(&input, dir.path(), "2") == one,
        "-n 2 differs from -w 1"
    );
}

#[test]
fn several_partitions_give_the_same_rows_at_any_worker_count() {
    let dir = tempfile::tempdir().expect("tempdir");
    for part in 0..3 {
        let seed = (20 + part).to_string();
        gen_tweets(
            &dir.path().join(format!("part-{part}.jsonl")),
            &[
                "--count",
                "5000",
                "--seed",
                &seed,
                "--disorder-s",
                "300",
                "--rate",
                "5",
            ],
        );
    }
    let input = format!("file:{}/part-*.jsonl", dir.path().display());
    let one = run_final(&input, &dir.path().join("w1.jsonl"), &["-w", "1"]);
    assert!(!one.is_empty());
    for workers in ["2", "3"] {
        assert!(
            run_final(
                &input,
                &dir.path().join(format!("w{workers}.jsonl")),
                &["-w", workers]
            ) == one,
            "-w {workers} differs"
        );
    }
}

#[test]
fn replayed_tweets_are_counted_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let tweets = dir.path().join("tweets.jsonl");
    gen_tweets(
        &tweets,
        &[
            "--count",
            "5000",
            "--seed",
            "5",
            "--disorder-s",
            "60",
            "--rate",
            "10",
        ],
    );
    let text = std::fs::read_to_string(&tweets).expect("read");
    let mut replayed = String::new();
    let mut copies = 0;
    for (i, line) in text.lines().enumerate() {
        replayed.push_str(line);
        replayed.push('\n');
        if i % 7 == 0 {
            replayed.push_str(line);
            replayed.push('\n');
            // Filtered records are never de-duplicated: only city tweets count as duplicates.
            copies += usize::from(line.contains("\"place_type\": \"city\""));
        }
    }
    let with_copies = dir.path().join("replayed.jsonl");
    std::fs::write(&with_copies, replayed).expect("write");
    let clean = run_final(
        &format!("file:{}", tweets.display()),
        &dir.path().join("a.jsonl"),
        &["-w", "2"],
    );
    let out = dir.path().join("b.jsonl");
    let output = run_ok(&[
        "dataflows/evilnet.toml",
        "--source",
        &format!("file:{}", with_copies.display()),
        "--sink",
        &format!("jsonl:{}", out.display()),
        "-w",
        "2",
    ]);
    assert!(
        final_lines(&read_jsonl(&out)) == clean,
        "duplicates changed the results"
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!("duplicates {copies},")),
        "{stderr}"
    );
}

/// Every bundled pipeline (per-record outputs, hashtag fan-out, cumulative windows, `last`)
/// writes the same final rows with one worker and with three.
#[test]
fn every_pipeline_gives_the_same_final_rows_at_any_worker_count() {
    let dir = tempfile::tempdir().expect("tempdir");
    for dataflow in ["taxi", "hashtags", "sentiment", "stocks"] {
        let file = format!("dataflows/{dataflow}.toml");
        let final_rows = |name: &str, extra: &[&str]| {
            let out = dir.path().join(format!("{dataflow}-{name}.jsonl"));
            let sink = format!("jsonl:{}", out.display());
            let mut args = vec![file.as_str(), "--sink", &sink];
            args.extend_from_slice(extra);
            run_ok(&args);
            final_lines(&read_jsonl(&out))
        };
        let one = final_rows("w1", &["-w", "1"]);
        assert!(one.len() > 20, "{dataflow}: {} final rows", one.len());
        assert!(
            one == final_rows("w3", &["-w", "3"]),
            "{dataflow}: -w 3 differs"
        );
    }
}
