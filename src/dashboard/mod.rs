//! Dashboard queries: one query layer over two backends, and its faces.
//!
//! - [`LiveStore`]: the engine's latest rows in memory (`tidemark run --http`);
//! - [`HistoryStore`]: the Cassandra tables the sink writes (`tidemark serve`);
//! - the HTTP JSON API and the live page (`api`, `page`), served by [`server`];
//! - `tidemark query` ([`query`]).
//!
//! Both backends answer the same typed requests ([`request`]) with rows in one form
//! ([`catalog`]), so they give the same rows for the same input. This module only reads what
//! sinks wrote; it never touches the dataflow.

mod api;
mod backend;
pub mod catalog;
mod history;
mod live;
mod page;
pub mod query;
pub mod request;
pub mod server;

pub use api::ApiState;
pub use backend::{Backend, QueryError};
pub use catalog::Catalog;
pub use history::{HistoryError, HistoryStore};
pub use live::LiveStore;
