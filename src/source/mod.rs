//! Sources: where records come from, split into partitions that are each read in order.
//!
//! A source only produces raw records with their position; it never decodes them.

mod file;

pub use file::{FileReader, RawRecord};

use crate::spec::Format;
use std::path::PathBuf;
use thiserror::Error;

/// A source that cannot be opened.
#[derive(Debug, Error)]
pub enum SourceError {
    /// The URI is not one this build understands.
    #[error("`{0}` is not a source; allowed: file:PATH (a path or a glob, JSONL or CSV)")]
    BadUri(String),
    /// No file matches.
    #[error("{0}: no such file")]
    Missing(String),
    /// The glob pattern is malformed.
    #[error("{pattern}: bad glob pattern: {message}")]
    BadGlob {
        /// The pattern.
        pattern: String,
        /// What is wrong.
        message: String,
    },
    /// A file exists but cannot be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The error.
        source: std::io::Error,
    },
}

/// One independently ordered stream of records.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Partition {
    /// Global partition number (its position in the source listing).
    pub index: usize,
    /// The file.
    pub path: PathBuf,
    /// Its record format.
    pub format: Format,
}

/// Lists the partitions of a `file:` URI: one per file, globs sorted by path.
pub fn partitions(uri: &str, format: Option<Format>) -> Result<Vec<Partition>, SourceError> {
    let pattern = uri
        .strip_prefix("file:")
        .ok_or_else(|| SourceError::BadUri(uri.to_string()))?;
    let paths: Vec<PathBuf> = if pattern.contains(['*', '?', '[']) {
        let mut found: Vec<PathBuf> = glob::glob(pattern)
            .map_err(|e| SourceError::BadGlob {
                pattern: pattern.to_string(),
                message: e.to_string(),
            })?
            .filter_map(Result::ok)
            .collect();
        found.sort();
        found
    } else {
        vec![PathBuf::from(pattern)]
    };
    if paths.is_empty() {
        return Err(SourceError::Missing(pattern.to_string()));
    }
    paths
        .into_iter()
        .enumerate()
        .map(|(index, path)| {
            if !path.is_file() {
                return Err(SourceError::Missing(path.display().to_string()));
            }
            let format = format.unwrap_or_else(|| format_of(&path));
            Ok(Partition {
                index,
                path,
                format,
            })
        })
        .collect()
}

fn format_of(path: &std::path::Path) -> Format {
    match path.extension().and_then(|e| e.to_str()) {
        Some(ext) if ext.eq_ignore_ascii_case("csv") => Format::Csv,
        _ => Format::Json,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_globbed_files_in_order() {
        let dir = tempfile::tempdir().expect("tempdir");
        for name in ["b.jsonl", "a.jsonl", "c.csv"] {
            std::fs::write(dir.path().join(name), "").expect("write");
        }
        let found = partitions(&format!("file:{}/*", dir.path().display()), None).expect("found");
        let names: Vec<_> = found
            .iter()
            .map(|p| p.path.file_name().expect("name").to_owned())
            .collect();
        assert_eq!(names, ["a.jsonl", "b.jsonl", "c.csv"]);
        assert_eq!(found[2].format, Format::Csv);
        assert!(matches!(
            partitions("file:/no/such/file.jsonl", None),
            Err(SourceError::Missing(_))
        ));
        assert!(matches!(
            partitions("kafka://x/y", None),
            Err(SourceError::BadUri(_))
        ));
    }
}
