//! How a spooled record is framed on disk:
//!
//! ```text
//! magic u32 "TMSP" | body length u32 | CRC-32 of body u32 | body
//! body = seq u64 | timestamp ms i64 | key length u32 (u32::MAX = no key) | key | payload
//! ```
//! (little endian).

/// One spooled message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    /// Position in the producer's sequence of messages (increasing through the spool).
    pub seq: u64,
    /// Kafka timestamp of the message (milliseconds since the epoch).
    pub timestamp_ms: i64,
    /// Message key.
    pub key: Option<Vec<u8>>,
    /// Message value.
    pub payload: Vec<u8>,
}

const MAGIC: u32 = u32::from_le_bytes(*b"TMSP");
/// Bytes before the body: magic, length, checksum.
pub(super) const HEADER: usize = 12;
/// Bytes of the body before the key: sequence number, timestamp, key length.
pub(super) const BODY_FIXED: usize = 20;
/// The largest body a frame may claim (anything larger is damage).
const MAX_BODY: usize = 64 << 20;
const NO_KEY: u32 = u32::MAX;

/// The frame of `record`: header and body.
pub(super) fn frame(record: &Record) -> Vec<u8> {
    let key_len = record.key.as_ref().map_or(0, Vec::len);
    let mut body = Vec::with_capacity(BODY_FIXED + key_len + record.payload.len());
    body.extend_from_slice(&record.seq.to_le_bytes());
    body.extend_from_slice(&record.timestamp_ms.to_le_bytes());
    match &record.key {
        Some(key) => {
            body.extend_from_slice(&(key.len() as u32).to_le_bytes());
            body.extend_from_slice(key);
        }
        None => body.extend_from_slice(&NO_KEY.to_le_bytes()),
    }
    body.extend_from_slice(&record.payload);
    let mut frame = Vec::with_capacity(HEADER + body.len());
    frame.extend_from_slice(&MAGIC.to_le_bytes());
    frame.extend_from_slice(&(body.len() as u32).to_le_bytes());
    frame.extend_from_slice(&crc32fast::hash(&body).to_le_bytes());
    frame.extend_from_slice(&body);
    frame
}

pub(super) fn parse_at(data: &[u8], pos: usize) -> Result<(Record, usize), &'static str> {
    let word = |at: usize| -> Option<u32> {
        data.get(at..at + 4)
            .map(|b| u32::from_le_bytes(b.try_into().expect("4 bytes")))
    };
    if word(pos) != Some(MAGIC) {
        return Err(if pos + 4 > data.len() {
            "record cut short (a torn write)"
        } else {
            "no record header"
        });
    }
    let (Some(len), Some(crc)) = (word(pos + 4), word(pos + 8)) else {
        return Err("record cut short (a torn write)");
    };
    let len = len as usize;
    if !(BODY_FIXED..=MAX_BODY).contains(&len) {
        return Err("impossible record length");
    }
    let Some(body) = data.get(pos + HEADER..pos + HEADER + len) else {
        return Err("record cut short (a torn write)");
    };
    if crc32fast::hash(body) != crc {
        return Err("checksum mismatch");
    }
    let seq = u64::from_le_bytes(body[0..8].try_into().expect("8 bytes"));
    let timestamp_ms = i64::from_le_bytes(body[8..16].try_into().expect("8 bytes"));
    let key_len = u32::from_le_bytes(body[16..20].try_into().expect("4 bytes"));
    let (key, payload) = if key_len == NO_KEY {
        (None, &body[BODY_FIXED..])
    } else {
        let key_end = BODY_FIXED + key_len as usize;
        if key_end > body.len() {
            return Err("impossible key length");
        }
        (Some(body[BODY_FIXED..key_end].to_vec()), &body[key_end..])
    };
    Ok((
        Record {
            seq,
            timestamp_ms,
            key,
            payload: payload.to_vec(),
        },
        pos + HEADER + len,
    ))
}
