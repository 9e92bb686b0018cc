//! The golden anchors: the seed pipeline's validated tables.

use super::root;
use serde_json::Value;
use std::collections::BTreeSet;

type Table = BTreeSet<(String, String, u64)>;

/// A validated table of the seed pipeline (`tests/data/evilnet/`, copied from
/// b-yond-infinite-network/amaze-us PR #109, Apache-2.0): `city,date,count` rows.
fn anchor(name: &str) -> Table {
    let path = root().join("tests/data/evilnet").join(name);
    let mut reader = csv::Reader::from_path(&path).expect("anchor csv");
    reader
        .records()
        .map(|r| {
            let r = r.expect("anchor row");
            let count: f64 = r[2].parse().expect("count");
            (r[0].to_string(), r[1].to_string(), count as u64)
        })
        .collect()
}

/// One column of the final `city_stats` rows in the anchors' layout (zero counts have no row).
fn city_stats_column(rows: &[Value], column: &str) -> Table {
    rows.iter()
        .filter(|r| r["output"] == "city_stats" && r["final"] == true)
        .filter(|r| r[column].as_u64().expect("count") > 0)
        .map(|r| {
            let start = r["window_start"].as_str().expect("start");
            // 2022-09-26T03:15:00.000Z -> 2022-09-26 03:15:00, the anchors' layout.
            let date = format!("{} {}", &start[..10], &start[11..19]);
            (
                r["city"].as_str().expect("city").to_string(),
                date,
                r[column].as_u64().expect("count"),
            )
        })
        .collect()
}

/// Asserts the final `city_stats` rows reproduce the seed's 40 tweets, 35 retweets and 40
/// unique-users rows exactly.
pub fn assert_seed_anchors(rows: &[Value]) {
    let tweets = anchor("anchor_tweets.csv");
    let retweets = anchor("anchor_retweets.csv");
    let unique = anchor("anchor_uniqueusers.csv");
    assert_eq!((tweets.len(), retweets.len(), unique.len()), (40, 35, 40));
    assert_eq!(city_stats_column(rows, "tweets"), tweets);
    assert_eq!(city_stats_column(rows, "retweets"), retweets);
    assert_eq!(city_stats_column(rows, "unique_users"), unique);
}
