//! What open sessions hold back: the position a source may commit.
//!
//! A session has no fixed end, so a record's part in it is done only when the session is
//! final. Each worker's window operator reports the first event of its earliest open session
//! here; a small operator holds a capability there, and the sources read the frontier of its
//! (empty) stream through a probe: across all workers and processes, no committed position
//! passes the first event of a session that is still open, so a restart reads open sessions
//! again whole. The frontier of the rows themselves is not held, so results are written and a
//! graceful stop settles as without sessions.

use super::aggregate_ops::FrontierOnly;
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use timely::container::CapacityContainerBuilder;
use timely::dataflow::operators::generic::operator::source;
use timely::dataflow::Scope;
use timely::scheduling::Activator;

/// Where this worker's open sessions hold the committed frontier, shared by its window
/// operator (which sets it) and its hold operator (which follows it).
#[derive(Default)]
pub struct SessionHold {
    /// The time to hold at; `None` once the window operator's input is complete and no
    /// session is open.
    at: Cell<Option<u64>>,
    wake: RefCell<Option<Activator>>,
}

impl SessionHold {
    /// Holds at `at` (no earlier than before), or lets go for good with `None`.
    pub fn set(&self, at: Option<u64>) {
        if self.at.get() != at {
            self.at.set(at);
            if let Some(wake) = self.wake.borrow().as_ref() {
                wake.activate();
            }
        }
    }
}

/// The operator that holds a capability where `hold` says; its stream carries no data, only
/// the frontier.
pub fn hold_stream<'s>(scope: Scope<'s, u64>, hold: Rc<SessionHold>) -> FrontierOnly<'s> {
    hold.at.set(Some(0));
    source::<_, CapacityContainerBuilder<Vec<()>>, _, _>(
        scope,
        "SessionHold",
        move |capability, info| {
            *hold.wake.borrow_mut() = Some(scope.activator_for(info.address));
            let mut capability = Some(capability);
            move |_output| match (hold.at.get(), capability.as_mut()) {
                (Some(at), Some(cap)) if at > *cap.time() => cap.downgrade(&at),
                (Some(_), _) => {}
                (None, _) => capability = None,
            }
        },
    )
}
