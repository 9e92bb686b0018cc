//! Generated Twitter API v2 filtered-stream messages, shaped like real ones.
//!
//! The same seed always gives the same bytes. Event time advances steadily; `disorder_s`
//! delays tweets by up to that many seconds, and `very_late` is the share of tweets pushed
//! two to three hours into the past (beyond any sensible allowed lateness).

use super::{skewed, EventClock, GenOptions};
use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64Mcg;

/// How many real cities there are; past those, generated cities are numbered.
pub const REAL_CITIES: usize = CITIES.len();

const CITIES: &[(&str, &str)] = &[
    ("Toronto", "Ontario"),
    ("Montréal", "Québec"),
    ("Vancouver", "British Columbia"),
    ("Calgary", "Alberta"),
    ("Edmonton", "Alberta"),
    ("Ottawa", "Ontario"),
    ("Winnipeg", "Manitoba"),
    ("Québec", "Québec"),
    ("Hamilton", "Ontario"),
    ("Kitchener", "Ontario"),
    ("London", "Ontario"),
    ("Victoria", "British Columbia"),
    ("Halifax", "Nova Scotia"),
    ("Oshawa", "Ontario"),
    ("Windsor", "Ontario"),
    ("Saskatoon", "Saskatchewan"),
    ("Regina", "Saskatchewan"),
    ("St. John's", "Newfoundland and Labrador"),
    ("Kelowna", "British Columbia"),
    ("Barrie", "Ontario"),
    ("Sherbrooke", "Québec"),
    ("Guelph", "Ontario"),
    ("Kanata", "Ontario"),
    ("Abbotsford", "British Columbia"),
    ("Trois-Rivières", "Québec"),
    ("Kingston", "Ontario"),
    ("Moncton", "New Brunswick"),
    ("Saguenay", "Québec"),
    ("Sudbury", "Ontario"),
    ("Lethbridge", "Alberta"),
    ("Airdrie", "Alberta"),
    ("Brampton", "Ontario"),
    ("Surrey", "British Columbia"),
    ("Laval", "Québec"),
    ("Gatineau", "Québec"),
    ("Markham", "Ontario"),
    ("Red Deer", "Alberta"),
    ("Nanaimo", "British Columbia"),
    ("Fredericton", "New Brunswick"),
    ("Charlottetown", "Prince Edward Island"),
    ("Whitehorse", "Yukon"),
    ("Yellowknife", "Northwest Territories"),
];

const WORDS: &[&str] = &[
    "the", "game", "tonight", "coffee", "snow", "traffic", "bus", "late", "again", "love", "this",
    "city", "weather", "hockey", "leafs", "habs", "canucks", "poutine", "maple", "park", "run",
    "morning", "new", "music", "show", "friends", "weekend", "work", "rain", "sunny", "😂", "❤️",
    "très", "beau", "merci", "café", ":)", "#Toronto", "#MTL", "#yyc", "lol", "why", "is",
];

/// Tweets one at a time, in order.
pub struct TweetGenerator {
    rng: Pcg64Mcg,
    clock: EventClock,
    seed: u64,
    skew: f64,
    users: usize,
    cities: usize,
}

impl TweetGenerator {
    /// Starts the sequence `options` describe.
    pub fn new(options: &GenOptions) -> TweetGenerator {
        TweetGenerator {
            rng: Pcg64Mcg::seed_from_u64(options.seed),
            clock: EventClock::new(options),
            seed: options.seed,
            skew: options.skew,
            users: options.users,
            cities: options.cities,
        }
    }

    /// Writes the next tweet (with its newline) into `line`; `false` after the last.
    pub fn next_line(&mut self, line: &mut String) -> bool {
        let Some((i, created)) = self.clock.next_event(&mut self.rng) else {
            return false;
        };
        let id = 1_574_000_000_000_000_000 + (self.seed % 1_000_000) * 1_000_000_000 + i;
        let sizes = Sizes {
            skew: self.skew,
            users: self.users,
            cities: self.cities,
        };
        tweet(&mut self.rng, sizes, id, created, line);
        true
    }
}

/// How keys spread: the skew, and how many authors and cities there are.
#[derive(Clone, Copy)]
struct Sizes {
    skew: f64,
    users: usize,
    cities: usize,
}

/// City `index`: a real one, or past those a numbered copy of one (`Toronto 2`).
fn nth_city(index: usize) -> (std::borrow::Cow<'static, str>, &'static str) {
    let (name, province) = CITIES[index % CITIES.len()];
    match index / CITIES.len() {
        0 => (name.into(), province),
        n => (format!("{name} {}", n + 1).into(), province),
    }
}

/// Writes one tweet; `id` is unique per (seed, index), so files made with different seeds can
/// be mixed without colliding ids.
fn tweet(rng: &mut Pcg64Mcg, sizes: Sizes, id: u64, created_ms: u64, line: &mut String) {
    use crate::value::write_json_string;
    line.clear();
    let city_index = skewed(rng, sizes.cities, sizes.skew);
    let (city, province) = nth_city(city_index);
    let author = 1_000_000 + skewed(rng, sizes.users, sizes.skew) as u64;
    let place_id = format!(
        "{:016x}",
        0x36775d842cbec509u64.wrapping_mul(city_index as u64 + 1)
    );
    let (full_name, name, place_type) = if rng.random_bool(0.02) {
        (format!("{city} Stadium"), format!("{city} Stadium"), "poi")
    } else {
        (format!("{city}, {province}"), city.to_string(), "city")
    };
    let mut text = String::new();
    for w in 0..rng.random_range(6..18) {
        if w > 0 {
            text.push(' ');
        }
        text.push_str(WORDS[rng.random_range(0..WORDS.len())]);
    }
    line.push_str("{\"data\": {\"author_id\": \"");
    line.push_str(&author.to_string());
    line.push_str("\", \"created_at\": \"");
    line.push_str(&crate::time::format_rfc3339_millis(created_ms));
    line.push_str("\", \"geo\": {\"place_id\": \"");
    line.push_str(&place_id);
    line.push_str("\"}, \"id\": \"");
    line.push_str(&id.to_string());
    line.push('"');
    let kind = rng.random_range(0..10);
    if kind < 7 {
        let ref_type = ["replied_to", "quoted", "retweeted"][kind % 3];
        line.push_str(&format!(
            ", \"referenced_tweets\": [{{\"type\": \"{ref_type}\", \"id\": \"{}\"}}]",
            id - 1 - rng.random_range(0..100_000)
        ));
    }
    line.push_str(", \"text\": ");
    write_json_string(&text, line);
    line.push_str(&format!(
        "}}, \"includes\": {{\"users\": [{{\"id\": \"{author}\", \"name\": \"User {author}\", \"username\": \"user{author}\"}}], \"places\": [{{\"full_name\": "
    ));
    write_json_string(&full_name, line);
    line.push_str(&format!(", \"id\": \"{place_id}\", \"name\": "));
    write_json_string(&name, line);
    line.push_str(&format!(", \"place_type\": \"{place_type}\"}}]}}, \"matching_rules\": [{{\"id\": \"1574236216295301120\", \"tag\": \"\"}}]}}\n"));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn generate(seed: u64) -> String {
        let options = GenOptions {
            count: 200,
            seed,
            disorder_s: 60,
            very_late: 0.05,
            rate: 10,
            ..GenOptions::defaults(super::super::GenKind::Tweets)
        };
        let mut out = Vec::new();
        super::super::write_lines(super::super::GenKind::Tweets, &options, &mut out)
            .expect("write");
        String::from_utf8(out).expect("utf8")
    }

    #[test]
    fn cities_past_the_real_ones_are_numbered_and_distinct() {
        let options = GenOptions {
            count: 20_000,
            cities: 5_000,
            skew: 1.0,
            ..GenOptions::defaults(super::super::GenKind::Tweets)
        };
        let mut out = Vec::new();
        super::super::write_lines(super::super::GenKind::Tweets, &options, &mut out)
            .expect("write");
        let names: std::collections::BTreeSet<String> = String::from_utf8(out)
            .expect("utf8")
            .lines()
            .map(|line| {
                let v: serde_json::Value = serde_json::from_str(line).expect("valid JSON");
                v.pointer("/includes/places/0/full_name")
                    .and_then(|n| n.as_str())
                    .expect("full_name")
                    .to_string()
            })
            .collect();
        assert!(names.len() > 3_000, "{} names", names.len());
        assert!(names.contains("Toronto 2, Ontario"));
        assert!(
            names.iter().all(|n| !n.contains(" 1,")),
            "numbering starts at 2"
        );
        assert_eq!(nth_city(0).0, "Toronto");
        assert_eq!(nth_city(REAL_CITIES).0, "Toronto 2");
    }

    #[test]
    fn same_seed_same_bytes_and_valid_json() {
        let a = generate(7);
        assert_eq!(a, generate(7));
        assert_ne!(a, generate(8));
        let mut very_late = 0;
        for (i, line) in a.lines().enumerate() {
            let v: serde_json::Value = serde_json::from_str(line).expect("valid JSON");
            assert!(v.pointer("/includes/places/0/full_name").is_some());
            let created = chrono::DateTime::parse_from_rfc3339(
                v.pointer("/data/created_at")
                    .and_then(|c| c.as_str())
                    .expect("time"),
            )
            .expect("rfc3339");
            let clock = 1_664_161_200_000 + i as i64 * 100;
            if clock - created.timestamp_millis() >= 7_200_000 {
                very_late += 1;
            }
        }
        assert!(very_late > 0 && very_late < 40, "{very_late}");
    }
}
