//! The `polarity` derivation against the real `textblob` package: the fixtures in
//! `tests/data/textblob/polarity.jsonl` are `TextBlob(text).sentiment.polarity` for every
//! English tweet of `data/tweets_v1/` and some hand-written sentences, written once by
//! `scripts/make-polarity-fixtures.py` (textblob 0.20.1 from PyPI) and committed.

use serde_json::Value;
use tidemark::derive::PolarityLexicon;

#[test]
fn polarity_matches_textblob_on_every_fixture() {
    let text = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/textblob/polarity.jsonl"),
    )
    .expect("fixtures");
    let lexicon = PolarityLexicon::english();
    let mut mismatches = Vec::new();
    let mut non_zero = 0;
    let fixtures: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("json"))
        .collect();
    assert!(fixtures.len() > 300, "{} fixtures", fixtures.len());
    for fixture in &fixtures {
        let sentence = fixture["text"].as_str().expect("text");
        let want = fixture["polarity"].as_f64().expect("polarity");
        let got = lexicon.polarity(sentence);
        non_zero += usize::from(want != 0.0);
        if (got - want).abs() > 1e-12 {
            mismatches.push(format!("{sentence:?}: textblob {want}, ours {got}"));
        }
    }
    assert!(non_zero > 100, "the fixtures exercise the lexicon");
    assert!(
        mismatches.is_empty(),
        "{} of {} differ:\n{}",
        mismatches.len(),
        fixtures.len(),
        mismatches.join("\n")
    );
}
