//! A `tidemark` process started in the background, its standard error in a file, killed
//! however the test ends.

use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus};
use std::time::{Duration, Instant};

/// A running process and the file its standard error goes to.
pub struct Engine {
    child: Child,
    log: PathBuf,
}

impl Engine {
    /// Starts `command` with its standard error in `log`.
    pub fn spawn(mut command: Command, log: PathBuf) -> Engine {
        let child = command
            .stderr(std::fs::File::create(&log).expect("log"))
            .spawn()
            .expect("spawn tidemark");
        Engine { child, log }
    }

    /// Its standard error so far.
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.log).expect("log")
    }

    /// Whether it still runs.
    pub fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// SIGKILL, and waits for it to be gone.
    pub fn kill(&mut self) {
        self.child.kill().expect("SIGKILL");
        let _ = self.child.wait();
    }

    /// Sends SIGTERM (a graceful stop).
    pub fn terminate(&self) {
        // SAFETY: kill(2) with a valid signal on our own child's pid has no memory effects.
        unsafe {
            libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM);
        }
    }

    /// Waits (at most 90 s) for it to end by itself; `what` says what it was waited for.
    pub fn wait(&mut self, what: &str) -> ExitStatus {
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status;
            }
            assert!(Instant::now() < deadline, "{what}: {}", self.stderr());
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
