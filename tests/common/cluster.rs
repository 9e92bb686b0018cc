//! The loopback cluster of `scripts/cluster.sh`: two Kafka brokers (with SASL and TLS
//! listeners), a Cassandra node with password authentication and TLS, and Prometheus.

use super::cassandra::Cassandra;
use super::root;
use std::collections::HashMap;
use std::process::Command;

/// The cluster's addresses and test credentials, as `scripts/cluster.sh env` prints them.
pub struct Cluster {
    vars: HashMap<String, String>,
}

/// The superuser every fresh Cassandra node has; tests create their own roles with it.
const SUPERUSER: (&str, &str) = ("cassandra", "cassandra");

impl Cluster {
    /// The running cluster; fails naming the command that starts it.
    pub fn get() -> Cluster {
        let output = Command::new(root().join("scripts/cluster.sh"))
            .arg("status")
            .output()
            .expect("run scripts/cluster.sh status");
        let status = String::from_utf8_lossy(&output.stdout);
        assert!(
            !status.contains("not running"),
            "the cluster is not (all) up; start it with scripts/cluster.sh up:\n{status}"
        );
        let output = Command::new(root().join("scripts/cluster.sh"))
            .arg("env")
            .output()
            .expect("run scripts/cluster.sh env");
        assert!(output.status.success(), "scripts/cluster.sh env failed");
        let vars = String::from_utf8_lossy(&output.stdout)
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Cluster { vars }
    }

    /// A variable `scripts/cluster.sh env` prints.
    pub fn var(&self, name: &str) -> &str {
        self.vars
            .get(name)
            .unwrap_or_else(|| panic!("scripts/cluster.sh env printed no {name}"))
    }

    /// Both brokers' PLAINTEXT listeners.
    pub fn kafka(&self) -> &str {
        self.var("TIDEMARK_CLUSTER_KAFKA")
    }

    /// Both brokers' SASL_PLAINTEXT listeners.
    pub fn kafka_sasl(&self) -> &str {
        self.var("TIDEMARK_CLUSTER_KAFKA_SASL")
    }

    /// Both brokers' SASL_SSL listeners.
    pub fn kafka_ssl(&self) -> &str {
        self.var("TIDEMARK_CLUSTER_KAFKA_SSL")
    }

    /// The Kafka user (PLAIN and SCRAM).
    pub fn kafka_user(&self) -> &str {
        self.var("TIDEMARK_CLUSTER_KAFKA_USER")
    }

    /// The Kafka user's password.
    pub fn kafka_password(&self) -> &str {
        self.var("TIDEMARK_CLUSTER_KAFKA_PASSWORD")
    }

    /// The CA file (PEM) the brokers' and Cassandra's certificates are signed by.
    pub fn ca(&self) -> &str {
        self.var("TIDEMARK_CLUSTER_CA")
    }

    /// The Cassandra node.
    pub fn cassandra(&self) -> &str {
        self.var("TIDEMARK_CLUSTER_CASSANDRA")
    }

    /// A session on the Cassandra node as its superuser.
    pub fn cassandra_admin(&self) -> Cassandra {
        Cassandra::connect_to(self.cassandra(), Some(SUPERUSER))
    }

    /// Creates a Cassandra role that may log in, with a random password, and returns both.
    pub fn cassandra_role(&self, prefix: &str) -> (String, String) {
        let role = format!("{prefix}_{}", std::process::id());
        let password = random_secret();
        self.cassandra_admin().execute(&format!(
            "CREATE ROLE IF NOT EXISTS {role} WITH LOGIN = true AND SUPERUSER = true AND PASSWORD = '{password}'"
        ));
        // A role made before (an earlier run of this process id) gets the new password.
        self.cassandra_admin()
            .execute(&format!("ALTER ROLE {role} WITH PASSWORD = '{password}'"));
        (role, password)
    }

    /// Runs `scripts/cluster.sh ACTION MEMBER` (kill or start one member).
    pub fn member(&self, action: &str, member: &str) {
        let status = Command::new(root().join("scripts/cluster.sh"))
            .args([action, member])
            .status()
            .expect("run scripts/cluster.sh");
        assert!(
            status.success(),
            "scripts/cluster.sh {action} {member} failed"
        );
    }
}

/// A member killed for a while: started again when this is dropped, however the test ends,
/// so that the tests after it find the whole cluster.
pub struct Downed<'a> {
    cluster: &'a Cluster,
    member: &'static str,
    started: bool,
}

impl Cluster {
    /// SIGKILLs `member`; it is started again by [`Downed::restart`] or when the guard drops.
    pub fn kill_for_a_while(&self, member: &'static str) -> Downed<'_> {
        self.member("kill", member);
        Downed {
            cluster: self,
            member,
            started: false,
        }
    }
}

impl Downed<'_> {
    /// Starts the member again on its state.
    pub fn restart(mut self) {
        self.cluster.member("start", self.member);
        self.started = true;
    }
}

impl Drop for Downed<'_> {
    fn drop(&mut self) {
        if !self.started {
            self.cluster.member("start", self.member);
        }
    }
}

/// A random hexadecimal secret, unlike any text the engine prints.
pub fn random_secret() -> String {
    use std::io::Read;
    let mut bytes = [0u8; 16];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .expect("random bytes");
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
