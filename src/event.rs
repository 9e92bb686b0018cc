//! The decoded event: what travels from the source to the window operators.

use crate::value::Value;
use serde::{Deserialize, Serialize};
use smallvec::SmallVec;

/// An event's field values in plan order, held in the event itself for up to six fields:
/// events are made by one worker and often consumed by another, and a field vector of its
/// own would be an allocation made on one thread and freed on the other.
pub type Fields = SmallVec<[Option<Value>; 6]>;

/// One kept record, decoded down to the fields its dataflow names.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Event time, in UTC milliseconds.
    pub time: u64,
    /// When the event reached the frontier: its event time, or its partition's watermark if it
    /// came later than that (after a restart, no earlier than the frontier whose results were
    /// already written). Windows are chosen on this, so it is the same at any worker count.
    pub arrival: u64,
    /// When the frontier makes the last window holding the event final (0 when no output has
    /// windows): after that the event can change no windowed result.
    pub final_at: u64,
    /// Field values in plan order; `None` where the record lacks the field.
    pub fields: Fields,
    /// The elements of the plan's list-valued field, if it has one: outputs that use that
    /// field count the event once per element, with the field set to the element.
    pub elements: Vec<Value>,
}
