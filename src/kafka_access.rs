//! How every Kafka client of Tidemark (the source, the producer, their admin calls) reaches
//! the brokers: addresses, SASL and TLS settings from the URI and an optional client
//! properties file, the password from an environment variable or a file, and a client
//! context that notices a refused login or a failed TLS handshake.
//!
//! URI parameters: `security=plaintext|ssl|sasl_plaintext|sasl_ssl`,
//! `mechanism=PLAIN|SCRAM-SHA-256|SCRAM-SHA-512`, `password.env=VARIABLE`,
//! `password.file=PATH`, `tls.ca=PATH`, `config=PATH` (librdkafka properties, one
//! `key=value` a line: `security.protocol`, `sasl.*`, `ssl.*`, `client.id`). The URI wins
//! over the file. A user (`kafka://USER@HOST:PORT/…`) means SASL over TLS with SCRAM-SHA-512
//! unless told otherwise; without a password parameter the password is read from
//! `TIDEMARK_KAFKA_PASSWORD`.

use crate::secret::{password_for, PasswordFrom, Secret, SecretError};
use crate::uri::{ServiceUri, UriError};
use rdkafka::client::ClientContext;
use rdkafka::config::{ClientConfig, RDKafkaLogLevel};
use rdkafka::consumer::ConsumerContext;
use rdkafka::error::KafkaError;
use rdkafka::types::RDKafkaErrorCode;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};
use thiserror::Error;

/// The variable a Kafka user's password is read from when the URI names no other place.
pub const PASSWORD_ENV: &str = "TIDEMARK_KAFKA_PASSWORD";

/// The URI parameters this module reads; the caller's own come after them in messages.
pub const PARAMS: &str = "security, mechanism, password.env, password.file, tls.ca, config";

/// How a client connects: `security.protocol`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    /// No TLS, no login.
    Plaintext,
    /// TLS, no login.
    Ssl,
    /// SASL login without TLS.
    SaslPlaintext,
    /// SASL login over TLS.
    SaslSsl,
}

impl Protocol {
    fn parse(text: &str) -> Option<Protocol> {
        match text.to_ascii_lowercase().as_str() {
            "plaintext" => Some(Protocol::Plaintext),
            "ssl" => Some(Protocol::Ssl),
            "sasl_plaintext" => Some(Protocol::SaslPlaintext),
            "sasl_ssl" => Some(Protocol::SaslSsl),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Protocol::Plaintext => "plaintext",
            Protocol::Ssl => "ssl",
            Protocol::SaslPlaintext => "sasl_plaintext",
            Protocol::SaslSsl => "sasl_ssl",
        }
    }

    fn sasl(self) -> bool {
        match self {
            Protocol::Plaintext | Protocol::Ssl => false,
            Protocol::SaslPlaintext | Protocol::SaslSsl => true,
        }
    }
}

/// A SASL mechanism.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mechanism {
    /// User and password sent as they are (use it over TLS).
    Plain,
    /// SCRAM with SHA-256.
    ScramSha256,
    /// SCRAM with SHA-512.
    ScramSha512,
}

impl Mechanism {
    fn parse(text: &str) -> Option<Mechanism> {
        match text.to_ascii_uppercase().as_str() {
            "PLAIN" => Some(Mechanism::Plain),
            "SCRAM-SHA-256" => Some(Mechanism::ScramSha256),
            "SCRAM-SHA-512" => Some(Mechanism::ScramSha512),
            _ => None,
        }
    }

    /// The name librdkafka and brokers use.
    pub fn name(self) -> &'static str {
        match self {
            Mechanism::Plain => "PLAIN",
            Mechanism::ScramSha256 => "SCRAM-SHA-256",
            Mechanism::ScramSha512 => "SCRAM-SHA-512",
        }
    }
}

/// Why Kafka access settings are unusable, or a login was refused. Never holds a password.
#[derive(Debug, Error)]
pub enum AccessError {
    /// The URI itself.
    #[error(transparent)]
    Uri(#[from] UriError),
    /// A line of the client properties file.
    #[error("{path}:{line}: {why}")]
    Config {
        /// The file.
        path: PathBuf,
        /// Its line, from 1.
        line: usize,
        /// What is wrong.
        why: String,
    },
    /// The password could not be read.
    #[error("Kafka user `{user}`: {source}")]
    Password {
        /// The user.
        user: String,
        /// Why.
        source: SecretError,
    },
    /// The brokers refused the login.
    #[error("Kafka at {brokers} refused the login of user `{user}` ({mechanism}): {reason}")]
    Refused {
        /// The bootstrap servers.
        brokers: String,
        /// The user.
        user: String,
        /// The SASL mechanism.
        mechanism: &'static str,
        /// What the client said.
        reason: String,
    },
    /// TLS could not be set up with the brokers.
    #[error("TLS with Kafka at {brokers} failed: {reason}")]
    Tls {
        /// The bootstrap servers.
        brokers: String,
        /// What the client said.
        reason: String,
    },
}

/// Everything a Kafka client needs to reach the brokers.
#[derive(Clone, Debug)]
pub struct KafkaAccess {
    /// Bootstrap servers, comma-separated.
    pub brokers: String,
    protocol: Protocol,
    login: Option<Login>,
    /// Further `ssl.*` / `client.id` settings (from `tls.ca` or the properties file).
    settings: Vec<(String, Setting)>,
}

#[derive(Clone, Debug)]
struct Login {
    user: String,
    mechanism: Mechanism,
    password: Secret,
}

/// A setting's value; key passwords are kept secret.
#[derive(Clone, Debug)]
enum Setting {
    Plain(String),
    Secret(Secret),
}

/// What the properties file and the URI say, before defaults.
#[derive(Default)]
struct Wanted {
    protocol: Option<Protocol>,
    mechanism: Option<Mechanism>,
    user: Option<String>,
    password: Option<Secret>,
    password_from: Option<PasswordFrom>,
    settings: Vec<(String, Setting)>,
}

impl KafkaAccess {
    /// Reads the access parameters of `uri`; returns the parameters it does not know, for
    /// the caller.
    pub fn from_uri(uri: &ServiceUri) -> Result<(KafkaAccess, Vec<(String, String)>), AccessError> {
        let mut wanted = Wanted::default();
        let mut rest = Vec::new();
        let mut from_uri = Wanted::default();
        for (key, value) in &uri.params {
            match key.as_str() {
                "security" => {
                    from_uri.protocol = Some(Protocol::parse(value).ok_or_else(|| {
                        uri.error("security must be plaintext, ssl, sasl_plaintext or sasl_ssl")
                    })?)
                }
                "mechanism" => {
                    from_uri.mechanism = Some(Mechanism::parse(value).ok_or_else(|| {
                        uri.error("mechanism must be PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512")
                    })?)
                }
                "password.env" | "password.file" => {
                    from_uri.password_from = PasswordFrom::from_param(key, value)
                }
                "tls.ca" => from_uri
                    .settings
                    .push(("ssl.ca.location".into(), Setting::Plain(value.clone()))),
                "config" => wanted = read_properties(Path::new(value))?,
                _ => rest.push((key.clone(), value.clone())),
            }
        }
        // The URI wins over the file.
        wanted.protocol = from_uri.protocol.or(wanted.protocol);
        wanted.mechanism = from_uri.mechanism.or(wanted.mechanism);
        wanted.user = uri.user.clone().or(wanted.user);
        if from_uri.password_from.is_some() {
            wanted.password = None;
            wanted.password_from = from_uri.password_from;
        }
        wanted.settings.extend(from_uri.settings);
        Ok((KafkaAccess::settle(uri, wanted)?, rest))
    }

    fn settle(uri: &ServiceUri, wanted: Wanted) -> Result<KafkaAccess, AccessError> {
        let has_ca = wanted.settings.iter().any(|(k, _)| k == "ssl.ca.location");
        let protocol = match (wanted.protocol, &wanted.user) {
            (Some(protocol), _) => protocol,
            (None, Some(_)) => Protocol::SaslSsl,
            (None, None) if has_ca => Protocol::Ssl,
            (None, None) => Protocol::Plaintext,
        };
        let login = match (protocol.sasl(), wanted.user) {
            (true, Some(user)) => {
                let password = match wanted.password {
                    Some(password) => password,
                    None => password_for(wanted.password_from.as_ref(), PASSWORD_ENV).map_err(
                        |source| AccessError::Password {
                            user: user.clone(),
                            source,
                        },
                    )?,
                };
                Some(Login {
                    user,
                    mechanism: wanted.mechanism.unwrap_or(Mechanism::ScramSha512),
                    password,
                })
            }
            (true, None) => {
                return Err(uri
                    .error(format!(
                        "security={} needs a user: kafka://USER@HOST:PORT/TOPIC",
                        protocol.name()
                    ))
                    .into())
            }
            (false, Some(user)) => {
                return Err(uri
                    .error(format!(
                        "user `{user}` needs security=sasl_ssl or sasl_plaintext, not {}",
                        protocol.name()
                    ))
                    .into())
            }
            (false, None) => None,
        };
        Ok(KafkaAccess {
            brokers: uri.host_list(),
            protocol,
            login,
            settings: wanted.settings,
        })
    }

    /// A client configuration that reaches the brokers as these settings say.
    pub fn client_config(&self) -> ClientConfig {
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", &self.brokers)
            .set("security.protocol", self.protocol.name());
        if let Some(login) = &self.login {
            config
                .set("sasl.mechanism", login.mechanism.name())
                .set("sasl.username", &login.user)
                .set("sasl.password", login.password.expose());
        }
        for (key, value) in &self.settings {
            match value {
                Setting::Plain(value) => config.set(key, value),
                Setting::Secret(value) => config.set(key, value.expose()),
            };
        }
        config
    }

    /// The error to report when a client of these settings could not reach the brokers:
    /// a refused login or a failed TLS handshake `watch` saw, or `otherwise`.
    /// The client reports through its queue, so `serve` polls it (briefly: 20 ms a call) until
    /// a failure shows or a second has passed.
    pub fn explain<E>(
        &self,
        watch: &AccessWatch,
        serve: impl Fn(),
        otherwise: E,
    ) -> Result<E, AccessError> {
        let deadline = Instant::now() + Duration::from_secs(1);
        while watch.refusal().is_none() && Instant::now() < deadline {
            serve();
        }
        match (watch.refusal(), &self.login) {
            (Some(Refusal::Login(reason)), Some(login)) => Err(AccessError::Refused {
                brokers: self.brokers.clone(),
                user: login.user.clone(),
                mechanism: login.mechanism.name(),
                reason,
            }),
            (Some(Refusal::Login(reason) | Refusal::Tls(reason)), _) => Err(AccessError::Tls {
                brokers: self.brokers.clone(),
                reason,
            }),
            (None, _) => Ok(otherwise),
        }
    }
}

/// Keys of a properties file that are passed on; anything else is refused.
fn passed_on(key: &str) -> bool {
    key == "client.id" || key.starts_with("ssl.") || key.starts_with("sasl.")
}

fn read_properties(path: &Path) -> Result<Wanted, AccessError> {
    let at = |line: usize, why: String| AccessError::Config {
        path: path.to_path_buf(),
        line,
        why,
    };
    let text = std::fs::read_to_string(path).map_err(|e| at(0, format!("cannot read: {e}")))?;
    let mut wanted = Wanted::default();
    for (index, line) in text.lines().enumerate() {
        let line_no = index + 1;
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with('!') {
            continue;
        }
        let (key, value) = line
            .split_once('=')
            .map(|(k, v)| (k.trim(), v.trim()))
            .ok_or_else(|| at(line_no, "expected key=value".to_string()))?;
        match key {
            "security.protocol" => {
                wanted.protocol = Some(Protocol::parse(value).ok_or_else(|| {
                    at(line_no, format!("security.protocol `{value}` is not plaintext, ssl, sasl_plaintext or sasl_ssl"))
                })?)
            }
            "sasl.mechanism" | "sasl.mechanisms" => {
                wanted.mechanism = Some(Mechanism::parse(value).ok_or_else(|| {
                    at(line_no, format!("{key} `{value}` is not PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512"))
                })?)
            }
            "sasl.username" => wanted.user = Some(value.to_string()),
            "sasl.password" => wanted.password = Some(Secret::new(value.to_string())),
            "ssl.key.password" | "ssl.keystore.password" => wanted
                .settings
                .push((key.to_string(), Setting::Secret(Secret::new(value.to_string())))),
            _ if passed_on(key) => wanted
                .settings
                .push((key.to_string(), Setting::Plain(value.to_string()))),
            _ => {
                return Err(at(
                    line_no,
                    format!("`{key}` is not passed on; allowed: security.protocol, sasl.*, ssl.*, client.id"),
                ))
            }
        }
    }
    Ok(wanted)
}

/// A refusal by the brokers that no retry will mend: a login or TLS handshake.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The login was refused.
    Login(String),
    /// The TLS handshake failed.
    Tls(String),
}

/// Remembers the first refused login or failed TLS handshake a client reports.
#[derive(Default)]
pub struct AccessWatch {
    refusal: Mutex<Option<Refusal>>,
}

impl AccessWatch {
    /// Looks at an error the client reported.
    pub fn note(&self, error: &KafkaError, reason: &str) {
        let refusal = match error.rdkafka_error_code() {
            Some(RDKafkaErrorCode::Authentication | RDKafkaErrorCode::SaslAuthenticationFailed) => {
                Refusal::Login(reason.to_string())
            }
            Some(RDKafkaErrorCode::SSL) => Refusal::Tls(reason.to_string()),
            _ => return,
        };
        let mut first = self.refusal.lock().unwrap_or_else(|p| p.into_inner());
        first.get_or_insert(refusal);
    }

    /// Looks at a line the client logged: librdkafka reports a refused login or a failed
    /// TLS handshake in its log as the connection fails, before any error event.
    pub fn note_log(&self, message: &str) {
        let refusal = if let Some(at) = message.find("SASL authentication error") {
            Refusal::Login(message[at..].to_string())
        } else if let Some(at) = message.find("SSL handshake failed") {
            Refusal::Tls(message[at..].to_string())
        } else {
            return;
        };
        let mut first = self.refusal.lock().unwrap_or_else(|p| p.into_inner());
        first.get_or_insert(refusal);
    }

    /// The first refusal seen, if any.
    pub fn refusal(&self) -> Option<Refusal> {
        self.refusal
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

/// Forwards a librdkafka log line to `tracing` at its level (as the client library does).
pub fn forward_log(level: RDKafkaLogLevel, facility: &str, message: &str) {
    match level {
        RDKafkaLogLevel::Emerg
        | RDKafkaLogLevel::Alert
        | RDKafkaLogLevel::Critical
        | RDKafkaLogLevel::Error => {
            tracing::error!(target: "librdkafka", "librdkafka: {facility} {message}")
        }
        RDKafkaLogLevel::Warning => {
            tracing::warn!(target: "librdkafka", "librdkafka: {facility} {message}")
        }
        RDKafkaLogLevel::Notice | RDKafkaLogLevel::Info => {
            tracing::info!(target: "librdkafka", "librdkafka: {facility} {message}")
        }
        RDKafkaLogLevel::Debug => {
            tracing::debug!(target: "librdkafka", "librdkafka: {facility} {message}")
        }
    }
}

impl ClientContext for AccessWatch {
    fn log(&self, level: RDKafkaLogLevel, facility: &str, message: &str) {
        self.note_log(message);
        forward_log(level, facility, message);
    }

    fn error(&self, error: KafkaError, reason: &str) {
        self.note(&error, reason);
        tracing::debug!("kafka: {error}: {reason}");
    }
}

impl ConsumerContext for AccessWatch {}

#[cfg(test)]
mod tests {
    use super::*;

    fn access(uri: &str) -> Result<KafkaAccess, AccessError> {
        let uri = ServiceUri::parse(uri, "kafka", "Kafka source", "topic").expect("uri");
        KafkaAccess::from_uri(&uri).map(|(access, _)| access)
    }

    fn setting<'a>(config: &'a ClientConfig, key: &str) -> Option<&'a str> {
        config.get(key)
    }

    #[test]
    fn plaintext_without_a_user() {
        let config = access("kafka://a:9092/t?start=earliest")
            .expect("access")
            .client_config();
        assert_eq!(setting(&config, "security.protocol"), Some("plaintext"));
        assert_eq!(setting(&config, "sasl.username"), None);
    }

    #[test]
    fn a_user_means_scram_over_tls_with_the_password_from_its_variable() {
        std::env::set_var("TIDEMARK_TEST_KAFKA_PW_A", "pw-a");
        let config =
            access("kafka://alice@a:9092/t?password.env=TIDEMARK_TEST_KAFKA_PW_A&tls.ca=/ca.pem")
                .expect("access")
                .client_config();
        assert_eq!(setting(&config, "security.protocol"), Some("sasl_ssl"));
        assert_eq!(setting(&config, "sasl.mechanism"), Some("SCRAM-SHA-512"));
        assert_eq!(setting(&config, "sasl.username"), Some("alice"));
        assert_eq!(setting(&config, "sasl.password"), Some("pw-a"));
        assert_eq!(setting(&config, "ssl.ca.location"), Some("/ca.pem"));
    }

    #[test]
    fn the_uri_wins_over_the_properties_file() {
        let dir = tempfile::tempdir().expect("dir");
        let file = dir.path().join("client.properties");
        std::fs::write(
            &file,
            "# comment\nsecurity.protocol=SASL_PLAINTEXT\nsasl.mechanism=PLAIN\n\
             sasl.username=bob\nsasl.password=from-file\nclient.id=tm\n",
        )
        .expect("write");
        let config = access(&format!(
            "kafka://a:9092/t?config={}&mechanism=SCRAM-SHA-256",
            file.display()
        ))
        .expect("access")
        .client_config();
        assert_eq!(
            setting(&config, "security.protocol"),
            Some("sasl_plaintext")
        );
        assert_eq!(setting(&config, "sasl.mechanism"), Some("SCRAM-SHA-256"));
        assert_eq!(setting(&config, "sasl.username"), Some("bob"));
        assert_eq!(setting(&config, "sasl.password"), Some("from-file"));
        assert_eq!(setting(&config, "client.id"), Some("tm"));
    }

    #[test]
    fn errors_name_the_file_line_and_key_but_never_a_password() {
        let dir = tempfile::tempdir().expect("dir");
        let file = dir.path().join("client.properties");
        std::fs::write(&file, "sasl.password=hunter2\nenable.auto.commit=true\n").expect("write");
        let error = access(&format!("kafka://a:9092/t?config={}", file.display()))
            .expect_err("refused")
            .to_string();
        assert!(error.contains("client.properties:2"), "{error}");
        assert!(error.contains("enable.auto.commit"), "{error}");
        let error = access("kafka://carol@a:9092/t?password.env=TIDEMARK_TEST_UNSET_PW")
            .expect_err("unset")
            .to_string();
        assert!(error.contains("`carol`"), "{error}");
        assert!(error.contains("TIDEMARK_TEST_UNSET_PW"), "{error}");
        let error = access("kafka://a:9092/t?security=sasl_ssl")
            .expect_err("no user")
            .to_string();
        assert!(error.contains("needs a user"), "{error}");
        let debug = format!(
            "{:?}",
            access(&format!("kafka://a:9092/t?config={}", file.display()))
        );
        assert!(!debug.contains("hunter2"), "{debug}");
    }
}
