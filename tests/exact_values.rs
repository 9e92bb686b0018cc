//! Exact on every input: one JSON value in any spelling gives one result, a record JSON
//! forbids is a dead letter, and naming more of a document never changes what is read.

mod common;

use common::{final_lines, root, run_into, Finished};
use serde_json::Value;
use std::path::Path;

/// The bundled evilnet dataflow with `extra` lines added to its `[fields]`, written to `dir`.
fn evilnet_with_fields(dir: &Path, extra: &str) -> String {
    let text = std::fs::read_to_string(root().join("dataflows/evilnet.toml")).expect("dataflow");
    let source = root().join("data/evilnet/tweets_decoded.jsonl");
    let text = text
        .replace("[fields]\n", &format!("[fields]\n{extra}\n"))
        .replace(
            "uri = \"file:../data/evilnet/tweets_decoded.jsonl\"",
            &format!("uri = \"file:{}\"", source.display()),
        );
    let path = dir.join("evilnet.toml");
    std::fs::write(&path, text).expect("write dataflow");
    path.display().to_string()
}

fn run_lines(dir: &Path, dataflow: &str, lines: &[String]) -> Finished {
    let input = dir.join("in.jsonl");
    std::fs::write(&input, lines.join("\n") + "\n").expect("write input");
    run_into(dir, dataflow, Some(&input), &[])
}

/// A tweet whose `data` and `place` members are given as raw JSON text.
fn tweet(data: &str, place: &str) -> String {
    format!(r#"{{"data": {{{data}}}, "includes": {{"places": [{{{place}}}]}}}}"#)
}

const TORONTO: &str = r#""full_name": "Toronto", "place_type": "city""#;

/// A tweet with the given id, author and `referenced_tweets` JSON.
fn by_author(id: u32, author: &str, referenced: &str) -> String {
    tweet(
        &format!(
            r#""id": "{id}", "author_id": {author}, "created_at": "2022-09-26T03:15:{:02}.000Z", "referenced_tweets": {referenced}"#,
            id % 60
        ),
        TORONTO,
    )
}

/// The one final `city_stats` row of the run (all test tweets fall in one window).
fn city_stats(run: &Finished) -> &Value {
    let rows: Vec<&Value> = run
        .rows
        .iter()
        .filter(|r| r["output"] == "city_stats" && r["final"] == true)
        .collect();
    assert_eq!(rows.len(), 1, "{:?}\n{}", run.rows, run.stderr);
    rows[0]
}

#[test]
fn naming_a_container_and_a_path_under_it_changes_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bundled = run_into(dir.path(), "dataflows/evilnet.toml", None, &[]);
    let want = final_lines(&bundled.rows);
    assert!(!want.is_empty());
    for extra in [
        r#"place = "includes.places[0]""#,
        r#"tweet = "data""#,
        r#"places = "includes.places""#,
        r#"everything = "includes""#,
    ] {
        let sub = tempfile::tempdir().expect("tempdir");
        let dataflow = evilnet_with_fields(sub.path(), extra);
        let run = run_into(sub.path(), &dataflow, None, &[]);
        assert_eq!(final_lines(&run.rows), want, "with {extra}: {}", run.stderr);
        assert!(run.dead.is_empty(), "with {extra}: {:?}", run.dead);
    }
}

#[test]
fn more_than_64_wanted_members_under_one_object_are_all_read() {
    let dir = tempfile::tempdir().expect("tempdir");
    let extra: Vec<String> = (0..70)
        .map(|i| format!("unused_{i} = \"data.m{i}\""))
        .collect();
    let dataflow = evilnet_with_fields(dir.path(), &extra.join("\n"));
    let bundled = run_into(dir.path(), "dataflows/evilnet.toml", None, &[]);
    let run = run_into(dir.path(), &dataflow, None, &[]);
    assert_eq!(
        final_lines(&run.rows),
        final_lines(&bundled.rows),
        "{}",
        run.stderr
    );
}

#[test]
fn raw_control_characters_on_a_wanted_path_are_malformed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ok = r#""id": "1", "author_id": "u1", "created_at": "2022-09-26T03:15:00.000Z""#;
    let lines = [
        tweet(
            ok,
            "\"full_name\": \"Toronto\u{1}\", \"place_type\": \"city\"",
        ),
        tweet(
            &format!("{ok}, \"referenced_t\u{1}weets\": [{{\"type\": \"retweeted\"}}]"),
            TORONTO,
        ),
        tweet(
            r#""id": "3", "author<ctl>id": "u3", "created_at": "2022-09-26T03:15:00.000Z""#
                .replace("<ctl>", "\u{1f}")
                .as_str(),
            TORONTO,
        ),
        // Off the wanted paths a control character is not read, and not refused.
        tweet(
            &format!(
                "{}, \"text\": \"tab\u{9}inside\"",
                ok.replace("\"1\"", "\"4\"")
            ),
            TORONTO,
        ),
    ];
    let run = run_lines(dir.path(), "dataflows/evilnet.toml", &lines);
    assert!(
        run.stderr.contains("dead letters malformed_json: 3"),
        "{}",
        run.stderr
    );
    for line in 1..=3u64 {
        let letter = run
            .dead
            .iter()
            .find(|l| l["line"] == line)
            .unwrap_or_else(|| panic!("line {line}: {:?}", run.dead));
        let reason = letter["reason"].as_str().expect("reason");
        assert!(
            reason.contains("malformed JSON at byte") && reason.contains("raw control character"),
            "{reason}"
        );
    }
    let byte = |line: u64| {
        let letter = run.dead.iter().find(|l| l["line"] == line).expect("letter");
        let reason = letter["reason"].as_str().expect("reason");
        let digits: String = reason["malformed JSON at byte ".len()..]
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        digits.parse::<usize>().expect("offset")
    };
    assert_eq!(lines[0].as_bytes()[byte(1)], 0x01);
    assert_eq!(lines[2].as_bytes()[byte(3)], 0x1f);
    assert_eq!(city_stats(&run)["tweets"], 1);
}

#[test]
fn a_repeated_member_name_keeps_its_last_value_whatever_the_order() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = |id: u32| {
        format!(r#""id": "{id}", "author_id": "u{id}", "created_at": "2022-09-26T03:15:00.000Z""#)
    };
    let lines = [
        // Filtered in both orders: the last place_type is not "city".
        tweet(
            &data(1),
            r#""full_name": "Toronto", "place_type": "city", "place_type": "poi""#,
        ),
        tweet(
            &data(2),
            r#""place_type": "city", "full_name": "Toronto", "place_type": "poi""#,
        ),
        // Kept in both orders: the last place_type is "city".
        tweet(
            &data(3),
            r#""full_name": "Toronto", "place_type": "poi", "place_type": "city""#,
        ),
        tweet(
            &data(4),
            r#""place_type": "poi", "full_name": "Toronto", "place_type": "city""#,
        ),
        // A repeated object is replaced, not merged: the second `data` has no created_at.
        format!(
            r#"{{"data": {{{}}}, "includes": {{"places": [{{{TORONTO}}}]}}, "data": {{"id": "5", "author_id": "u5"}}}}"#,
            data(5)
        ),
    ];
    let run = run_lines(dir.path(), "dataflows/evilnet.toml", &lines);
    assert!(
        run.stderr
            .contains("read 5, kept 2, filtered 2, duplicates 0, late 0, dead letters 1"),
        "{}",
        run.stderr
    );
    assert_eq!(run.dead[0]["line"], 5);
    assert_eq!(run.dead[0]["reason"], "missing field `created_at`");
    assert_eq!(city_stats(&run)["unique_users"], 2);
}

#[test]
fn non_empty_is_false_for_null_false_zero_and_empty_values() {
    let dir = tempfile::tempdir().expect("tempdir");
    let empties = ["false", "0", "0.0", "-0e3", "null", "\"\"", "[]", "{}"];
    let fulls = [
        "true",
        "1",
        "-0.5",
        "\"x\"",
        "[0]",
        "{\"a\": null}",
        "1e-400",
    ];
    let lines: Vec<String> = empties
        .iter()
        .chain(&fulls)
        .enumerate()
        .map(|(i, referenced)| by_author(i as u32 + 1, "\"u\"", referenced))
        .collect();
    let run = run_lines(dir.path(), "dataflows/evilnet.toml", &lines);
    let row = city_stats(&run);
    assert_eq!(row["tweets"], lines.len());
    assert_eq!(row["retweets"], fulls.len(), "{row}");
}

#[test]
fn distinct_compares_whole_values_and_exact_numbers() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Each group is one value in several spellings; groups are pairwise different.
    let groups: [&[&str]; 9] = [
        &["[1,2]", "[1, 2.0]", "[ 1 , 2e0 ]"],
        &["[3,4]"],
        &[r#"{"a":1}"#, r#"{ "a" : 1.0 }"#, r#"{"\u0061":1}"#],
        &[r#"{"b":2}"#, r#"{"b":1,"b":2}"#],
        &[r#"{"a":1,"b":2}"#, r#"{"b":2,"a":1}"#],
        &["7", "7.0", "70e-1", "0.7E1"],
        &["1e15", "1000000000000000"],
        &["18446744073709551616"],
        &["18446744073709551617", "1.8446744073709551617e19"],
    ];
    let mut lines = Vec::new();
    for group in groups {
        for author in group {
            lines.push(by_author(lines.len() as u32 + 1, author, "[]"));
        }
    }
    // Text is never a number.
    lines.push(by_author(lines.len() as u32 + 1, "\"7\"", "[]"));
    let run = run_lines(dir.path(), "dataflows/evilnet.toml", &lines);
    assert!(run.dead.is_empty(), "{:?}", run.dead);
    let row = city_stats(&run);
    assert_eq!(row["tweets"], lines.len());
    assert_eq!(row["unique_users"], groups.len() + 1, "{row}");
}

#[test]
fn one_id_in_any_spelling_is_deduplicated() {
    let dir = tempfile::tempdir().expect("tempdir");
    let with_id = |id: &str, second: u32| {
        tweet(
            &format!(
                r#""id": {id}, "author_id": "u{second}", "created_at": "2022-09-26T03:15:{second:02}.000Z""#
            ),
            TORONTO,
        )
    };
    let lines = [
        with_id("5", 1),
        with_id("5.0", 2),
        with_id("50e-1", 3),
        with_id("\"5\"", 4),
        with_id("18446744073709551616", 5),
        with_id("18446744073709551617", 6),
    ];
    let run = run_lines(dir.path(), "dataflows/evilnet.toml", &lines);
    assert!(run.stderr.contains("duplicates 2"), "{}", run.stderr);
    assert_eq!(city_stats(&run)["tweets"], 4);
}
