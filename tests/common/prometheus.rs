//! PromQL over a real Prometheus server's HTTP API.

use super::dashboard::get;

/// A Prometheus server's query API.
pub struct PromQl {
    /// `http://HOST:PORT`.
    pub url: String,
}

impl PromQl {
    /// The series of an instant PromQL query (`None` while Prometheus is not up, or not
    /// ready yet: it answers 503 while it loads its storage).
    pub fn query(&self, query: &str) -> Option<Vec<serde_json::Value>> {
        let encoded: String = form_urlencoded::byte_serialize(query.as_bytes()).collect();
        let url = format!("{}/api/v1/query?query={encoded}", self.url);
        ureq::get(&format!("{}/-/ready", self.url)).call().ok()?;
        let (status, body) = get(&url);
        assert_eq!(status, 200, "{query}: {body}");
        assert_eq!(body["status"], "success", "{query}: {body}");
        body["data"]["result"].as_array().cloned()
    }

    /// The value of an instant PromQL query with one series, once Prometheus has one.
    pub fn value(&self, query: &str) -> Option<f64> {
        let result = self.query(query)?;
        let [series] = result.as_slice() else {
            return None;
        };
        series["value"][1].as_str()?.parse().ok()
    }
}
