//! Controlling the services of `scripts/services.sh` (for outage tests).

use super::root;
use std::process::Command;

/// Runs `scripts/services.sh ACTION SERVICE` on the same state (for outage tests).
pub fn services(action: &str, service: &str) {
    let status = Command::new(root().join("scripts/services.sh"))
        .args([action, service])
        .env("TIDEMARK_KEEP_STATE", "1")
        .status()
        .expect("run scripts/services.sh");
    assert!(
        status.success(),
        "scripts/services.sh {action} {service} failed"
    );
}
