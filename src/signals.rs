//! SIGTERM and Ctrl-C: the first asks for a graceful stop, which the caller carries out; a
//! second ends the process at once.

use signal_hook::consts::{SIGINT, SIGTERM};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Exit code of a process ended by a second signal (128 + SIGTERM, as a shell reports it).
const FORCED_EXIT: i32 = 143;

/// Whether a stop was asked for.
pub struct StopSignal {
    requested: Arc<AtomicBool>,
}

impl StopSignal {
    /// Listens for SIGTERM and SIGINT.
    pub fn listen() -> std::io::Result<StopSignal> {
        let requested = Arc::new(AtomicBool::new(false));
        for signal in [SIGTERM, SIGINT] {
            // Registered first, so it sees the flag as the earlier signal left it.
            signal_hook::flag::register_conditional_shutdown(
                signal,
                FORCED_EXIT,
                Arc::clone(&requested),
            )?;
            signal_hook::flag::register(signal, Arc::clone(&requested))?;
        }
        Ok(StopSignal { requested })
    }

    /// Whether a stop was asked for.
    pub fn requested(&self) -> bool {
        self.requested.load(Ordering::Relaxed)
    }
}
