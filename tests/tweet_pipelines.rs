//! `dataflows/hashtags.toml` and `dataflows/sentiment.toml` on the real v1.1 tweets of
//! `data/tweets_v1/` (plus generated v2 messages for the hashtags), checked against plain
//! batch computations: hashtags from the tweets' own `entities.hashtags` (v1.1) or their words
//! (generated), polarity from the fixtures the real `textblob` package wrote
//! (`tests/data/textblob/polarity.jsonl`).

mod common;

use common::{gen_tweets, root, run_into};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// A tweet as the test reads it: id, event time (ms), text, language, distinct hashtags.
struct Tweet {
    id: String,
    time: i64,
    text: String,
    lang: Option<String>,
    hashtags: Vec<String>,
}

fn read_tweets(files: &[&Path]) -> Vec<Tweet> {
    let mut seen = BTreeSet::new();
    let mut tweets = Vec::new();
    for file in files {
        for line in std::fs::read_to_string(file).expect("tweets").lines() {
            let v: Value = serde_json::from_str(line).expect("json");
            let (id, created, text, lang, tags) = match v.get("data") {
                Some(data) => {
                    let text = data["text"].as_str().expect("text").to_string();
                    let tags: Vec<String> = text
                        .split_whitespace()
                        .filter_map(|w| w.strip_prefix('#'))
                        .map(str::to_lowercase)
                        .collect();
                    (&data["id"], &data["created_at"], text, &data["lang"], tags)
                }
                None => {
                    let tags = v["entities"]["hashtags"]
                        .as_array()
                        .map(|a| {
                            a.iter()
                                .map(|h| h["text"].as_str().expect("tag").to_lowercase())
                                .collect()
                        })
                        .unwrap_or_default();
                    let text = v["text"].as_str().unwrap_or_default().to_string();
                    (&v["id_str"], &v["created_at"], text, &v["lang"], tags)
                }
            };
            let Some(id) = id.as_str() else { continue };
            if !seen.insert(id.to_string()) {
                continue;
            }
            let created = created.as_str().expect("created_at");
            let time = chrono::DateTime::parse_from_rfc3339(created)
                .or_else(|_| chrono::DateTime::parse_from_str(created, "%a %b %d %H:%M:%S %z %Y"))
                .expect("time")
                .timestamp_millis();
            let mut hashtags: Vec<String> = Vec::new();
            for tag in tags {
                if !hashtags.contains(&tag) {
                    hashtags.push(tag);
                }
            }
            tweets.push(Tweet {
                id: id.to_string(),
                time,
                text,
                lang: lang.as_str().map(String::from),
                hashtags,
            });
        }
    }
    tweets
}

fn start_ms(row: &Value) -> i64 {
    chrono::DateTime::parse_from_rfc3339(row["window_start"].as_str().expect("start"))
        .expect("time")
        .timestamp_millis()
}

/// Top 10 hashtags by total `score` of the tweets in `[start, start + size)`, ties by name,
/// hashtags scoring 0 left out.
fn top10(
    tweets: &[&Tweet],
    start: i64,
    size: i64,
    score: impl Fn(&Tweet) -> u64,
) -> Vec<(String, u64)> {
    let mut totals: BTreeMap<&str, u64> = BTreeMap::new();
    for t in tweets
        .iter()
        .filter(|t| (start..start + size).contains(&t.time))
    {
        let s = score(t);
        if s > 0 {
            for tag in &t.hashtags {
                *totals.entry(tag).or_default() += s;
            }
        }
    }
    let mut ranked: Vec<(String, u64)> = totals
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
    ranked.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    ranked.truncate(10);
    ranked
}

fn ranked_rows(rows: &[Value], output: &str) -> BTreeMap<i64, Vec<(String, u64)>> {
    let mut by_window: BTreeMap<i64, Vec<(u64, String, u64)>> = BTreeMap::new();
    for row in rows
        .iter()
        .filter(|r| r["output"] == output && r["final"] == true)
    {
        by_window.entry(start_ms(row)).or_default().push((
            row["rank"].as_u64().expect("rank"),
            row["hashtag"].as_str().expect("hashtag").to_string(),
            row["smiles"].as_f64().expect("smiles") as u64,
        ));
    }
    by_window
        .into_iter()
        .map(|(w, mut r)| {
            r.sort();
            (w, r.into_iter().map(|(_, h, s)| (h, s)).collect())
        })
        .collect()
}

#[test]
fn happiest_hashtags_rank_hashtags_by_the_smiles_of_all_their_tweets() {
    let dir = tempfile::tempdir().expect("dir");
    let generated = dir.path().join("generated.jsonl");
    gen_tweets(
        &generated,
        &["--count", "3000", "--seed", "4", "--rate", "1"],
    );
    let v1 = [
        root().join("data/tweets_v1/gt_bigdata_sample_stream_2013.jsonl"),
        root().join("data/tweets_v1/gt_bigdata_atl_falcons_2013.jsonl"),
    ];
    let all = dir.path().join("tweets.jsonl");
    let mut text = String::new();
    for file in v1.iter().chain([&generated]) {
        text.push_str(std::fs::read_to_string(file).expect("read").trim_end());
        text.push('\n');
    }
    std::fs::write(&all, text).expect("write");
    let tweets = read_tweets(&[&v1[0], &v1[1], &generated]);
    let run = run_into(dir.path(), "dataflows/hashtags.toml", Some(&all), &[]);
    assert!(run.dead.is_empty() && run.late.is_empty(), "{}", run.stderr);
    assert!(
        run.stderr.contains("filtered 9"),
        "the 9 stream notices: {}",
        run.stderr
    );

    let refs: Vec<&Tweet> = tweets.iter().collect();
    let smiles = |t: &Tweet| t.text.matches(":)").count() as u64;
    let hourly = ranked_rows(&run.rows, "happiest_hashtags");
    assert!(hourly.len() > 1);
    for (start, got) in &hourly {
        assert_eq!(
            got,
            &top10(&refs, *start, 3_600_000, smiles),
            "hour at {start}"
        );
    }
    let hours: BTreeSet<i64> = tweets
        .iter()
        .filter(|t| smiles(t) > 0 && !t.hashtags.is_empty())
        .map(|t| t.time.div_euclid(3_600_000) * 3_600_000)
        .collect();
    assert_eq!(hourly.keys().copied().collect::<BTreeSet<_>>(), hours);

    const EMOJI: [char; 23] = [
        '\u{1F600}',
        '\u{1F601}',
        '\u{1F602}',
        '\u{1F603}',
        '\u{1F604}',
        '\u{1F605}',
        '\u{1F606}',
        '\u{1F607}',
        '\u{1F609}',
        '\u{1F60A}',
        '\u{1F60B}',
        '\u{1F60D}',
        '\u{1F60E}',
        '\u{263A}',
        '\u{1F642}',
        '\u{1F643}',
        '\u{1F917}',
        '\u{1F923}',
        '\u{1F970}',
        '\u{1F638}',
        '\u{1F639}',
        '\u{1F63A}',
        '\u{1F63B}',
    ];
    let english: Vec<&Tweet> = tweets
        .iter()
        .filter(|t| t.lang.as_deref() == Some("en"))
        .collect();
    let emoji = |t: &Tweet| t.text.chars().filter(|c| EMOJI.contains(c)).count() as u64;
    let sliding = ranked_rows(&run.rows, "happiest_hashtags_emoji");
    assert!(
        !sliding.is_empty(),
        "the sample has smiling English tweets with hashtags"
    );
    for (start, got) in &sliding {
        assert_eq!(
            got,
            &top10(&english, *start, 3_600_000, emoji),
            "hour from {start}"
        );
    }
}

#[test]
fn tweet_polarity_matches_textblob_and_minutes_count_labels() {
    let dir = tempfile::tempdir().expect("dir");
    let file = root().join("data/tweets_v1/gt_bigdata_sample_stream_2013.jsonl");
    let run = run_into(dir.path(), "dataflows/sentiment.toml", Some(&file), &[]);
    assert!(run.dead.is_empty(), "{}", run.stderr);
    let fixtures: BTreeMap<String, f64> =
        std::fs::read_to_string(root().join("tests/data/textblob/polarity.jsonl"))
            .expect("fixtures")
            .lines()
            .map(|l| {
                let v: Value = serde_json::from_str(l).expect("json");
                (
                    v["text"].as_str().expect("text").to_string(),
                    v["polarity"].as_f64().expect("p"),
                )
            })
            .collect();
    let english: Vec<Tweet> = read_tweets(&[&file])
        .into_iter()
        .filter(|t| t.lang.as_deref() == Some("en"))
        .collect();
    let label = |p: f64| match p {
        p if p > 0.0 => "positive",
        p if p < 0.0 => "negative",
        _ => "neutral",
    };

    let rows: BTreeMap<&str, &Value> = run
        .rows
        .iter()
        .filter(|r| r["output"] == "tweet_polarity")
        .map(|r| (r["id"].as_str().expect("id"), r))
        .collect();
    assert_eq!(rows.len(), english.len(), "one row per English tweet");
    let mut minutes: BTreeMap<i64, Vec<f64>> = BTreeMap::new();
    for tweet in &english {
        let want = fixtures[&tweet.text];
        let row = rows[tweet.id.as_str()];
        let got = row["polarity"].as_f64().expect("polarity");
        assert!(
            (got - want).abs() < 1e-12,
            "{}: {got} vs textblob {want}",
            tweet.text
        );
        assert_eq!(row["label"], label(want));
        assert_eq!(row["final"], true);
        minutes
            .entry(tweet.time.div_euclid(60_000) * 60_000)
            .or_default()
            .push(want);
    }

    let by_minute: Vec<&Value> = run
        .rows
        .iter()
        .filter(|r| r["output"] == "sentiment_by_minute" && r["final"] == true)
        .collect();
    assert_eq!(by_minute.len(), minutes.len());
    for row in by_minute {
        let scores = &minutes[&start_ms(row)];
        let count = |l: &str| scores.iter().filter(|p| label(**p) == l).count() as u64;
        assert_eq!(row["tweets"].as_u64(), Some(scores.len() as u64));
        assert_eq!(row["positive"].as_u64(), Some(count("positive")));
        assert_eq!(row["negative"].as_u64(), Some(count("negative")));
        assert_eq!(row["neutral"].as_u64(), Some(count("neutral")));
        let avg = scores.iter().sum::<f64>() / scores.len() as f64;
        assert!((row["avg_polarity"].as_f64().expect("avg") - avg).abs() < 1e-9);
    }
}

#[test]
fn bad_tweets_are_dead_letters_and_notices_are_filtered() {
    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join("tweets.jsonl");
    std::fs::write(
        &file,
        [
            r#"{"id_str": "1", "created_at": "Tue Dec 24 02:37:04 +0000 2013", "lang": "en", "text": "so good :) #yay"}"#,
            r#"{"limit": {"track": 5}}"#,
            r#"{"id_str": "2", "created_at": "yesterday", "lang": "en", "text": "bad :) #yay"}"#,
            r#"{"id_str": "3", "lang": "en", "text": "no time"#,
            r#"{"id_str": "4", "created_at": "Tue Dec 24 02:37:05 +0000 2013", "lang": "en", "text": "great :) :) #YAY #fun"}"#,
        ]
        .join("\n"),
    )
    .expect("write");
    for dataflow in ["hashtags", "sentiment"] {
        let flow = format!("dataflows/{dataflow}.toml");
        let run = run_into(dir.path(), &flow, Some(&file), &[]);
        let lines: Vec<u64> = run
            .dead
            .iter()
            .map(|d| d["line"].as_u64().expect("line"))
            .collect();
        assert_eq!(lines, vec![3, 4], "{dataflow}: {:?}", run.dead);
        assert!(run.dead[0]["reason"]
            .as_str()
            .expect("reason")
            .starts_with("field `created_at`"));
        assert!(
            run.stderr.contains("read 5, kept 2, filtered 1"),
            "{dataflow}: {}",
            run.stderr
        );
        if dataflow == "hashtags" {
            let ranked = ranked_rows(&run.rows, "happiest_hashtags");
            let ranking = ranked.values().next().expect("one hour");
            assert_eq!(
                ranking,
                &vec![("yay".to_string(), 3), ("fun".to_string(), 2)]
            );
        }
    }
}

#[test]
fn a_hashtag_filter_keeps_the_tweets_with_any_matching_hashtag() {
    let file = root().join("data/tweets_v1/gt_bigdata_sample_stream_2013.jsonl");
    let english: Vec<Tweet> = read_tweets(&[&file])
        .into_iter()
        .filter(|t| t.lang.as_deref() == Some("en"))
        .collect();
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for tag in english.iter().flat_map(|t| &t.hashtags) {
        *counts.entry(tag).or_default() += 1;
    }
    let mut popular: Vec<(&&str, &usize)> = counts.iter().collect();
    popular.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    let followed: Vec<&str> = popular.iter().take(2).map(|(t, _)| **t).collect();
    let dir = tempfile::tempdir().expect("dir");
    let dataflow = dir.path().join("sentiment.toml");
    let text = std::fs::read_to_string(root().join("dataflows/sentiment.toml")).expect("dataflow");
    let filter = format!(
        "[[filter]]\nfield = \"hashtag\"\none_of = [{}]\n\n[[output]]",
        followed
            .iter()
            .map(|t| format!("{t:?}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    std::fs::write(&dataflow, text.replacen("[[output]]", &filter, 1)).expect("write");
    let run = run_into(
        dir.path(),
        dataflow.to_str().expect("path"),
        Some(&file),
        &[],
    );
    let got: BTreeSet<&str> = run
        .rows
        .iter()
        .filter(|r| r["output"] == "tweet_polarity")
        .map(|r| r["id"].as_str().expect("id"))
        .collect();
    let want: BTreeSet<&str> = english
        .iter()
        .filter(|t| t.hashtags.iter().any(|h| followed.contains(&h.as_str())))
        .map(|t| t.id.as_str())
        .collect();
    assert!(want.len() >= 2, "{followed:?}");
    assert_eq!(got, want);
}
