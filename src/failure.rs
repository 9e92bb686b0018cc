//! Why a command did not succeed, and the exit code that says so: 2 when nothing ran (bad
//! arguments, dataflow, source, sink or settings), 1 when it failed while running.

use thiserror::Error;

/// A command's failure.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum Failure {
    /// Nothing ran: something given is wrong (exit 2).
    #[error("{0}")]
    Setup(String),
    /// It started and failed (exit 1).
    #[error("{0}")]
    Failed(String),
}

impl Failure {
    /// The process exit code for it.
    pub fn exit_code(&self) -> u8 {
        match self {
            Failure::Setup(_) => 2,
            Failure::Failed(_) => 1,
        }
    }

    /// A setup failure from any error.
    pub fn setup(error: impl std::fmt::Display) -> Failure {
        Failure::Setup(error.to_string())
    }

    /// A failure while running, from any error.
    pub fn failed(error: impl std::fmt::Display) -> Failure {
        Failure::Failed(error.to_string())
    }
}
