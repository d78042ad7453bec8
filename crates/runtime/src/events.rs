//! Events plugins publish with `emit_event`, and the bus that carries them.
//!
//! An [`Event`] carries its tenant, the plugin that published it, its topic,
//! payload and **causal depth**: an event published by a plugin invoked
//! directly has depth 1; a plugin invoked to handle an event of depth `d`
//! (the embedder passes `d` in [`EventBinding::depth`]) publishes at
//! `d + 1`. Publishing past [`EventLimits::max_depth`] is refused with
//! `depth_exceeded`, which cuts emit → handler → emit loops.
//!
//! [`EventBus`] is the trait a host implements to carry events further;
//! [`InProcessBus`] is the in-process default, which any number of host
//! subscribers read from bounded queues.

use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex};

use bytes::Bytes;

/// One published event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// The tenant the publishing invocation ran for.
    pub tenant: String,
    /// The plugin that published it.
    pub source: String,
    /// The invocation that published it.
    pub invocation_id: u64,
    /// The topic, one the plugin's grant allows.
    pub topic: String,
    /// The payload bytes.
    pub payload: Bytes,
    /// The causal depth: 1 for an event published by a directly invoked
    /// plugin, one more than the triggering event's otherwise.
    pub depth: u32,
}

/// Why the bus did not take an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum EventError {
    /// A subscriber's queue is full.
    #[error("an event subscriber's queue is full")]
    Full,
}

/// Carries published events to the host.
pub trait EventBus: Send + Sync {
    /// Publishes one event. It runs inside the publishing invocation, on
    /// its deadline: it must not block for long.
    ///
    /// # Errors
    /// [`EventError`] when the event cannot be taken now; the plugin gets
    /// `unavailable`.
    fn publish(&self, event: Event) -> Result<(), EventError>;
}

/// The in-process bus: every subscriber gets every event, through a
/// bounded queue; a subscriber whose queue is full misses the event and the
/// publish reports [`EventError::Full`]. An event published while no one
/// subscribes is dropped.
#[derive(Debug)]
pub struct InProcessBus {
    capacity: usize,
    subscribers: Mutex<Vec<SyncSender<Event>>>,
}

impl InProcessBus {
    /// A bus whose subscriber queues hold `capacity` events each.
    pub fn new(capacity: usize) -> InProcessBus {
        InProcessBus {
            capacity,
            subscribers: Mutex::new(Vec::new()),
        }
    }

    /// A new subscriber: it receives every event published from now on.
    /// Dropping the receiver unsubscribes.
    pub fn subscribe(&self) -> Receiver<Event> {
        let (tx, rx) = sync_channel(self.capacity);
        self.subscribers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(tx);
        rx
    }
}

impl EventBus for InProcessBus {
    fn publish(&self, event: Event) -> Result<(), EventError> {
        let mut subs = self.subscribers.lock().unwrap_or_else(|p| p.into_inner());
        // Every subscriber with room gets the event; if one is full it
        // misses it and the publisher is told (the plugin sees
        // `unavailable`).
        let mut full = false;
        subs.retain(|s| match s.try_send(event.clone()) {
            Ok(()) => true,
            Err(TrySendError::Full(_)) => {
                full = true;
                true
            }
            Err(TrySendError::Disconnected(_)) => false,
        });
        if full { Err(EventError::Full) } else { Ok(()) }
    }
}

/// Bounds on what one invocation may publish.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventLimits {
    /// The deepest causal depth an event may have.
    pub max_depth: u32,
    /// The largest payload, in bytes.
    pub max_payload_bytes: u32,
}

impl EventLimits {
    /// A depth of 8 and payloads of 256 KiB.
    pub const fn standard() -> EventLimits {
        EventLimits {
            max_depth: 8,
            max_payload_bytes: 256 << 10,
        }
    }
}

/// The bus an invocation publishes on, and where it sits in a causal chain.
#[derive(Clone)]
pub struct EventBinding {
    /// The bus.
    pub bus: Arc<dyn EventBus>,
    /// The causal depth of the event this invocation handles (0 for a
    /// direct invocation).
    pub depth: u32,
    /// The bounds.
    pub limits: EventLimits,
}

impl std::fmt::Debug for EventBinding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventBinding")
            .field("depth", &self.depth)
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}
