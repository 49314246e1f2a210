//! The count of traces head sampling dropped at their root (`DeliveryReport::sampled_out`), kept
//! per thread: counting one is a load and a store on the thread's own slot. One shared counter
//! took a locked add on a cache line every thread writes, about as long as the rest of a
//! dropped root.
//!
//! A thread takes a slot from a process-wide list at its first count and hands it back when it
//! exits; the next thread to need one reuses it and keeps adding to the same sum, so there are
//! never more slots than threads that counted at the same time. [`total`] sums the slots: it
//! includes every count that happens-before the call (made on the calling thread, or on a thread
//! joined since). A client reports the difference between the totals at its install and now.

use std::cell::Cell;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// One thread's count, on a cache line of its own (two threads writing neighbouring counts
/// would move the line between their cores on every count).
#[repr(align(128))]
struct Slot(AtomicU64);

impl Slot {
    /// Adds one. Only the thread holding the slot writes it, so a load and a store add exactly
    /// (no lock prefix); the mutex that handed the slot over ordered the previous holder's
    /// stores before this thread's.
    #[inline]
    fn add_one(&self) {
        self.0
            .store(self.0.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
    }
}

/// Every slot ever made (`all`) and those no thread holds (`free`).
struct Slots {
    all: Vec<&'static Slot>,
    free: Vec<&'static Slot>,
}

static SLOTS: Mutex<Slots> = Mutex::new(Slots {
    all: Vec::new(),
    free: Vec::new(),
});

/// Counts made by a thread that cannot hold a slot: one whose thread-locals are being destroyed
/// (a span ended by another thread-local's destructor).
static UNSLOTTED: AtomicU64 = AtomicU64::new(0);

thread_local! {
    /// This thread's slot: `None` before its first count and after its slot went back. No
    /// destructor, so reading it is a plain load, also while the thread exits.
    static SLOT: Cell<Option<&'static Slot>> = const { Cell::new(None) };
    /// Hands the slot back when the thread exits; touched only when the thread takes one.
    static RELEASE: ReleaseSlot = const { ReleaseSlot };
}

/// The destructor that returns this thread's slot to the free list.
struct ReleaseSlot;

impl Drop for ReleaseSlot {
    fn drop(&mut self) {
        if let Some(slot) = SLOT.replace(None) {
            lock().free.push(slot);
        }
    }
}

fn lock() -> std::sync::MutexGuard<'static, Slots> {
    SLOTS.lock().unwrap_or_else(|e| e.into_inner())
}

/// Counts one dropped root on this thread.
#[inline]
pub(crate) fn add_one() {
    match SLOT.get() {
        Some(slot) => slot.add_one(),
        None => add_one_unslotted(),
    }
}

/// The first count of a thread: takes a slot (a free one, or a new one), then counts.
#[cold]
fn add_one_unslotted() {
    // Registering the release fails once the thread's destructors have started: count in the
    // shared counter then, so the count is still exact.
    if RELEASE.try_with(|_| ()).is_err() {
        UNSLOTTED.fetch_add(1, Ordering::Relaxed);
        return;
    }
    let slot = {
        let mut slots = lock();
        match slots.free.pop() {
            Some(slot) => slot,
            None => {
                let slot: &'static Slot = Box::leak(Box::new(Slot(AtomicU64::new(0))));
                slots.all.push(slot);
                slot
            }
        }
    };
    SLOT.set(Some(slot));
    slot.add_one();
}

/// Every dropped root counted so far by any thread (see the module's note on what is included).
pub(crate) fn total() -> u64 {
    let slots = lock();
    let counted: u64 = slots.all.iter().map(|s| s.0.load(Ordering::Relaxed)).sum();
    counted + UNSLOTTED.load(Ordering::Relaxed)
}

/// How many slots exist: at most the number of threads that counted at the same time.
#[cfg(test)]
fn slot_count() -> usize {
    lock().all.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Other tests of this crate count too (any dropped root does), so each test measures
    /// differences and holds this lock to keep the others' threads out of its window.
    static SERIAL: Mutex<()> = Mutex::new(());

    #[test]
    fn counts_on_many_threads_are_exact_after_they_exit() {
        let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
        let before = total();
        let threads: Vec<_> = (0..8u64)
            .map(|t| {
                std::thread::spawn(move || {
                    for _ in 0..1_000 + t {
                        add_one();
                    }
                })
            })
            .collect();
        for t in threads {
            assert!(t.join().is_ok());
        }
        add_one();
        assert_eq!(total() - before, 8 * 1_000 + (0..8).sum::<u64>() + 1);
    }

    #[test]
    fn an_exited_threads_slot_is_reused_and_keeps_its_count() {
        let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
        let before = total();
        let count_on_a_thread = |n: u64| {
            let t = std::thread::spawn(move || (0..n).for_each(|_| add_one()));
            assert!(t.join().is_ok());
        };
        count_on_a_thread(1);
        let slots = slot_count();
        for n in 2..50 {
            count_on_a_thread(n);
        }
        assert_eq!(slot_count(), slots, "one thread at a time reuses one slot");
        assert_eq!(total() - before, (1..50).sum::<u64>());
    }
}
