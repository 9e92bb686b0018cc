//! Deterministic data generators for demos, tests and benchmarks.

mod tweets;

pub use tweets::{write_tweets, TweetGenerator, TweetOptions};
