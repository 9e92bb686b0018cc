//! `tidemark query`: one output's rows from a running engine's API or from Cassandra,
//! printed as an aligned table, JSON lines or CSV.

use super::backend::{Backend, QueryError};
use super::catalog::Catalog;
use super::history::{HistoryError, HistoryStore};
use super::request::{self, RequestError};
use super::server::DEFAULT_ROW_LIMIT;
use crate::sink::CassandraUri;
use std::sync::Arc;
use thiserror::Error;

/// Where `tidemark query` reads from.
#[derive(Clone, Debug)]
pub enum Source {
    /// A running engine's (or `tidemark serve`'s) API, such as `http://127.0.0.1:8080`.
    Http(String),
    /// The Cassandra tables.
    Cassandra(String),
}

/// How rows are printed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    /// Aligned columns.
    Table,
    /// One JSON object per line, as the JSONL sink writes them.
    Json,
    /// Comma-separated values with a header.
    Csv,
}

/// What to ask.
#[derive(Clone, Debug)]
pub struct QueryOptions {
    /// The output.
    pub output: String,
    /// `FIELD=VALUE` pairs naming one key.
    pub key: Vec<String>,
    /// `6h`: the last six hours of the output.
    pub last: Option<String>,
    /// Range start (RFC 3339 or epoch milliseconds).
    pub from: Option<String>,
    /// Range end.
    pub to: Option<String>,
    /// The newest window only.
    pub latest: bool,
    /// Final rows only.
    pub final_only: bool,
    /// Where from.
    pub source: Source,
    /// How to print.
    pub format: OutputFormat,
}

/// Why a query printed nothing.
#[derive(Debug, Error)]
pub enum QueryCliError {
    /// The request or flags are wrong (exit 2).
    #[error("{0}")]
    Request(String),
    /// The backend failed or could not be reached (exit 1).
    #[error("{0}")]
    Failed(String),
}

impl From<QueryCliError> for crate::failure::Failure {
    fn from(e: QueryCliError) -> Self {
        match e {
            QueryCliError::Request(message) => crate::failure::Failure::Setup(message),
            QueryCliError::Failed(message) => crate::failure::Failure::Failed(message),
        }
    }
}

impl From<RequestError> for QueryCliError {
    fn from(e: RequestError) -> Self {
        QueryCliError::Request(e.to_string())
    }
}

/// Runs a query and returns what to print.
pub fn run(catalog: Catalog, options: &QueryOptions) -> Result<String, QueryCliError> {
    let mut pairs: Vec<(String, String)> = Vec::new();
    for key in &options.key {
        let (field, value) = key.split_once('=').ok_or_else(|| {
            QueryCliError::Request(format!("--key `{key}`: expected FIELD=VALUE"))
        })?;
        pairs.push((format!("key.{field}"), value.to_string()));
    }
    let mut push = |name: &str, value: &Option<String>| {
        if let Some(value) = value {
            pairs.push((name.to_string(), value.clone()));
        }
    };
    push("last", &options.last);
    push("from", &options.from);
    push("to", &options.to);
    if options.final_only {
        pairs.push(("final".into(), "true".into()));
    }
    // Checked here first, so a wrong request says the same whichever backend answers.
    if options.latest {
        request::latest(&catalog, &options.output, &pairs)?;
    } else {
        request::rows(&catalog, &options.output, &pairs)?;
    }
    let body = match &options.source {
        Source::Http(base) => fetch(base, options, &pairs)?,
        Source::Cassandra(uri) => read_cassandra(catalog.clone(), uri, options, &pairs)?,
    };
    let answer: serde_json::Value = serde_json::from_str(&body)
        .map_err(|e| QueryCliError::Failed(format!("the answer is not JSON: {e}")))?;
    let rows = answer
        .get("rows")
        .and_then(|r| r.as_array())
        .cloned()
        .unwrap_or_default();
    let (_, info) = catalog.output(&options.output)?;
    let mut columns = vec!["window_start".to_string(), "window_end".to_string()];
    if info.shape == super::catalog::Shape::Ranked {
        columns.push("rank".into());
    }
    columns.extend(info.keys.iter().cloned());
    columns.extend(info.aggregates.iter().map(|(name, _)| name.clone()));
    columns.push("final".into());
    Ok(match options.format {
        OutputFormat::Json => rows.iter().map(|r| format!("{r}\n")).collect(),
        OutputFormat::Csv => csv_text(&columns, &rows)?,
        OutputFormat::Table => table_text(&columns, &rows),
    })
}

fn fetch(
    base: &str,
    options: &QueryOptions,
    pairs: &[(String, String)],
) -> Result<String, QueryCliError> {
    let what = if options.latest { "latest" } else { "rows" };
    let query = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish();
    let name: String = form_urlencoded::byte_serialize(options.output.as_bytes()).collect();
    let url = format!(
        "{}/api/outputs/{name}/{what}?{query}",
        base.trim_end_matches('/')
    );
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut response = agent
        .get(&url)
        .call()
        .map_err(|e| QueryCliError::Failed(format!("cannot reach {base}: {e}")))?;
    let status = response.status();
    let body = response
        .body_mut()
        .read_to_string()
        .map_err(|e| QueryCliError::Failed(format!("{url}: cannot read the answer: {e}")))?;
    if status.is_success() {
        return Ok(body);
    }
    let message = serde_json::from_str::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| v.get("error").and_then(|e| e.as_str()).map(String::from))
        .unwrap_or(body);
    if status.is_client_error() {
        Err(QueryCliError::Request(format!("{base}: {message}")))
    } else {
        Err(QueryCliError::Failed(format!(
            "{base}: {status}: {message}"
        )))
    }
}

fn read_cassandra(
    catalog: Catalog,
    uri: &str,
    options: &QueryOptions,
    pairs: &[(String, String)],
) -> Result<String, QueryCliError> {
    let uri = CassandraUri::parse(uri).map_err(|e| QueryCliError::Request(e.to_string()))?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| QueryCliError::Failed(format!("cannot start the Cassandra client: {e}")))?;
    let failed = |e: HistoryError| QueryCliError::Failed(e.to_string());
    runtime.block_on(async {
        let catalog = Arc::new(catalog);
        let history = HistoryStore::connect(&uri, Arc::clone(&catalog))
            .await
            .map_err(failed)?;
        let backend = Backend::History(Arc::new(history));
        let rows = if options.latest {
            let request = request::latest(&catalog, &options.output, pairs)?;
            backend.latest(&request).await
        } else {
            let request = request::rows(&catalog, &options.output, pairs)?;
            backend.rows(&request, DEFAULT_ROW_LIMIT).await
        }
        .map_err(|e| match e {
            QueryError::Request(e) => e.into(),
            QueryError::History(e) => failed(e),
        })?;
        let mut body = String::from("{\"rows\":");
        catalog.write_rows(&rows, &mut body);
        body.push('}');
        Ok(body)
    })
}

fn cell(value: Option<&serde_json::Value>) -> String {
    match value {
        None | Some(serde_json::Value::Null) => String::new(),
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

fn csv_text(columns: &[String], rows: &[serde_json::Value]) -> Result<String, QueryCliError> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    let write = |writer: &mut csv::Writer<Vec<u8>>, record: Vec<String>| {
        writer
            .write_record(record)
            .map_err(|e| QueryCliError::Failed(e.to_string()))
    };
    write(&mut writer, columns.to_vec())?;
    for row in rows {
        write(
            &mut writer,
            columns.iter().map(|c| cell(row.get(c))).collect(),
        )?;
    }
    let bytes = writer
        .into_inner()
        .map_err(|e| QueryCliError::Failed(e.to_string()))?;
    String::from_utf8(bytes).map_err(|e| QueryCliError::Failed(e.to_string()))
}

fn table_text(columns: &[String], rows: &[serde_json::Value]) -> String {
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|row| columns.iter().map(|c| cell(row.get(c))).collect())
        .collect();
    let numeric: Vec<bool> = columns
        .iter()
        .map(|c| rows.iter().any(|r| r.get(c).is_some_and(|v| v.is_number())))
        .collect();
    let widths: Vec<usize> = columns
        .iter()
        .enumerate()
        .map(|(i, c)| {
            cells
                .iter()
                .map(|r| r[i].chars().count())
                .chain([c.chars().count()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |values: &[String]| {
        let padded: Vec<String> = values
            .iter()
            .enumerate()
            .map(|(i, v)| {
                if numeric[i] {
                    format!("{v:>width$}", width = widths[i])
                } else {
                    format!("{v:<width$}", width = widths[i])
                }
            })
            .collect();
        format!("{}\n", padded.join("  ").trim_end())
    };
    let mut text = line(columns);
    for row in &cells {
        text.push_str(&line(row));
    }
    if cells.is_empty() {
        text.push_str("(no rows)\n");
    }
    text
}
