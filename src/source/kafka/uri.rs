//! The Kafka source URI: brokers and access, topic, where to start, the group, and whether to
//! stop at the log end.

use super::connect::connect;
use crate::kafka_access::{self, KafkaAccess};
use crate::source::SourceError;
use crate::uri::ServiceUri;

/// Where reading starts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StartAt {
    /// The oldest retained record.
    Earliest,
    /// Only records produced after the start.
    Latest,
    /// The group's committed offsets (the oldest record where there are none).
    Committed,
    /// The first record at or after this event time (UTC milliseconds).
    Time(i64),
}

/// A parsed `kafka://[USER@]HOST:PORT[,HOST:PORT]/TOPIC?start=..&group=..&stop=end` URI, with
/// the access parameters of [`crate::kafka_access`].
#[derive(Clone, Debug)]
pub struct KafkaUri {
    /// How to reach the brokers.
    pub access: KafkaAccess,
    /// The topic.
    pub topic: String,
    /// Where to start.
    pub start: StartAt,
    /// Consumer group (offsets are committed under it).
    pub group: String,
    /// Stop at the log end offsets seen at start (a bounded run) instead of running forever.
    pub stop_at_end: bool,
}

impl KafkaUri {
    /// Parses a Kafka source URI; `default_group` names the group when the URI does not.
    pub fn parse(uri: &str, default_group: &str) -> Result<KafkaUri, SourceError> {
        let parsed = ServiceUri::parse(uri, "kafka", "Kafka source", "topic")?;
        let (access, own) = KafkaAccess::from_uri(&parsed)?;
        let mut source = KafkaUri {
            access,
            topic: parsed.name.clone(),
            start: StartAt::Committed,
            group: default_group.to_string(),
            stop_at_end: false,
        };
        for (key, value) in &own {
            match (key.as_str(), value.as_str()) {
                ("start", "earliest") => source.start = StartAt::Earliest,
                ("start", "latest") => source.start = StartAt::Latest,
                ("start", "committed") => source.start = StartAt::Committed,
                ("start", time) => {
                    let at = chrono::DateTime::parse_from_rfc3339(time).map_err(|_| {
                        parsed
                            .error("start must be earliest, latest, committed or an RFC 3339 time")
                    })?;
                    source.start = StartAt::Time(at.timestamp_millis());
                }
                ("group", group) if !group.is_empty() => source.group = group.to_string(),
                ("stop", "end") => source.stop_at_end = true,
                ("stop", "never") => source.stop_at_end = false,
                _ => {
                    return Err(parsed
                        .unknown(
                            key,
                            &format!("start, group, stop=end|never, {}", kafka_access::PARAMS),
                        )
                        .into())
                }
            }
        }
        Ok(source)
    }

    /// The bootstrap servers.
    pub fn brokers(&self) -> &str {
        &self.access.brokers
    }
}

impl KafkaUri {
    /// Checks that the brokers answer and the topic exists, before any worker starts.
    pub fn check(&self) -> Result<(), SourceError> {
        connect(self).map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_uris() {
        let uri = KafkaUri::parse(
            "kafka://a:9092,b:9092/tweets?start=earliest&group=g&stop=end",
            "d",
        )
        .expect("uri");
        assert_eq!(uri.brokers(), "a:9092,b:9092");
        assert_eq!(uri.topic, "tweets");
        assert_eq!(uri.start, StartAt::Earliest);
        assert_eq!(uri.group, "g");
        assert!(uri.stop_at_end);
        let uri = KafkaUri::parse("kafka://a:9092/t?start=2022-09-26T03:00:00Z", "d").expect("uri");
        assert_eq!(uri.start, StartAt::Time(1_664_161_200_000));
        assert_eq!(uri.group, "d");
        assert!(KafkaUri::parse("kafka://a:9092", "d").is_err());
        assert!(KafkaUri::parse("kafka://a:9092/t?colour=red", "d").is_err());
        assert!(KafkaUri::parse("kafka://a:9092/t?start=yesterday", "d").is_err());
    }
}
