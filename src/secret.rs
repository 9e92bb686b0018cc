//! Passwords: where they come from (an environment variable or a file, never a URI or a flag)
//! and a type that never prints them.

use std::fmt;
use std::path::PathBuf;
use thiserror::Error;

/// A password. Its `Debug` prints `***`; it has no `Display`, so it cannot reach a message
/// by accident.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a password read from a trusted place.
    pub fn new(text: String) -> Secret {
        Secret(text)
    }

    /// The password, for the one call that hands it to a client library.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// Where a password is read from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PasswordFrom {
    /// An environment variable, by name.
    Env(String),
    /// A file; its first line is the password.
    File(PathBuf),
}

/// A password that could not be read; it names the variable or file, never a value.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum SecretError {
    /// The variable is not set (or is empty).
    #[error("the password variable {0} is not set")]
    Unset(String),
    /// The file cannot be read.
    #[error("cannot read the password file {path}: {why}")]
    File {
        /// The file.
        path: PathBuf,
        /// Why not.
        why: String,
    },
}

impl PasswordFrom {
    /// The `password.env` / `password.file` parameter `key` with `value`, if it is one.
    pub fn from_param(key: &str, value: &str) -> Option<PasswordFrom> {
        match key {
            "password.env" => Some(PasswordFrom::Env(value.to_string())),
            "password.file" => Some(PasswordFrom::File(PathBuf::from(value))),
            _ => None,
        }
    }

    /// Reads the password.
    pub fn read(&self) -> Result<Secret, SecretError> {
        match self {
            PasswordFrom::Env(name) => match std::env::var(name) {
                Ok(value) if !value.is_empty() => Ok(Secret(value)),
                _ => Err(SecretError::Unset(name.clone())),
            },
            PasswordFrom::File(path) => {
                let text = std::fs::read_to_string(path).map_err(|e| SecretError::File {
                    path: path.clone(),
                    why: e.to_string(),
                })?;
                let line = text.lines().next().unwrap_or("").trim_end_matches('\r');
                if line.is_empty() {
                    return Err(SecretError::File {
                        path: path.clone(),
                        why: "its first line is empty".to_string(),
                    });
                }
                Ok(Secret(line.to_string()))
            }
        }
    }
}

/// The password of `user`: from `from` if given, else from the variable `default_env`.
pub fn password_for(from: Option<&PasswordFrom>, default_env: &str) -> Result<Secret, SecretError> {
    match from {
        Some(from) => from.read(),
        None => PasswordFrom::Env(default_env.to_string()).read(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_password() {
        let secret = Secret::new("hunter2".to_string());
        assert_eq!(format!("{secret:?}"), "***");
        assert_eq!(secret.expose(), "hunter2");
    }

    #[test]
    fn reads_the_first_line_of_a_file_and_names_what_is_missing() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("pw");
        std::fs::write(&path, "s3cret\nignored\n").expect("write");
        let read = PasswordFrom::File(path.clone()).read().expect("read");
        assert_eq!(read.expose(), "s3cret");
        let missing = PasswordFrom::File(dir.path().join("none")).read();
        assert!(matches!(missing, Err(SecretError::File { .. })));
        let unset = PasswordFrom::Env("TIDEMARK_TEST_NO_SUCH_VARIABLE".to_string()).read();
        assert_eq!(
            unset,
            Err(SecretError::Unset(
                "TIDEMARK_TEST_NO_SUCH_VARIABLE".to_string()
            ))
        );
    }
}
