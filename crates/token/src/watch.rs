//! Card presence by polling: SoftHSM2 and many PC/SC readers offer no usable slot events.

use std::collections::BTreeSet;
use std::thread::JoinHandle;
use std::time::Duration;

use crate::Module;

/// The polling interval the agent should use: well inside the portal's one-second rule
/// (a removal is seen one interval plus one slot listing after it happens).
pub const DEFAULT_WATCH_INTERVAL: Duration = Duration::from_millis(150);

/// A card appeared or disappeared (by token serial).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum CardEvent {
    /// A card with this serial appeared.
    Inserted(String),
    /// The card with this serial disappeared.
    Removed(String),
}

/// Watches which cards are present by listing the slots and reading each token's serial
/// every `interval` (see [`DEFAULT_WATCH_INTERVAL`]) on a background thread, and calls
/// `on_event` for every change until it returns false. Cards present when watching starts
/// are not reported (list them with [`Module::initialised_cards`] first).
///
/// A card swapped for another between two polls is reported as the old one removed and the
/// new one inserted. When the slot list cannot be read at all, every card counts as removed:
/// a login that depends on the card must end rather than outlive it.
pub fn watch(
    module: Module,
    interval: Duration,
    mut on_event: impl FnMut(CardEvent) -> bool + Send + 'static,
) -> JoinHandle<()> {
    std::thread::spawn(move || {
        let mut present: BTreeSet<String> = module.present_serials().into_iter().collect();
        loop {
            std::thread::sleep(interval);
            let now: BTreeSet<String> = module.present_serials().into_iter().collect();
            let removed = present.difference(&now).map(|s| CardEvent::Removed(s.clone()));
            let inserted = now.difference(&present).map(|s| CardEvent::Inserted(s.clone()));
            for event in removed.chain(inserted) {
                tracing::debug!(?event, "card presence changed");
                if !on_event(event) {
                    return;
                }
            }
            present = now;
        }
    })
}
