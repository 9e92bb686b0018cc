//! The commit metadata that carries where a partition resumes.

use crate::source::Resume;

/// The commit metadata that carries a partition's resume point: its watermark at the
/// committed offset and the durable frontier at the time.
pub(super) fn resume_metadata(resume: Resume) -> String {
    let watermark = resume
        .watermark
        .map_or("none".to_string(), |w| w.to_string());
    format!("tidemark-watermark={watermark};settled={}", resume.settled)
}

pub(super) fn parse_resume_metadata(metadata: &str) -> Resume {
    let mut resume = Resume::default();
    for part in metadata.split(';') {
        match part.split_once('=') {
            Some(("tidemark-watermark", w)) => resume.watermark = w.parse().ok(),
            Some(("settled", s)) => resume.settled = s.parse().unwrap_or(0),
            _ => {}
        }
    }
    resume
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resume_metadata_round_trips() {
        let resume = Resume {
            watermark: Some(42),
            settled: 7,
        };
        assert_eq!(parse_resume_metadata(&resume_metadata(resume)), resume);
        let empty = Resume {
            watermark: None,
            settled: 0,
        };
        assert_eq!(parse_resume_metadata(&resume_metadata(empty)), empty);
        assert_eq!(
            parse_resume_metadata("written by another tool"),
            Resume::default()
        );
    }
}
