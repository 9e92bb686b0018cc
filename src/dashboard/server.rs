//! Starts the HTTP server on its own thread and runtime, so serving never takes a worker's
//! time; the address is bound before anything else starts, so a port in use is a setup
//! error.

use super::api::{router, ApiState};
use std::net::{SocketAddr, TcpListener, ToSocketAddrs};
use std::sync::Arc;
use thiserror::Error;

/// The most rows one answer holds unless told otherwise.
pub const DEFAULT_ROW_LIMIT: usize = 100_000;

/// A server that could not start.
#[derive(Debug, Error)]
pub enum ServeError {
    /// The address is not `HOST:PORT`.
    #[error("{flag} `{address}`: expected HOST:PORT, such as 127.0.0.1:8080")]
    BadAddress {
        /// The flag that gave it.
        flag: &'static str,
        /// The address.
        address: String,
    },
    /// The address cannot be bound.
    #[error("{flag} {address}: cannot listen: {source}")]
    Bind {
        /// The flag that gave it.
        flag: &'static str,
        /// The address.
        address: String,
        /// Why.
        source: std::io::Error,
    },
    /// The runtime or thread cannot start.
    #[error("cannot start the HTTP server: {0}")]
    Start(std::io::Error),
}

/// Binds `address` (`HOST:PORT`; a bare `:PORT` or `PORT` means 127.0.0.1).
pub fn bind(flag: &'static str, address: &str) -> Result<TcpListener, ServeError> {
    bind_offset(flag, address, 0)
}

/// Binds `address` with `offset` added to its port (process `p` of several binds `PORT + p`;
/// port 0 stays 0).
pub fn bind_offset(
    flag: &'static str,
    address: &str,
    offset: u16,
) -> Result<TcpListener, ServeError> {
    let bad = || ServeError::BadAddress {
        flag,
        address: address.to_string(),
    };
    let spelled = if let Some(port) = address.strip_prefix(':') {
        format!("127.0.0.1:{port}")
    } else if address.parse::<u16>().is_ok() {
        format!("127.0.0.1:{address}")
    } else {
        address.to_string()
    };
    let mut resolved: SocketAddr = spelled
        .to_socket_addrs()
        .ok()
        .and_then(|mut all| all.next())
        .ok_or_else(bad)?;
    if resolved.port() != 0 {
        let port = resolved.port().checked_add(offset).ok_or_else(bad)?;
        resolved.set_port(port);
    }
    let listener = TcpListener::bind(resolved).map_err(|source| ServeError::Bind {
        flag,
        address: resolved.to_string(),
        source,
    })?;
    listener.set_nonblocking(true).map_err(ServeError::Start)?;
    Ok(listener)
}

/// Serves `state` on `listener` from a thread of its own until the process ends.
pub fn spawn(listener: TcpListener, state: Arc<ApiState>) -> Result<(), ServeError> {
    spawn_router(listener, router(state))
}

/// Serves only `/metrics` for Prometheus: a run's counters (`run --metrics ADDR`), or with
/// none what was recorded (`produce --metrics ADDR`).
pub fn spawn_metrics(
    listener: TcpListener,
    run: Option<Arc<crate::metrics::Metrics>>,
) -> Result<(), ServeError> {
    let app = axum::Router::new().route(
        "/metrics",
        axum::routing::get(move || {
            let run = run.clone();
            async move { super::api::exposition(run.as_deref()) }
        }),
    );
    spawn_router(listener, app)
}

fn spawn_router(listener: TcpListener, app: axum::Router) -> Result<(), ServeError> {
    let runtime = runtime()?;
    std::thread::Builder::new()
        .name("http".into())
        .spawn(move || {
            runtime.block_on(async move {
                match tokio::net::TcpListener::from_std(listener) {
                    Ok(listener) => {
                        if let Err(e) = axum::serve(listener, app).await {
                            tracing::error!("the HTTP server stopped: {e}");
                        }
                    }
                    Err(e) => tracing::error!("the HTTP server cannot listen: {e}"),
                }
            })
        })
        .map_err(ServeError::Start)?;
    Ok(())
}

/// The runtime a server runs on: two threads of its own, so serving never takes a worker's
/// time.
fn runtime() -> Result<tokio::runtime::Runtime, ServeError> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("http")
        .enable_all()
        .build()
        .map_err(ServeError::Start)
}

/// The URL a listener is reached at.
pub fn url(listener: &TcpListener) -> String {
    match listener.local_addr() {
        Ok(address) => format!("http://{address}/"),
        Err(_) => "the HTTP address".into(),
    }
}

/// Why `tidemark serve` ended.
#[derive(Debug, Error)]
pub enum HistoryServeError {
    /// It could not start (exit 2).
    #[error(transparent)]
    Setup(#[from] ServeError),
    /// Cassandra could not be reached (exit 2).
    #[error(transparent)]
    Cassandra(#[from] super::HistoryError),
}

impl From<HistoryServeError> for crate::failure::Failure {
    fn from(e: HistoryServeError) -> Self {
        match e {
            HistoryServeError::Setup(_) | HistoryServeError::Cassandra(_) => {
                crate::failure::Failure::setup(e)
            }
        }
    }
}

/// Serves the history in Cassandra at `address` until `stop` is asked for.
pub fn serve_history(
    uri: &crate::sink::CassandraUri,
    catalog: super::Catalog,
    address: &str,
    row_limit: usize,
    stop: crate::signals::StopSignal,
) -> Result<(), HistoryServeError> {
    let listener = bind("--http", address)?;
    let runtime = runtime()?;
    runtime.block_on(async {
        let history = super::HistoryStore::connect(uri, Arc::new(catalog)).await?;
        let state = Arc::new(ApiState {
            backend: super::Backend::History(Arc::new(history)),
            row_limit,
            metrics: None,
        });
        tracing::info!(
            "serving the history in Cassandra keyspace {} at {} until stopped",
            uri.keyspace,
            url(&listener)
        );
        let listener = tokio::net::TcpListener::from_std(listener).map_err(ServeError::Start)?;
        let stopped = async move {
            while !stop.requested() {
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
        };
        axum::serve(listener, router(state))
            .with_graceful_shutdown(stopped)
            .await
            .map_err(ServeError::Start)?;
        Ok(())
    })
}
