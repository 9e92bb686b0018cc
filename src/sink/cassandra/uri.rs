//! The Cassandra sink URI: contact points and access, keyspace, replication, TTL and
//! consistency.

use super::super::SinkError;
use crate::cassandra_access::CassandraAccess;
use crate::uri::ServiceUri;
use scylla::frame::types::Consistency;

/// A parsed `cassandra://[USER@]HOST:PORT[,HOST:PORT]/KEYSPACE?replication=1&ttl=S&consistency=C`,
/// with the access parameters of [`crate::cassandra_access`].
#[derive(Clone, Debug)]
pub struct CassandraUri {
    /// Contact points, login and TLS.
    pub access: CassandraAccess,
    /// Keyspace (created if missing).
    pub keyspace: String,
    /// Replication factor for a keyspace this sink creates.
    pub replication: u32,
    /// Time to live of every row, in seconds.
    pub ttl: Option<i32>,
    /// Write consistency.
    pub consistency: Consistency,
}

impl CassandraUri {
    /// Parses a Cassandra sink URI.
    pub fn parse(uri: &str) -> Result<CassandraUri, SinkError> {
        let parsed = ServiceUri::parse(uri, "cassandra", "Cassandra sink", "keyspace")?;
        let bad = |why: &str| SinkError::Uri(parsed.error(why));
        let (access, own) = CassandraAccess::from_uri(&parsed)?;
        let mut sink = CassandraUri {
            access,
            keyspace: parsed.name.clone(),
            replication: 1,
            ttl: None,
            consistency: Consistency::LocalQuorum,
        };
        for (key, value) in &own {
            match key.as_str() {
                "replication" => {
                    sink.replication = value
                        .parse()
                        .map_err(|_| bad("replication must be a number"))?
                }
                "ttl" => sink.ttl = Some(value.parse().map_err(|_| bad("ttl must be seconds"))?),
                "consistency" => {
                    sink.consistency =
                        match value.to_ascii_lowercase().as_str() {
                            "one" => Consistency::One,
                            "quorum" => Consistency::Quorum,
                            "local_quorum" => Consistency::LocalQuorum,
                            "all" => Consistency::All,
                            "local_one" => Consistency::LocalOne,
                            _ => return Err(bad(
                                "consistency must be one, local_one, quorum, local_quorum or all",
                            )),
                        }
                }
                _ => {
                    return Err(parsed
                        .unknown(
                            key,
                            &format!(
                                "replication, ttl, consistency, {}",
                                crate::cassandra_access::PARAMS
                            ),
                        )
                        .into())
                }
            }
        }
        Ok(sink)
    }

    /// The contact points, comma-separated.
    pub fn host_list(&self) -> String {
        self.access.hosts.join(",")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_uris() {
        let uri = CassandraUri::parse(
            "cassandra://a:9042,b:9042/evilnet?replication=3&ttl=86400&consistency=one",
        )
        .expect("uri");
        assert_eq!(uri.access.hosts, vec!["a:9042", "b:9042"]);
        assert_eq!(uri.keyspace, "evilnet");
        assert_eq!(
            (uri.replication, uri.ttl, uri.consistency),
            (3, Some(86400), Consistency::One)
        );
        assert!(CassandraUri::parse("cassandra://a:9042").is_err());
        assert!(CassandraUri::parse("cassandra://a:9042/k?colour=red").is_err());
    }
}
