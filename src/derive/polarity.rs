//! English sentiment polarity with the Pattern lexicon, by the rules of Pattern's (and
//! TextBlob's default `PatternAnalyzer`'s) sentiment analyzer, so scores match
//! `TextBlob(text).sentiment.polarity`:
//!
//! - the text is tokenized as Pattern does (contractions and quotes split off, leading and
//!   trailing punctuation split, sentence ends, emoticons re-joined) and lower-cased;
//! - each known word scores the average of its senses; a known adverb (intensifier, such as
//!   "very") multiplies the next known word's score by its intensity; a negation ("not",
//!   "no", "never") before a word flips and halves it; `!` boosts the word before it by a
//!   quarter; emoticons score as moods; unknown words do not count;
//! - the polarity is the mean of the scores, 0 when nothing is known.
//!
//! The lexicon (`data/textblob/en-sentiment.xml`) is Tom De Smedt and Walter Daelemans'
//! Pattern English lexicon, PDDL, as shipped with TextBlob.

use regex::Regex;
use std::collections::HashMap;

const LEXICON_XML: &str = include_str!("../../data/textblob/en-sentiment.xml");

/// Characters split off the ends of tokens (Pattern's `PUNCTUATION`; `'` appears twice there).
const PUNCTUATION: &str = ".,;:!?()[]{}`''\"@#$^&*+-|=~_";

const NEGATIONS: [&str; 4] = ["no", "not", "n't", "never"];

const ABBREVIATIONS: [&str; 35] = [
    "a.", "adj.", "adv.", "al.", "a.m.", "c.", "cf.", "comp.", "conf.", "def.", "ed.", "e.g.",
    "esp.", "etc.", "ex.", "f.", "fig.", "gen.", "id.", "i.e.", "int.", "l.", "m.", "Med.", "Mil.",
    "Mr.", "n.", "n.q.", "orig.", "pl.", "pred.", "pres.", "p.m.", "ref.", "v.",
];

/// Contractions split before tokenizing (in this order).
const CONTRACTIONS: [(&str, &str); 7] = [
    ("'d", " 'd"),
    ("'m", " 'm"),
    ("'s", " 's"),
    ("'ll", " 'll"),
    ("'re", " 're"),
    ("'ve", " 've"),
    ("n't", " n't"),
];

/// Emoticons and their polarity, in Pattern's order.
const EMOTICONS: [(f64, &[&str]); 9] = [
    (1.0, &["<3", "♥"]),
    (
        1.0,
        &[
            ">:D", ":-D", ":D", "=-D", "=D", "X-D", "x-D", "XD", "xD", "8-D",
        ],
    ),
    (
        0.75,
        &[
            ">:P", ":-P", ":P", ":-p", ":p", ":-b", ":b", ":c)", ":o)", ":^)",
        ],
    ),
    (
        0.5,
        &[
            ">:)", ":-)", ":)", "=)", "=]", ":]", ":}", ":>", ":3", "8)", "8-)",
        ],
    ),
    (
        0.25,
        &[">;]", ";-)", ";)", ";-]", ";]", ";D", ";^)", "*-)", "*)"],
    ),
    (
        0.05,
        &[">:o", ":-O", ":O", ":o", ":-o", "o_O", "o.O", "°O°", "°o°"],
    ),
    (
        -0.25,
        &[
            ">:/", ":-/", ":/", ":\\", ">:\\", ":-.", ":-s", ":s", ":S", ":-S", ">.>",
        ],
    ),
    (
        -0.75,
        &[
            ">:[", ":-(", ":(", "=(", ":-[", ":[", ":{", ":-<", ":c", ":-c", "=/",
        ],
    ),
    (-1.0, &[":'(", ":'''(", ";'("]),
];

/// A word's averaged scores, and whether it is an adverb (it modifies the next word).
#[derive(Clone, Copy, Debug)]
struct Entry {
    polarity: f64,
    intensity: f64,
    adverb: bool,
}

/// The English polarity lexicon with its tokenizer.
#[derive(Debug)]
pub struct PolarityLexicon {
    words: HashMap<String, Entry>,
    emoticons: Regex,
    sarcasm: Regex,
    paragraph_break: Regex,
    abbreviation: [Regex; 3],
}

/// One assessed chunk: its score, intensity, and whether a negation precedes it.
struct Assessment {
    polarity: f64,
    intensity: f64,
    negated: bool,
}

impl PolarityLexicon {
    /// The bundled English lexicon.
    pub fn english() -> PolarityLexicon {
        let alternatives: Vec<String> = EMOTICONS
            .iter()
            .flat_map(|(_, faces)| faces.iter())
            .map(|face| {
                face.chars()
                    .map(|c| regex::escape(&c.to_string()))
                    .collect::<Vec<_>>()
                    .join(" ?")
            })
            .collect();
        PolarityLexicon {
            words: load_words(LEXICON_XML),
            emoticons: Regex::new(&format!("({})($|\\s)", alternatives.join("|")))
                .expect("emoticon pattern"),
            sarcasm: Regex::new(r"\( ?! ?\)").expect("sarcasm pattern"),
            paragraph_break: Regex::new(r"\n{2,}").expect("paragraph pattern"),
            abbreviation: [
                Regex::new(r"^[A-Za-z]\.$").expect("pattern"),
                Regex::new(r"^([A-Za-z]\.)+$").expect("pattern"),
                Regex::new(r"^[A-Z][b|c|d|f|g|h|j|k|l|m|n|p|q|r|s|t|v|w|x|z]+.$").expect("pattern"),
            ],
        }
    }

    /// The polarity of `text`, from -1 to 1.
    pub fn polarity(&self, text: &str) -> f64 {
        let sentences = self.sentences(text);
        let joined = sentences.join(" ");
        let words: Vec<String> = joined.split_whitespace().map(str::to_lowercase).collect();
        let assessed = self.assess(&words);
        // Summed from zero in order, as Pattern does (so the result is bit for bit its own).
        let total = assessed.iter().fold(0.0, |sum, a| {
            sum + if a.negated {
                a.polarity * -0.5
            } else {
                a.polarity
            }
        });
        total / (assessed.len().max(1) as f64)
    }

    fn is_abbreviation(&self, token: &str) -> bool {
        ABBREVIATIONS.contains(&token) || self.abbreviation.iter().any(|re| re.is_match(token))
    }

    /// Pattern's `find_tokens`: sentences of space-separated tokens.
    fn sentences(&self, text: &str) -> Vec<String> {
        const EOS: &str = "END-OF-SENTENCE";
        let mut s = text.to_string();
        for (from, to) in CONTRACTIONS {
            s = s.replace(from, to);
        }
        for quote in ['“', '”', '‘', '’', '\'', '"'] {
            s = s.replace(quote, &format!(" {quote} "));
        }
        let s = s.replace("\r\n", "\n");
        let s = self
            .paragraph_break
            .replace_all(&s, format!(" {EOS} ").as_str())
            .into_owned();
        let leading: Vec<char> = PUNCTUATION.chars().filter(|&c| c != '.').collect();
        let is_contraction = |t: &str| CONTRACTIONS.iter().any(|(from, _)| *from == t);
        let mut tokens: Vec<String> = Vec::new();
        for word in s.split_whitespace() {
            let mut t: &str = word;
            while t.starts_with(leading.as_slice()) && !is_contraction(t) {
                let c = t.chars().next().expect("non-empty");
                tokens.push(c.to_string());
                t = &t[c.len_utf8()..];
            }
            let mut tail: Vec<String> = Vec::new();
            while (t.ends_with(leading.as_slice()) || t.ends_with('.')) && !is_contraction(t) {
                if t.ends_with(leading.as_slice()) {
                    let c = t.chars().next_back().expect("non-empty");
                    tail.push(c.to_string());
                    t = &t[..t.len() - c.len_utf8()];
                }
                if t.ends_with("...") {
                    tail.push("...".into());
                    t = t[..t.len() - 3].trim_end_matches('.');
                }
                if t.ends_with('.') {
                    if self.is_abbreviation(t) {
                        break;
                    }
                    tail.push(".".into());
                    t = &t[..t.len() - 1];
                }
            }
            if !t.is_empty() {
                tokens.push(t.to_string());
            }
            tokens.extend(tail.into_iter().rev());
        }
        let mut sentences: Vec<Vec<String>> = vec![Vec::new()];
        let (mut i, mut j) = (0, 0);
        while j < tokens.len() {
            if ["...", ".", "!", "?", EOS].contains(&tokens[j].as_str()) {
                while j < tokens.len()
                    && ["'", "\"", "”", "’", "...", ".", "!", "?", ")", EOS]
                        .contains(&tokens[j].as_str())
                {
                    let quote = &tokens[j];
                    if (quote == "'" || quote == "\"")
                        && sentences
                            .last()
                            .expect("a sentence")
                            .iter()
                            .filter(|t| *t == quote)
                            .count()
                            % 2
                            == 0
                    {
                        break;
                    }
                    j += 1;
                }
                let current = sentences.last_mut().expect("a sentence");
                current.extend(tokens[i..j].iter().filter(|t| *t != EOS).cloned());
                sentences.push(Vec::new());
                i = j;
            }
            j += 1;
        }
        let end = j.min(tokens.len());
        sentences
            .last_mut()
            .expect("a sentence")
            .extend(tokens[i.min(end)..end].iter().cloned());
        sentences
            .into_iter()
            .filter(|s| !s.is_empty())
            .map(|s| {
                let s = s.join(" ");
                let s = self.sarcasm.replace_all(&s, "(!)");
                self.emoticons
                    .replace_all(&s, |c: &regex::Captures<'_>| {
                        format!("{}{}", c[1].replace(' ', ""), &c[2])
                    })
                    .into_owned()
            })
            .collect()
    }

    /// Pattern's `assessments` over lower-cased words with no part-of-speech tags.
    fn assess(&self, words: &[String]) -> Vec<Assessment> {
        let mut a: Vec<Assessment> = Vec::new();
        let mut modifier: Option<&str> = None;
        let mut negation: Option<&str> = None;
        for w in words {
            let w = w.as_str();
            if let Some(entry) = self.words.get(w) {
                match modifier {
                    None => a.push(Assessment {
                        polarity: entry.polarity,
                        intensity: entry.intensity,
                        negated: false,
                    }),
                    Some(_) => {
                        let last = a.last_mut().expect("the modifier was assessed");
                        last.polarity = (entry.polarity * last.intensity).clamp(-1.0, 1.0);
                        last.intensity = entry.intensity;
                    }
                }
                if negation.is_some() {
                    let last = a.last_mut().expect("just assessed");
                    last.intensity = 1.0 / last.intensity;
                    last.negated = true;
                }
                modifier = entry.adverb.then_some(w);
                negation = NEGATIONS.contains(&w).then_some(w);
            } else {
                if NEGATIONS.contains(&w) {
                    negation = Some(w);
                } else if negation.is_some() && w.trim_matches('\'').chars().count() > 1 {
                    negation = None;
                }
                if negation.is_some() && modifier.is_some_and(|m| m.ends_with("ly")) {
                    a.last_mut().expect("the modifier was assessed").negated = true;
                    negation = None;
                } else if modifier.is_some() && w.chars().count() > 2 {
                    modifier = None;
                }
                if w == "!" {
                    if let Some(last) = a.last_mut() {
                        last.polarity = (last.polarity * 1.25).clamp(-1.0, 1.0);
                    }
                }
                if w == "(!)" {
                    a.push(Assessment {
                        polarity: 0.0,
                        intensity: 1.0,
                        negated: false,
                    });
                }
                let alphabetic = !w.is_empty() && w.chars().all(char::is_alphabetic);
                if !alphabetic && w.chars().count() <= 5 && !PUNCTUATION.contains(w) {
                    let mood = EMOTICONS
                        .iter()
                        .find(|(_, faces)| faces.iter().any(|face| face.to_lowercase() == w));
                    if let Some((polarity, _)) = mood {
                        a.push(Assessment {
                            polarity: *polarity,
                            intensity: 1.0,
                            negated: false,
                        });
                    }
                }
            }
        }
        a
    }
}

/// A part of speech (`None`: all of them) and its averaged (polarity, subjectivity,
/// intensity).
type PosScores = (Option<String>, (f64, f64, f64));

/// Reads the lexicon: scores averaged over each word's senses per part of speech, then over
/// its parts of speech; then every adjective also gives its adverb ("terrible" →
/// "terribly") with the adjective's scores, as Pattern's English loader does.
fn load_words(xml: &str) -> HashMap<String, Entry> {
    let document = roxmltree::Document::parse(xml).expect("the bundled lexicon is valid XML");
    // word → part of speech (None: untagged) → (polarity, subjectivity, intensity) senses,
    // in file order.
    type Senses = Vec<(f64, f64, f64)>;
    let mut order: Vec<String> = Vec::new();
    let mut senses: HashMap<String, Vec<(Option<String>, Senses)>> = HashMap::new();
    for node in document
        .root_element()
        .children()
        .filter(|n| n.has_tag_name("word"))
    {
        let Some(form) = node.attribute("form").filter(|f| !f.is_empty()) else {
            continue;
        };
        let number = |name: &str, default: f64| {
            node.attribute(name)
                .and_then(|v| v.parse::<f64>().ok())
                .unwrap_or(default)
        };
        let psi = (
            number("polarity", 0.0),
            number("subjectivity", 0.0),
            number("intensity", 1.0),
        );
        let pos = node.attribute("pos").map(String::from);
        let by_pos = senses.entry(form.to_string()).or_insert_with(|| {
            order.push(form.to_string());
            Vec::new()
        });
        match by_pos.iter_mut().find(|(p, _)| *p == pos) {
            Some((_, list)) => list.push(psi),
            None => by_pos.push((pos, vec![psi])),
        }
    }
    let mean = |values: &[(f64, f64, f64)]| {
        let n = values.len() as f64;
        let sum = |part: fn(&(f64, f64, f64)) -> f64| values.iter().fold(0.0, |s, v| s + part(v));
        (sum(|v| v.0) / n, sum(|v| v.1) / n, sum(|v| v.2) / n)
    };
    // word → (tags averaged per part of speech, with the untagged average under None).
    let mut averaged: Vec<(String, Vec<PosScores>)> = Vec::new();
    for word in &order {
        let mut per_pos: Vec<PosScores> = senses[word]
            .iter()
            .map(|(pos, list)| (pos.clone(), mean(list)))
            .collect();
        let all: Vec<(f64, f64, f64)> = per_pos.iter().map(|(_, s)| *s).collect();
        let overall = mean(&all);
        match per_pos.iter_mut().find(|(p, _)| p.is_none()) {
            Some((_, s)) => *s = overall,
            None => per_pos.push((None, overall)),
        }
        averaged.push((word.clone(), per_pos));
    }
    let mut words: HashMap<String, Entry> = HashMap::new();
    let entry = |per_pos: &[PosScores]| {
        let (polarity, _, intensity) = per_pos
            .iter()
            .find(|(p, _)| p.is_none())
            .map(|(_, s)| *s)
            .expect("an overall score");
        Entry {
            polarity,
            intensity,
            adverb: per_pos.iter().any(|(p, _)| p.as_deref() == Some("RB")),
        }
    };
    for (word, per_pos) in &averaged {
        words.insert(word.clone(), entry(per_pos));
    }
    for (word, per_pos) in &averaged {
        let Some((_, (p, _, i))) = per_pos.iter().find(|(pos, _)| pos.as_deref() == Some("JJ"))
        else {
            continue;
        };
        let mut stem = word.clone();
        if stem.ends_with('y') {
            stem.pop();
            stem.push('i');
        }
        if stem.ends_with("le") {
            stem.truncate(stem.len() - 2);
        }
        words.insert(
            format!("{stem}ly"),
            Entry {
                polarity: *p,
                intensity: *i,
                adverb: true,
            },
        );
    }
    words
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_words_intensifiers_negations_and_emoticons() {
        let lexicon = PolarityLexicon::english();
        assert_eq!(lexicon.polarity("the bus is on route 9"), 0.0);
        let good = lexicon.polarity("good");
        assert!(good > 0.0);
        assert!(lexicon.polarity("very good") > good, "an intensifier");
        assert!(lexicon.polarity("not good") < 0.0, "a negation flips");
        assert!(lexicon.polarity("good!") > good, "an exclamation boosts");
        assert!(lexicon.polarity("meh :)") > 0.0, "a smiley");
        assert!(lexicon.polarity("meh :(") < 0.0, "a frown");
    }
}
