//! The one parser of `scheme://[USER@]HOST:PORT[,HOST:PORT]/NAME?KEY=VALUE&…` service URIs
//! (Kafka sources and destinations, Cassandra sinks and stores).
//!
//! A URL crate does not fit: a comma-separated host list is not one URL authority. Values
//! are percent-decoded. A password never belongs in a URI (it would show in process lists
//! and shell history); one that is there is refused, and every error shows the URI with it
//! masked.

use thiserror::Error;

/// A service URI that could not be parsed; the URI it shows has any password masked.
#[derive(Debug, Error, PartialEq, Eq)]
#[error("`{uri}` is not a {what}: {why}")]
pub struct UriError {
    /// The URI, its password (if any) masked.
    pub uri: String,
    /// What it was meant to be ("Kafka source", "Cassandra sink", …).
    pub what: &'static str,
    /// Why not.
    pub why: String,
}

/// A parsed service URI.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceUri {
    /// The user before `@`, if any.
    pub user: Option<String>,
    /// The hosts, each `HOST:PORT`.
    pub hosts: Vec<String>,
    /// The path: a topic or keyspace.
    pub name: String,
    /// The query parameters in order, percent-decoded.
    pub params: Vec<(String, String)>,
    /// The URI as given, its password (if any) masked: safe to show.
    pub shown: String,
    what: &'static str,
}

impl ServiceUri {
    /// Parses `uri` of `scheme` (without `://`); `what` names it in errors and `name_is`
    /// names its path ("topic", "keyspace").
    pub fn parse(
        uri: &str,
        scheme: &str,
        what: &'static str,
        name_is: &str,
    ) -> Result<ServiceUri, UriError> {
        let shown = masked(uri);
        let bad = |why: String| UriError {
            uri: shown.clone(),
            what,
            why,
        };
        let rest = uri
            .strip_prefix(scheme)
            .and_then(|r| r.strip_prefix("://"))
            .ok_or_else(|| bad(format!("it must start with {scheme}://")))?;
        let (address, query) = rest.split_once('?').unwrap_or((rest, ""));
        let (authority, name) = address.split_once('/').ok_or_else(|| {
            bad(format!(
                "name a {name_is}: {scheme}://HOST:PORT/{}",
                name_is.to_uppercase()
            ))
        })?;
        let (user, hosts) = match authority.rsplit_once('@') {
            Some((userinfo, hosts)) => {
                if userinfo.contains(':') {
                    return Err(bad(
                        "it holds a password; give it with password.env=VARIABLE \
                         or password.file=PATH instead"
                            .to_string(),
                    ));
                }
                if userinfo.is_empty() {
                    return Err(bad("the user before @ is empty".to_string()));
                }
                (Some(decode(userinfo)), hosts)
            }
            None => (None, authority),
        };
        if hosts.is_empty() || name.is_empty() || name.contains('/') {
            return Err(bad(format!(
                "expected {scheme}://[USER@]HOST:PORT[,HOST:PORT]/{}",
                name_is.to_uppercase()
            )));
        }
        let hosts: Vec<String> = hosts.split(',').map(String::from).collect();
        if let Some(host) = hosts.iter().find(|h| !valid_host(h)) {
            return Err(bad(format!("`{host}` is not HOST:PORT")));
        }
        Ok(ServiceUri {
            user,
            hosts,
            name: name.to_string(),
            params: form_urlencoded::parse(query.as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
            shown,
            what,
        })
    }

    /// An error about this URI.
    pub fn error(&self, why: impl Into<String>) -> UriError {
        UriError {
            uri: self.shown.clone(),
            what: self.what,
            why: why.into(),
        }
    }

    /// The error for a parameter this kind of URI does not take: it names the key only, so
    /// a secret given by mistake is not repeated.
    pub fn unknown(&self, key: &str, allowed: &str) -> UriError {
        self.error(format!("unknown parameter `{key}`; allowed: {allowed}"))
    }

    /// The hosts joined with commas.
    pub fn host_list(&self) -> String {
        self.hosts.join(",")
    }
}

fn decode(text: &str) -> String {
    form_urlencoded::parse(format!("x={text}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

fn valid_host(host: &str) -> bool {
    match host.rsplit_once(':') {
        Some((name, port)) => !name.is_empty() && port.parse::<u16>().is_ok(),
        None => false,
    }
}

/// `uri` with the password of `USER:PASSWORD@` replaced by `***`.
pub fn masked(uri: &str) -> String {
    let Some((scheme, rest)) = uri.split_once("://") else {
        return uri.to_string();
    };
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((userinfo, hosts)) => match userinfo.split_once(':') {
            Some((user, _)) => format!("{scheme}://{user}:***@{hosts}{tail}"),
            None => uri.to_string(),
        },
        None => uri.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(uri: &str) -> Result<ServiceUri, UriError> {
        ServiceUri::parse(uri, "kafka", "Kafka source", "topic")
    }

    #[test]
    fn parses_users_hosts_and_decoded_parameters() {
        let uri = parse("kafka://al%40ce@a:9092,b:9093/tweets?start=earliest&tls.ca=%2Fx%20y")
            .expect("uri");
        assert_eq!(uri.user.as_deref(), Some("al@ce"));
        assert_eq!(uri.hosts, vec!["a:9092", "b:9093"]);
        assert_eq!(uri.name, "tweets");
        assert_eq!(
            uri.params,
            vec![
                ("start".to_string(), "earliest".to_string()),
                ("tls.ca".to_string(), "/x y".to_string())
            ]
        );
    }

    #[test]
    fn refuses_a_password_without_showing_it() {
        let error = parse("kafka://alice:hunter2@a:9092/t").expect_err("password");
        let text = error.to_string();
        assert!(!text.contains("hunter2"), "{text}");
        assert!(text.contains("kafka://alice:***@a:9092/t"), "{text}");
        assert!(text.contains("password.env"), "{text}");
    }

    #[test]
    fn names_what_is_missing() {
        for (uri, says) in [
            ("kafka://a:9092", "name a topic"),
            ("kafka://a:9092/", "expected kafka://"),
            ("kafka://a/t", "`a` is not HOST:PORT"),
            ("kafka://@a:1/t", "user before @ is empty"),
            ("cassandra://a:1/t", "must start with kafka://"),
        ] {
            let error = parse(uri).expect_err(uri).to_string();
            assert!(error.contains(says), "{uri}: {error}");
        }
    }
}
