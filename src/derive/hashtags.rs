//! Hashtags in a text: `#` at the start of a word, then letters, digits, marks or `_`,
//! with at least one letter (`#1` is not a hashtag), as Twitter recognises them.

/// The distinct hashtags of `text`, lower-cased, without `#`, in order of first appearance.
pub fn hashtags(text: &str) -> Vec<String> {
    let mut found: Vec<String> = Vec::new();
    let mut previous: Option<char> = None;
    let mut chars = text.char_indices().peekable();
    while let Some((at, c)) = chars.next() {
        let starts_word = previous.is_none_or(|p| !is_tag_char(p) && p != '&');
        previous = Some(c);
        if !(matches!(c, '#' | '＃') && starts_word) {
            continue;
        }
        let body_start = at + c.len_utf8();
        let mut end = body_start;
        while let Some(&(i, next)) = chars.peek() {
            if !is_tag_char(next) {
                break;
            }
            end = i + next.len_utf8();
            previous = Some(next);
            chars.next();
        }
        let body = &text[body_start..end];
        if body.chars().any(char::is_alphabetic) {
            let tag = body.to_lowercase();
            if !found.contains(&tag) {
                found.push(tag);
            }
        }
    }
    found
}

fn is_tag_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_' || (!c.is_ascii() && is_mark(c))
}

/// Combining marks (accents written as separate code points).
fn is_mark(c: char) -> bool {
    matches!(u32::from(c), 0x0300..=0x036F | 0x1AB0..=0x1AFF | 0x1DC0..=0x1DFF | 0x20D0..=0x20FF | 0xFE20..=0xFE2F)
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
    }
}
