//! The HTTP JSON API and the page, on axum. Read-only: every route is a `GET`.
//!
//! - `GET /api/outputs`: the dataflow's outputs, windows, keys and aggregates;
//! - `GET /api/outputs/{output}/rows?from=T&to=T|last=6h&key.FIELD=V&final=true`;
//! - `GET /api/outputs/{output}/latest?final=true`: the newest window (the current ranking);
//! - `GET /api/outputs/{output}/keys?from=T&to=T|last=6h`: the keys seen (a variable);
//! - `GET /api/stream?output=NAME`: new rows as server-sent events (`rows`, a JSON array);
//! - `GET /api/status`: the backend and whether the input has ended;
//! - `GET /metrics`: the run's counters for Prometheus;
//! - `GET /`: the live page.
//!
//! A bad request gets a 4xx with `{"error": "..."}` saying what is wrong.

use super::backend::{Backend, QueryError};
use super::page;
use super::request::{self, RequestError};
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde_json::json;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;
use tokio_stream::wrappers::{BroadcastStream, ReceiverStream};
use tokio_stream::{Stream, StreamExt};

/// How often the page's feed polls Cassandra for newer rows.
const HISTORY_POLL: Duration = Duration::from_secs(2);

/// What every handler shares.
pub struct ApiState {
    /// Where answers come from.
    pub backend: Backend,
    /// The most rows one answer may hold.
    pub row_limit: usize,
    /// The run's counters, served at `/metrics` (a `run`; `serve` has none).
    pub metrics: Option<Arc<crate::metrics::Metrics>>,
}

type Shared = State<Arc<ApiState>>;

/// The routes of the API and the page.
pub fn router(state: Arc<ApiState>) -> Router {
    Router::new()
        .route("/", get(page::index))
        .route("/assets/{file}", get(page::asset))
        .route("/api/status", get(status))
        .route("/api/outputs", get(outputs))
        .route("/api/outputs/{output}/rows", get(rows))
        .route("/api/outputs/{output}/latest", get(latest))
        .route("/api/outputs/{output}/keys", get(keys))
        .route("/api/stream", get(stream))
        .route("/metrics", get(metrics))
        .fallback(not_found)
        .with_state(state)
}

fn pairs(query: Option<String>) -> Vec<(String, String)> {
    form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .into_owned()
        .collect()
}

fn json_text(status: StatusCode, body: String) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

fn error(status: StatusCode, message: &str) -> Response {
    json_text(
        status,
        json!({ "error": message, "status": status.as_u16() }).to_string(),
    )
}

impl IntoResponse for QueryError {
    fn into_response(self) -> Response {
        let status = match &self {
            QueryError::Request(RequestError::UnknownOutput { .. }) => StatusCode::NOT_FOUND,
            QueryError::Request(_) => StatusCode::BAD_REQUEST,
            QueryError::History(_) => StatusCode::BAD_GATEWAY,
        };
        error(status, &self.to_string())
    }
}

/// `GET /metrics`: the Prometheus exposition of the run.
pub async fn metrics(State(state): Shared) -> Response {
    exposition(state.metrics.as_deref())
}

/// The Prometheus text of a run's counters (or only what was recorded, with none).
pub fn exposition(run: Option<&crate::metrics::Metrics>) -> Response {
    let text = match run {
        Some(run) => crate::prometheus::render(run),
        None => crate::prometheus::install().render(),
    };
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
        .into_response()
}

async fn not_found(uri: axum::http::Uri) -> Response {
    error(
        StatusCode::NOT_FOUND,
        &format!(
            "no such path: {}; the API is under /api/outputs",
            uri.path()
        ),
    )
}

async fn status(State(state): Shared) -> Response {
    let ended = match &state.backend {
        Backend::Live(live) => Some(live.input_ended()),
        Backend::History(_) => None,
    };
    json_text(
        StatusCode::OK,
        json!({
            "dataflow": state.backend.catalog().dataflow,
            "backend": state.backend.name(),
            "input_ended": ended,
            "row_limit": state.row_limit,
        })
        .to_string(),
    )
}

async fn outputs(State(state): Shared) -> Response {
    json_text(
        StatusCode::OK,
        state.backend.catalog().describe().to_string(),
    )
}

/// `{"output": NAME, "rows": [...]}`.
fn rows_body(state: &ApiState, output: &str, rows: &[crate::aggregate::ResultRow]) -> Response {
    let mut body = String::from("{\"output\":");
    body.push_str(&serde_json::Value::from(output).to_string());
    body.push_str(",\"rows\":");
    state.backend.catalog().write_rows(rows, &mut body);
    body.push('}');
    json_text(StatusCode::OK, body)
}

async fn rows(
    State(state): Shared,
    Path(output): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Response, QueryError> {
    let request = request::rows(state.backend.catalog(), &output, &pairs(query))?;
    let found = state.backend.rows(&request, state.row_limit).await?;
    Ok(rows_body(&state, &output, &found))
}

async fn latest(
    State(state): Shared,
    Path(output): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Response, QueryError> {
    let request = request::latest(state.backend.catalog(), &output, &pairs(query))?;
    let found = state.backend.latest(&request).await?;
    Ok(rows_body(&state, &output, &found))
}

async fn keys(
    State(state): Shared,
    Path(output): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Response, QueryError> {
    let catalog = state.backend.catalog();
    let request = request::keys(catalog, &output, &pairs(query))?;
    let info = &catalog.outputs[request.output];
    let found = state.backend.keys(&request).await?;
    let keys: Vec<serde_json::Value> = found
        .iter()
        .map(|key| {
            let fields: serde_json::Map<String, serde_json::Value> = info
                .keys
                .iter()
                .zip(key.0.iter())
                .map(|(name, value)| {
                    let mut text = String::new();
                    value.write_json(&mut text);
                    let parsed = serde_json::from_str(&text).unwrap_or(serde_json::Value::Null);
                    (name.clone(), parsed)
                })
                .collect();
            serde_json::Value::Object(fields)
        })
        .collect();
    Ok(json_text(
        StatusCode::OK,
        json!({ "output": info.name, "fields": info.keys, "keys": keys }).to_string(),
    ))
}

async fn stream(
    State(state): Shared,
    RawQuery(query): RawQuery,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, QueryError> {
    let pairs = pairs(query);
    let catalog = state.backend.catalog();
    let mut only = None;
    for (name, value) in &pairs {
        match name.as_str() {
            "output" => only = Some(catalog.output(value)?.0),
            _ => {
                return Err(RequestError::UnknownParameter {
                    name: name.clone(),
                    allowed: "output".into(),
                }
                .into())
            }
        }
    }
    let (sender, receiver) = tokio::sync::mpsc::channel::<Event>(64);
    match &state.backend {
        Backend::Live(live) => {
            let mut feed = BroadcastStream::new(live.subscribe());
            let names: Vec<String> = catalog.outputs.iter().map(|o| o.name.clone()).collect();
            tokio::spawn(async move {
                while let Some(batch) = feed.next().await {
                    // A reader that fell behind skips what it missed and reads on.
                    let Ok(batch) = batch else { continue };
                    if only.is_some_and(|o| o != batch.output) {
                        continue;
                    }
                    let event = feed_event(&names[batch.output], &batch.json);
                    if sender.send(event).await.is_err() {
                        break;
                    }
                }
            });
        }
        Backend::History(_) => {
            let state = Arc::clone(&state);
            tokio::spawn(async move { poll_history(state, only, sender).await });
        }
    }
    let events = ReceiverStream::new(receiver).map(Ok);
    Ok(Sse::new(events).keep_alive(KeepAlive::default()))
}

/// One `rows` event: `{"output": NAME, "rows": [...]}`.
fn feed_event(output: &str, rows: &str) -> Event {
    let name = serde_json::Value::from(output).to_string();
    Event::default()
        .event("rows")
        .data(format!("{{\"output\":{name},\"rows\":{rows}}}"))
}

/// The feed over Cassandra: the newest window of each output, sent whenever it changes.
async fn poll_history(
    state: Arc<ApiState>,
    only: Option<usize>,
    sender: tokio::sync::mpsc::Sender<Event>,
) {
    let catalog = state.backend.catalog();
    let mut last: Vec<String> = vec![String::new(); catalog.outputs.len()];
    loop {
        for (output, info) in catalog.outputs.iter().enumerate() {
            if only.is_some_and(|o| o != output) {
                continue;
            }
            let request = request::LatestRequest {
                output,
                final_only: false,
            };
            let Ok(rows) = state.backend.latest(&request).await else {
                continue;
            };
            let mut json = String::new();
            catalog.write_rows(&rows, &mut json);
            if rows.is_empty() || json == last[output] {
                continue;
            }
            let event = feed_event(&info.name, &json);
            last[output] = json;
            if sender.send(event).await.is_err() {
                return;
            }
        }
        tokio::time::sleep(HISTORY_POLL).await;
    }
}
