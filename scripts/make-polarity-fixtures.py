#!/usr/bin/env python3
"""Writes tests/data/textblob/polarity.jsonl: TextBlob's own polarity for fixture texts.

Run once with the real `textblob` package from PyPI (the fixtures are committed; tests do not
need Python):

    python3 -m venv /tmp/tb && /tmp/tb/bin/pip install textblob==0.20.1
    /tmp/tb/bin/python scripts/make-polarity-fixtures.py

Texts: every English tweet of data/tweets_v1/*.jsonl, then hand-written sentences that
exercise intensifiers, negations, exclamation marks, emoticons, sarcasm and abbreviations.
"""
import json
import pathlib

from textblob import TextBlob

ROOT = pathlib.Path(__file__).resolve().parent.parent
HANDWRITTEN = [
    "good",
    "very good",
    "not good",
    "not very good",
    "really not good",
    "This is not a good movie.",
    "I don't like it",
    "It's the best day ever!!!",
    "What a terrible, horrible, no good, very bad day :(",
    "meh :)",
    "so happy : )",
    "Great game (!)",
    "Mr. Smith is extremely happy. Dr. Who is sad...",
    "The U.S. team played incredibly well, didn't they?",
    "I love it <3",
    "\"Amazing\" she said. 'Awful' he said.",
    "First line.\n\nSecond paragraph is wonderful",
    "Never ever boring!",
    "no",
    "",
    "#happy #sad :D xD",
    "terribly good and awfully nice",
]


def texts():
    for path in sorted((ROOT / "data" / "tweets_v1").glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            tweet = json.loads(line)
            if tweet.get("lang") == "en" and "text" in tweet:
                yield tweet["text"]
    yield from HANDWRITTEN


def main():
    out = ROOT / "tests" / "data" / "textblob" / "polarity.jsonl"
    with out.open("w", encoding="utf-8") as f:
        for text in texts():
            polarity = TextBlob(text).sentiment.polarity
            f.write(json.dumps({"text": text, "polarity": polarity}, ensure_ascii=False) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
