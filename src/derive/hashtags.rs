//! Hashtags in a text: `#` (or the full-width `＃`) at the start of a word, then letters,
//! marks, digits or `_`, with at least one letter (`#1` is not a hashtag), as Twitter
//! recognises them. `&#39;` (an HTML entity in old API text) is not a hashtag.

use regex::Regex;
use std::sync::LazyLock;

static HASHTAG: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?:^|[^\p{L}\p{M}\p{Nd}_&])[#＃]([\p{L}\p{M}\p{Nd}_]+)").expect("hashtag pattern")
});

/// The distinct hashtags of `text`, lower-cased, without `#`, in order of first appearance.
pub fn hashtags(text: &str) -> Vec<String> {
    let mut found: Vec<String> = Vec::new();
    for captures in HASHTAG.captures_iter(text) {
        let body = &captures[1];
        if body.chars().any(char::is_alphabetic) {
            let tag = body.to_lowercase();
            if !found.contains(&tag) {
                found.push(tag);
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_distinct_lowercased_tags_at_word_starts() {
        assert_eq!(
            hashtags("Go #Falcons! #NFL #falcons rise#up #1 #2013Season #café_au_lait &#39;"),
            vec!["falcons", "nfl", "2013season", "café_au_lait"]
        );
        assert!(hashtags("no tags here").is_empty());
        assert_eq!(
            hashtags("#a#b"),
            vec!["a"],
            "a tag ends where another # starts"
        );
        assert_eq!(
            hashtags("ขนม #จงทวีตให้กลัวทุกอย่าง http"),
            vec!["จงทวีตให้กลัวทุกอย่าง"],
            "combining marks belong to the tag"
        );
    }
}
