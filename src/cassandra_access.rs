//! How Tidemark reaches Cassandra (the sink, `serve`, `query`): contact points, an optional
//! user whose password comes from an environment variable or a file, and optional TLS.
//!
//! URI parameters: `password.env=VARIABLE`, `password.file=PATH` (without either, a user's
//! password is read from `TIDEMARK_CASSANDRA_PASSWORD`), `tls=true|false`, `tls.ca=PATH`
//! (PEM; implies `tls=true`; without it the system's trusted certificates are used).

use crate::secret::{password_for, PasswordFrom, Secret, SecretError};
use crate::uri::{ServiceUri, UriError};
use openssl::ssl::{SslConnector, SslMethod};
use scylla::client::session::{OpenSsl010Config, Session};
use scylla::client::session_builder::SessionBuilder;
use scylla::errors::NewSessionError;
use std::path::PathBuf;
use thiserror::Error;

/// The variable a Cassandra user's password is read from when the URI names no other place.
pub const PASSWORD_ENV: &str = "TIDEMARK_CASSANDRA_PASSWORD";

/// The URI parameters this module reads.
pub const PARAMS: &str = "password.env, password.file, tls, tls.ca";

/// Why Cassandra could not be reached. Never holds a password.
#[derive(Debug, Error)]
pub enum CassandraAccessError {
    /// The URI itself.
    #[error(transparent)]
    Uri(#[from] UriError),
    /// The password could not be read.
    #[error("Cassandra user `{user}`: {source}")]
    Password {
        /// The user.
        user: String,
        /// Why.
        source: SecretError,
    },
    /// The TLS settings could not be used.
    #[error("Cassandra TLS: {0}")]
    Tls(String),
    /// The node refused the login.
    #[error("Cassandra at {hosts} refused the login of user `{user}`: {reason}")]
    Refused {
        /// The contact points.
        hosts: String,
        /// The user.
        user: String,
        /// What the node said.
        reason: String,
    },
    /// The node asks for a login and none was given.
    #[error("Cassandra at {hosts} requires a login: give a user, cassandra://USER@HOST:PORT/KEYSPACE, and its password in {PASSWORD_ENV} (or password.env / password.file)")]
    LoginRequired {
        /// The contact points.
        hosts: String,
    },
    /// The nodes could not be reached.
    #[error("cannot connect to Cassandra at {hosts}: {reason}")]
    Unreachable {
        /// The contact points.
        hosts: String,
        /// What the driver said.
        reason: String,
    },
}

/// Everything needed to open a session.
#[derive(Clone, Debug)]
pub struct CassandraAccess {
    /// The contact points, `HOST:PORT` each.
    pub hosts: Vec<String>,
    login: Option<(String, Secret)>,
    tls: Option<Tls>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Tls {
    ca: Option<PathBuf>,
}

impl CassandraAccess {
    /// Reads the access parameters of `uri`; returns the parameters it does not know.
    pub fn from_uri(
        uri: &ServiceUri,
    ) -> Result<(CassandraAccess, Vec<(String, String)>), CassandraAccessError> {
        let mut rest = Vec::new();
        let mut password_from = None;
        let mut tls = None;
        for (key, value) in &uri.params {
            match key.as_str() {
                "password.env" | "password.file" => {
                    password_from = PasswordFrom::from_param(key, value)
                }
                "tls" => match value.as_str() {
                    "true" | "1" => {
                        tls.get_or_insert(Tls { ca: None });
                    }
                    "false" | "0" => tls = None,
                    _ => return Err(uri.error("tls must be true or false").into()),
                },
                "tls.ca" => {
                    tls = Some(Tls {
                        ca: Some(PathBuf::from(value)),
                    })
                }
                _ => rest.push((key.clone(), value.clone())),
            }
        }
        let login = match &uri.user {
            Some(user) => {
                let password =
                    password_for(password_from.as_ref(), PASSWORD_ENV).map_err(|source| {
                        CassandraAccessError::Password {
                            user: user.clone(),
                            source,
                        }
                    })?;
                Some((user.clone(), password))
            }
            None if password_from.is_some() => {
                return Err(uri
                    .error("a password needs a user: cassandra://USER@HOST:PORT/KEYSPACE")
                    .into())
            }
            None => None,
        };
        Ok((
            CassandraAccess {
                hosts: uri.hosts.clone(),
                login,
                tls,
            },
            rest,
        ))
    }

    /// A session builder for the contact points, with the login and TLS set.
    pub fn builder(&self) -> Result<SessionBuilder, CassandraAccessError> {
        let mut builder = SessionBuilder::new().known_nodes(&self.hosts);
        if let Some((user, password)) = &self.login {
            builder = builder.user(user, password.expose());
        }
        if let Some(tls) = &self.tls {
            let tls_error =
                |e: openssl::error::ErrorStack| CassandraAccessError::Tls(e.to_string());
            let mut connector = SslConnector::builder(SslMethod::tls()).map_err(tls_error)?;
            if let Some(ca) = &tls.ca {
                connector.set_ca_file(ca).map_err(|e| {
                    CassandraAccessError::Tls(format!(
                        "cannot use {} as a CA file: {e}",
                        ca.display()
                    ))
                })?;
            }
            builder = builder.tls_context(Some(OpenSsl010Config::new(connector)));
        }
        Ok(builder)
    }

    /// Opens a session from `builder` (made by [`CassandraAccess::builder`]), telling a
    /// refused login apart from an unreachable node.
    pub async fn connect(&self, builder: SessionBuilder) -> Result<Session, CassandraAccessError> {
        let hosts = self.hosts.join(",");
        builder.build().await.map_err(|e| self.explain(hosts, e))
    }

    fn explain(&self, hosts: String, error: NewSessionError) -> CassandraAccessError {
        let reason = error.to_string();
        let lower = reason.to_ascii_lowercase();
        let about_login = lower.contains("authenticat") || lower.contains("password");
        match (&self.login, about_login) {
            (Some((user, _)), true) => CassandraAccessError::Refused {
                hosts,
                user: user.clone(),
                reason,
            },
            (None, true) => CassandraAccessError::LoginRequired { hosts },
            (_, false) => CassandraAccessError::Unreachable { hosts, reason },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn access(uri: &str) -> Result<CassandraAccess, CassandraAccessError> {
        let uri = ServiceUri::parse(uri, "cassandra", "Cassandra sink", "keyspace").expect("uri");
        CassandraAccess::from_uri(&uri).map(|(access, _)| access)
    }

    #[test]
    fn reads_a_user_password_and_tls() {
        std::env::set_var("TIDEMARK_TEST_CASSANDRA_PW", "pw");
        let got = access(
            "cassandra://app@a:9042/ks?password.env=TIDEMARK_TEST_CASSANDRA_PW&tls.ca=/ca.pem",
        )
        .expect("access");
        let (user, password) = got.login.clone().expect("login");
        assert_eq!((user.as_str(), password.expose()), ("app", "pw"));
        assert_eq!(
            got.tls,
            Some(Tls {
                ca: Some(PathBuf::from("/ca.pem"))
            })
        );
        assert!(!format!("{got:?}").contains("pw\""), "{got:?}");
        let plain = access("cassandra://a:9042/ks?tls=false").expect("plain");
        assert!(plain.login.is_none() && plain.tls.is_none());
    }

    #[test]
    fn names_the_user_and_variable_when_the_password_is_missing() {
        let error =
            access("cassandra://app@a:9042/ks?password.env=TIDEMARK_TEST_UNSET_CASSANDRA_PW")
                .expect_err("unset")
                .to_string();
        assert!(
            error.contains("`app`") && error.contains("TIDEMARK_TEST_UNSET_CASSANDRA_PW"),
            "{error}"
        );
        let error = access("cassandra://a:9042/ks?password.file=/x")
            .expect_err("no user")
            .to_string();
        assert!(error.contains("needs a user"), "{error}");
    }
}
