//! Event time: timestamps, per-partition watermarks and window assignment.
//!
//! The timely timestamp of every record is event time in milliseconds since the Unix epoch.
//! This module decides which windows an event belongs to and how far each partition's
//! watermark has moved; it never holds window contents.

mod timestamp;
mod watermark;
mod window;

pub use timestamp::{format_rfc3339_millis, write_rfc3339_millis, TimestampError, TimestampParser};
pub use watermark::PartitionWatermark;
pub use window::{Window, WindowAssigner};
