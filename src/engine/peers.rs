//! A peer process lost while running. timely's communication threads panic when the
//! connection to another process breaks, and every thread of the process follows with
//! panics of its own; instead, the first such panic ends the run at once with exit 1, naming
//! the lost process and its address. Nothing is marked final because of it
//! ([`Shared::abort`]): restarting every process resumes from the committed positions. A
//! peer that ends while this process winds down (its input ended, or a stop) is not lost.

use super::Shared;
use std::sync::Arc;

/// Installs the panic hook that turns a broken connection to another process into a failure
/// naming it; `addresses` are the processes' addresses in process order.
pub fn end_on_lost_peer(shared: Arc<Shared>, addresses: Vec<String>) {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let payload = info.payload();
        let message = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_default();
        // A peer that ends while this process winds down too (its input ended, or a stop)
        // is the end of the run; the run's own ending handles it.
        if message.contains("timely communication error") && !shared.stop.winding_down() {
            // timely names these threads `timely:send-P` / `timely:recv-P` after the peer.
            let peer = std::thread::current()
                .name()
                .and_then(|name| name.rsplit('-').next())
                .and_then(|index| index.parse::<usize>().ok());
            let who = match peer {
                Some(p) => format!(
                    "process {p} ({})",
                    addresses.get(p).map_or("?", String::as_str)
                ),
                None => "a peer process".to_string(),
            };
            shared.abort(format!(
                "lost the connection to {who} ({message}); restart every process of the run: \
                 it resumes from the committed positions"
            ));
        }
        default(info);
    }));
}
