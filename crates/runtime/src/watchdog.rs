//! The deadline watchdog: one timer thread per [`Runtime`](crate::Runtime)
//! that interrupts guest code running past its deadline.
//!
//! wasmer's `Store::interrupter()` delivers `SIGUSR1` to the thread running
//! the store. Delivery is best effort: it does nothing while the store is not
//! inside a wasm call, and a signal that lands while a host function runs is
//! dropped. So an expired entry is interrupted again every
//! [`RETRY_INTERVAL`] until the invocation disarms it, which it does only
//! once the call has returned. Host functions check the deadline themselves,
//! so a guest that spends its time in host calls also ends on time.
//!
//! Arming and disarming is a mutex-protected insert and remove in an ordered
//! map; the timer thread is woken only when an entry becomes the earliest.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

use wasmer::Interrupter;

/// How often an expired, still-running call is interrupted again.
pub const RETRY_INTERVAL: Duration = Duration::from_millis(1);

type Key = (Instant, u64);

struct Entry {
    interrupter: Interrupter,
    state: Arc<EntryState>,
}

#[derive(Default)]
struct EntryState {
    /// The call has returned; the entry must not be re-queued.
    done: AtomicBool,
}

#[derive(Default)]
struct Queue {
    entries: BTreeMap<Key, Entry>,
    /// When the timer thread will next wake by itself; `None` while it
    /// waits for work. A new entry wakes it only if it is due earlier, so a
    /// steady stream of calls with similar deadlines costs no wake-ups.
    sleeping_until: Option<Instant>,
    shutdown: bool,
}

struct Shared {
    queue: Mutex<Queue>,
    wake: Condvar,
    next_id: AtomicU64,
    /// Interrupts sent, for tests and metrics.
    interrupts_sent: AtomicU64,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The timer thread and its queue. Dropping it stops the thread.
pub(crate) struct Watchdog {
    shared: Arc<Shared>,
    thread: Option<thread::JoinHandle<()>>,
}

/// An armed deadline. Disarm it (drop it) only after the guarded call has
/// returned.
pub(crate) struct Armed<'a> {
    watchdog: &'a Watchdog,
    key: Key,
    state: Arc<EntryState>,
}

impl Drop for Armed<'_> {
    fn drop(&mut self) {
        let mut q = self.watchdog.shared.lock();
        // Under the queue lock, so the timer thread either sees `done` or
        // has not yet taken the entry out: a retry re-queues it under a new
        // deadline, where this key no longer finds it.
        self.state.done.store(true, Ordering::Relaxed);
        q.entries.remove(&self.key);
    }
}

impl Watchdog {
    /// Starts the timer thread.
    pub(crate) fn start() -> std::io::Result<Watchdog> {
        let shared = Arc::new(Shared {
            queue: Mutex::new(Queue::default()),
            wake: Condvar::new(),
            next_id: AtomicU64::new(0),
            interrupts_sent: AtomicU64::new(0),
        });
        let thread = thread::Builder::new()
            .name("bitvault-watchdog".into())
            .spawn({
                let shared = shared.clone();
                move || run(&shared)
            })?;
        Ok(Watchdog {
            shared,
            thread: Some(thread),
        })
    }

    /// Arms a deadline for the store behind `interrupter`.
    pub(crate) fn arm(&self, deadline: Instant, interrupter: Interrupter) -> Armed<'_> {
        let key = (
            deadline,
            self.shared.next_id.fetch_add(1, Ordering::Relaxed),
        );
        let state = Arc::new(EntryState::default());
        let wake = {
            let mut q = self.shared.lock();
            q.entries.insert(
                key,
                Entry {
                    interrupter,
                    state: state.clone(),
                },
            );
            match q.sleeping_until {
                Some(t) if t <= deadline => false,
                _ => {
                    // Due before the thread's next wake-up (or it is idle):
                    // it must re-plan now.
                    q.sleeping_until = Some(deadline);
                    true
                }
            }
        };
        if wake {
            self.shared.wake.notify_one();
        }
        Armed {
            watchdog: self,
            key,
            state,
        }
    }

    /// Interrupt signals sent since the watchdog started.
    pub(crate) fn interrupts_sent(&self) -> u64 {
        self.shared.interrupts_sent.load(Ordering::Relaxed)
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        self.shared.lock().shutdown = true;
        self.shared.wake.notify_one();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn run(shared: &Shared) {
    let mut q = shared.lock();
    loop {
        if q.shutdown {
            return;
        }
        let now = Instant::now();
        let Some((&(deadline, _), _)) = q.entries.first_key_value() else {
            q.sleeping_until = None;
            q = shared.wake.wait(q).unwrap_or_else(|p| p.into_inner());
            continue;
        };
        if deadline > now {
            q.sleeping_until = Some(deadline);
            q = shared
                .wake
                .wait_timeout(q, deadline - now)
                .unwrap_or_else(|p| p.into_inner())
                .0;
            continue;
        }
        // Interrupt every expired entry, and re-queue it for a retry: it
        // leaves the queue only when its call disarms it.
        let retry_at = now + RETRY_INTERVAL;
        while let Some(entry) = q.entries.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let (key, e) = entry.remove_entry();
            if e.state.done.load(Ordering::Relaxed) {
                continue;
            }
            e.interrupter.interrupt();
            shared.interrupts_sent.fetch_add(1, Ordering::Relaxed);
            q.entries.insert((retry_at, key.1), e);
        }
    }
}
