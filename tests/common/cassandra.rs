//! The Cassandra node the tests use, unique keyspaces, and queries on it.

use scylla::client::session::Session;
use scylla::client::session_builder::SessionBuilder;
use scylla::response::query_result::QueryRowsResult;

/// The Cassandra node (`scripts/services.sh up`, or `TIDEMARK_CASSANDRA=host:port`).
pub fn node() -> String {
    std::env::var("TIDEMARK_CASSANDRA").unwrap_or_else(|_| "127.0.0.1:9042".to_string())
}

/// A keyspace name no other test run uses.
pub fn keyspace(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_nanos();
    format!("{prefix}_{}_{}", std::process::id(), nanos % 1_000_000_000)
}

/// The sink URI of a keyspace on the node.
pub fn sink(keyspace: &str) -> String {
    format!("cassandra://{}/{keyspace}", node())
}

/// A session on the node, with the runtime it runs on.
pub struct Cassandra {
    /// The runtime the session's requests run on.
    pub runtime: tokio::runtime::Runtime,
    /// The session.
    pub session: Session,
}

impl Cassandra {
    /// Connects to the node.
    pub fn connect() -> Cassandra {
        Cassandra::connect_to(&node(), None)
    }

    /// Connects to `node`, logging in as `login` (user, password) when given.
    pub fn connect_to(node: &str, login: Option<(&str, &str)>) -> Cassandra {
        let runtime = tokio::runtime::Runtime::new().expect("runtime");
        let mut builder = SessionBuilder::new().known_node(node);
        if let Some((user, password)) = login {
            builder = builder.user(user, password);
        }
        let session = runtime
            .block_on(builder.build())
            .unwrap_or_else(|e| panic!("connect to Cassandra at {node} (is it running?): {e}"));
        Cassandra { runtime, session }
    }

    /// Every row of every table of `keyspace`, as `TABLE JSON` lines.
    pub fn rows_of_keyspace(&self, keyspace: &str) -> std::collections::BTreeSet<String> {
        let tables = self.query(&format!(
            "SELECT table_name FROM system_schema.tables WHERE keyspace_name = '{keyspace}'"
        ));
        let mut rows = std::collections::BTreeSet::new();
        for table in tables.rows::<(String,)>().expect("names") {
            let (table,) = table.expect("name");
            let result = self.query(&format!("SELECT JSON * FROM {keyspace}.{table}"));
            for row in result.rows::<(String,)>().expect("json") {
                rows.insert(format!("{table} {}", row.expect("row").0));
            }
        }
        rows
    }

    /// Runs one statement and returns its rows.
    pub fn query(&self, cql: &str) -> QueryRowsResult {
        self.runtime
            .block_on(self.session.query_unpaged(cql, ()))
            .unwrap_or_else(|e| panic!("{cql}: {e}"))
            .into_rows_result()
            .unwrap_or_else(|e| panic!("{cql}: {e}"))
    }

    /// Runs one statement that returns no rows.
    pub fn execute(&self, cql: &str) {
        self.runtime
            .block_on(self.session.query_unpaged(cql, ()))
            .unwrap_or_else(|e| panic!("{cql}: {e}"));
    }
}
