//! Tidemark: incremental event-time windowed aggregates on timely dataflow.
//!
//! Data flows one way: [`source`] → [`decode`] → [`time`] → [`aggregate`] → [`sink`], wired
//! together by [`engine`]. The timely frontier is the watermark: a window fires when the
//! frontier passes its end and is final when it passes its end plus the allowed lateness.
//! Dataflows are data: [`plan`] turns a `dataflows/*.toml` file into a validated plan.

// Every dependency is used: the check runs on the library, where only the binary's allocator
// with its options and log output are not (they are named here for it).
#![cfg_attr(not(test), warn(unused_crate_dependencies))]
#[cfg(all(not(test), feature = "mimalloc"))]
use libmimalloc_sys as _;
#[cfg(all(not(test), feature = "mimalloc"))]
use mimalloc as _;
#[cfg(not(test))]
use tracing_subscriber as _;

pub mod aggregate;
pub mod cassandra_access;
pub mod dashboard;
pub mod decode;
pub mod derive;
pub mod engine;
pub mod event;
pub mod failure;
pub mod gen;
pub mod kafka_access;
pub mod metrics;
pub mod plan;
mod prefetch;
pub mod produce;
pub mod prometheus;
pub mod secret;
pub mod signals;
pub mod sink;
pub mod source;
pub mod time;
pub mod uri;
pub mod value;
