//! Helpers shared by the integration tests, one file per concern: running the binary
//! (`run`), the golden anchors (`anchors`), Kafka (`kafka`), Cassandra (`cassandra`), the
//! service scripts (`services`, `cluster`), background processes (`engine`), the failover
//! scenario (`failover`), the dashboard server (`dashboard`), PromQL (`prometheus`) and
//! in-process runs for the property tests (`oracle`).
//! Each test binary uses some of them.
#![allow(dead_code, unused_imports)]

pub mod anchors;
pub mod cassandra;
pub mod cluster;
pub mod dashboard;
pub mod engine;
pub mod failover;
pub mod kafka;
pub mod oracle;
pub mod prometheus;
pub mod run;
pub mod services;

pub use anchors::assert_seed_anchors;
pub use kafka::{
    broker, committed_offsets, consume_all, consume_all_from, consume_messages_from, messages_in,
    produce, produce_to, topic, topic_on, tweet_ids, wait_committed,
};
pub use run::{
    final_lines, free_port, gen_tweet_lines, gen_tweets, read_jsonl, root, run_into, run_ok,
    run_two_processes, run_two_processes_of, summary_read, tidemark, Finished,
};
pub use services::services;
