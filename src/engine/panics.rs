//! What a panic on one of the run's threads does: it ends the process with exit 1, never
//! leaves it hanging.
//!
//! A worker thread that panics (a defect) stops stepping its part of the dataflow, and the
//! other workers wait for its progress forever. So its panic ends the run at once with exit 1
//! and the panic's message, as any failure the run cannot go on from ([`Shared::abort`]):
//! what was written is flushed and nothing is marked final because of it.
//!
//! A lost peer process is such a failure too. timely's communication threads panic when the
//! connection to another process breaks, and every thread of the process follows with panics
//! of its own; the first such panic names the lost process and its address. A peer that ends
//! while this process winds down (its input ended, or a stop) is not lost, and the panics
//! that follow are the end of the run, which the run's own ending handles.

use super::Shared;
use std::sync::Arc;

/// How a run ends on a panic: [`Shared`], the run's state shared by its threads.
pub trait Ending: Send + Sync + 'static {
    /// Whether this process is ending anyway: every worker's input ended, or a stop was
    /// asked for.
    fn winding_down(&self) -> bool;
    /// Flushes what was written and exits with code 1, reporting `message`.
    fn abort(&self, message: String) -> !;
}

impl Ending for Shared {
    fn winding_down(&self) -> bool {
        self.stop.winding_down()
    }

    fn abort(&self, message: String) -> ! {
        Shared::abort(self, message)
    }
}

/// What a panic means, from the thread it happened on and its message.
#[derive(Debug, PartialEq, Eq)]
enum Verdict {
    /// The connection to a peer process broke: the process number, if the thread names it.
    LostPeer(Option<usize>),
    /// A worker thread failed.
    WorkerFailed,
    /// Part of an ending already under way, or not on a thread of the run.
    Ignore,
}

/// The message timely's communication threads panic with when a connection breaks.
const CONNECTION_BROKEN: &str = "timely communication error";

/// Judges a panic on `thread` with `message`; `cluster` tells whether the run has peer
/// processes, `winding_down` whether this process is ending anyway.
fn verdict(thread: Option<&str>, message: &str, cluster: bool, winding_down: bool) -> Verdict {
    let thread = thread.unwrap_or_default();
    if cluster && winding_down {
        // Peers end with this process: their threads' panics are not failures.
        return Verdict::Ignore;
    }
    if message.contains(CONNECTION_BROKEN) {
        if !cluster {
            return Verdict::Ignore;
        }
        // timely names these threads `timely:send-P` / `timely:recv-P` after the peer.
        let peer = thread
            .rsplit('-')
            .next()
            .and_then(|index| index.parse::<usize>().ok())
            .filter(|_| !thread.starts_with(WORKER_THREAD));
        return Verdict::LostPeer(peer);
    }
    if thread.starts_with(WORKER_THREAD) {
        Verdict::WorkerFailed
    } else {
        Verdict::Ignore
    }
}

/// How timely names its worker threads (`timely:work-N`).
const WORKER_THREAD: &str = "timely:work-";

/// The text of a panic's payload.
fn message_of(info: &std::panic::PanicHookInfo<'_>) -> String {
    let payload = info.payload();
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_default()
}

/// Installs the panic hook that ends the run (`shared`) on a failed worker or a lost peer;
/// `addresses` are the processes' addresses in process order (none for a run of one
/// process).
pub fn end_on_panic(shared: Arc<impl Ending>, addresses: Vec<String>) {
    let default = std::panic::take_hook();
    let cluster = addresses.len() > 1;
    std::panic::set_hook(Box::new(move |info| {
        let message = message_of(info);
        let thread = std::thread::current();
        match verdict(thread.name(), &message, cluster, shared.winding_down()) {
            Verdict::Ignore => default(info),
            Verdict::LostPeer(peer) => {
                let who = match peer {
                    Some(p) => format!(
                        "process {p} ({})",
                        addresses.get(p).map_or("?", String::as_str)
                    ),
                    None => "a peer process".to_string(),
                };
                shared.abort(format!(
                    "lost the connection to {who} ({message}); restart every process of the \
                     run: it resumes from the committed positions"
                ))
            }
            Verdict::WorkerFailed => {
                default(info);
                let at = info
                    .location()
                    .map(|l| format!(" at {}:{}", l.file(), l.line()))
                    .unwrap_or_default();
                let failure = format!(
                    "{} panicked{at}: {message} (a defect; please report it)",
                    thread.name().unwrap_or("a worker")
                );
                // Ended from a thread of its own: this one unwinds meanwhile, letting go of
                // what it holds, which flushing the outputs may need.
                let shared = Arc::clone(&shared);
                let ending = std::thread::Builder::new()
                    .name("tidemark:abort".into())
                    .spawn(move || shared.abort(failure));
                if let Err(e) = ending {
                    eprintln!("error: cannot end the run after a panic ({e})");
                    std::process::exit(1);
                }
            }
        }
    }));
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Ends a test process as [`Shared::abort`] ends a run.
    struct TestRun;

    impl Ending for TestRun {
        fn winding_down(&self) -> bool {
            false
        }

        fn abort(&self, message: String) -> ! {
            eprintln!("error: {message}");
            std::process::exit(1)
        }
    }

    /// Run in a process of its own by the test below: a worker thread panics while the
    /// main thread waits for it (and another that never ends), as a run's threads do.
    #[test]
    #[ignore = "run in a process of its own by a_worker_panic_ends_the_process"]
    fn panicking_worker() {
        end_on_panic(Arc::new(TestRun), Vec::new());
        let (_keep, never) = std::sync::mpsc::channel::<()>();
        let waiting = std::thread::Builder::new()
            .name("timely:work-1".into())
            .spawn(move || never.recv())
            .expect("spawn");
        let failing = std::thread::Builder::new()
            .name("timely:work-0".into())
            .spawn(|| panic!("boom"))
            .expect("spawn");
        let _ = failing.join();
        let _ = waiting.join();
        unreachable!("the panic ends the process");
    }

    #[test]
    fn a_worker_panic_ends_the_process() {
        let mut child = std::process::Command::new(std::env::current_exe().expect("test binary"))
            .args([
                "--exact",
                "engine::panics::tests::panicking_worker",
                "--ignored",
            ])
            .args(["--nocapture", "--test-threads=1"])
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("run the test binary");
        // Without the hook the child waits forever: give it a minute before calling it hung.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        let status = loop {
            if let Some(status) = child.try_wait().expect("wait") {
                break status;
            }
            if std::time::Instant::now() > deadline {
                let _ = child.kill();
                panic!("a panicking worker left the process running");
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        };
        let mut stderr = String::new();
        std::io::Read::read_to_string(&mut child.stderr.take().expect("stderr"), &mut stderr)
            .expect("read stderr");
        assert_eq!(status.code(), Some(1), "{stderr}");
        assert!(
            stderr.contains("error: timely:work-0 panicked at src/engine/panics.rs:")
                && stderr.contains(": boom (a defect"),
            "{stderr}"
        );
    }

    #[test]
    fn a_worker_panic_fails_the_run_unless_a_cluster_is_ending() {
        for cluster in [false, true] {
            assert_eq!(
                verdict(Some("timely:work-1"), "index out of bounds", cluster, false),
                Verdict::WorkerFailed
            );
        }
        assert_eq!(
            verdict(Some("timely:work-0"), "oops", false, true),
            Verdict::WorkerFailed,
            "a process of its own has no peers to end with"
        );
        assert_eq!(
            verdict(Some("timely:work-0"), "oops", true, true),
            Verdict::Ignore
        );
        assert_eq!(verdict(Some("main"), "oops", false, false), Verdict::Ignore);
        assert_eq!(verdict(None, "oops", false, false), Verdict::Ignore);
    }

    #[test]
    fn a_broken_connection_names_the_peer_of_its_thread() {
        let broken = "timely communication error: reading data: connection reset";
        assert_eq!(
            verdict(Some("timely:recv-2"), broken, true, false),
            Verdict::LostPeer(Some(2))
        );
        assert_eq!(
            verdict(Some("timely:work-0"), broken, true, false),
            Verdict::LostPeer(None),
            "a worker's own follow-on panic names no peer"
        );
        assert_eq!(
            verdict(Some("timely:recv-2"), broken, true, true),
            Verdict::Ignore
        );
    }
}
