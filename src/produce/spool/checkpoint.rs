//! The spool's checkpoint file: how many source messages are handled, and which spooled ones
//! are acknowledged.

/// Where the producer stands, saved beside the segments.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Checkpoint {
    /// What the sources were (a restart with other sources does not skip anything).
    pub sources: String,
    /// Sequence number of the first source message.
    pub base: u64,
    /// Source messages (from the first) that are acknowledged or spooled.
    pub resolved: u64,
    /// Spooled records with a smaller sequence number are acknowledged.
    pub acked: u64,
}

impl Checkpoint {
    pub(super) fn to_text(&self) -> String {
        format!(
            "sources={}\nbase={}\nresolved={}\nacked={}\n",
            self.sources.replace('\n', " "),
            self.base,
            self.resolved,
            self.acked
        )
    }

    pub(super) fn parse(text: &str) -> Option<Checkpoint> {
        let mut checkpoint = Checkpoint::default();
        for line in text.lines() {
            match line.split_once('=')? {
                ("sources", s) => checkpoint.sources = s.to_string(),
                ("base", n) => checkpoint.base = n.parse().ok()?,
                ("resolved", n) => checkpoint.resolved = n.parse().ok()?,
                ("acked", n) => checkpoint.acked = n.parse().ok()?,
                _ => return None,
            }
        }
        Some(checkpoint)
    }
}
