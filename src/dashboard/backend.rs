//! The one query layer: the same requests, answered from the engine's memory or from
//! Cassandra.

use super::catalog::Catalog;
use super::history::{HistoryError, HistoryStore};
use super::live::LiveStore;
use super::request::{KeysRequest, LatestRequest, RequestError, RowsRequest};
use crate::aggregate::{Key, ResultRow};
use std::sync::Arc;
use thiserror::Error;

/// Why a request got no rows.
#[derive(Debug, Error)]
pub enum QueryError {
    /// The request is wrong (a 4xx).
    #[error(transparent)]
    Request(#[from] RequestError),
    /// The backend failed (a 5xx).
    #[error(transparent)]
    History(#[from] HistoryError),
}

/// Where answers come from.
pub enum Backend {
    /// The running engine's latest rows.
    Live(Arc<LiveStore>),
    /// The Cassandra tables.
    History(Arc<HistoryStore>),
}

impl Backend {
    /// The outputs the backend answers for.
    pub fn catalog(&self) -> &Catalog {
        match self {
            Backend::Live(live) => live.catalog(),
            Backend::History(history) => history.catalog(),
        }
    }

    /// A short name for the status reply.
    pub fn name(&self) -> &'static str {
        match self {
            Backend::Live(_) => "live",
            Backend::History(_) => "cassandra",
        }
    }

    /// The rows a request asks for, in time order; more than `limit` is an error.
    pub async fn rows(
        &self,
        request: &RowsRequest,
        limit: usize,
    ) -> Result<Vec<ResultRow>, QueryError> {
        match self {
            Backend::Live(live) => Ok(live.rows(request, limit)?),
            Backend::History(history) => Ok(history.rows(request, limit).await??),
        }
    }

    /// The rows of the newest window (or the newest final one).
    pub async fn latest(&self, request: &LatestRequest) -> Result<Vec<ResultRow>, QueryError> {
        match self {
            Backend::Live(live) => Ok(live.latest(request)),
            Backend::History(history) => Ok(history.latest(request).await?),
        }
    }

    /// The distinct keys over a range.
    pub async fn keys(&self, request: &KeysRequest) -> Result<Vec<Key>, QueryError> {
        match self {
            Backend::Live(live) => Ok(live.keys(request)),
            Backend::History(history) => Ok(history.keys(request).await?),
        }
    }
}
