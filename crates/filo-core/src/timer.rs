//! One timer structure for all connections: a binary heap of
//! `(deadline, slot, generation)` with lazy invalidation.
//!
//! Each connection remembers the earliest deadline it has in the heap
//! (`scheduled`). A new deadline is pushed only when it is earlier than that;
//! a later one is found when the earlier entry pops and the connection's real
//! deadline is re-read. Entries whose slot was freed (generation changed) or
//! that no longer match `scheduled` are skipped. `handle_timeout` therefore
//! touches only connections whose entry came due, never every connection.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::Instant;

/// A heap entry: when, which slot, which occupant of the slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct TimerEntry {
    pub(crate) at: Instant,
    pub(crate) slot: u32,
    pub(crate) generation: u32,
}

#[derive(Debug, Default)]
pub(crate) struct TimerQueue {
    heap: BinaryHeap<Reverse<TimerEntry>>,
}

impl TimerQueue {
    pub(crate) fn with_capacity(n: usize) -> Self {
        Self {
            heap: BinaryHeap::with_capacity(n),
        }
    }

    /// Schedules `deadline` for a connection whose earliest heap entry is
    /// `*scheduled`, updating it. Returns whether an entry was pushed.
    pub(crate) fn schedule(
        &mut self,
        scheduled: &mut Option<Instant>,
        slot: u32,
        generation: u32,
        deadline: Option<Instant>,
    ) -> bool {
        let Some(at) = deadline else { return false };
        if scheduled.is_some_and(|s| s <= at) {
            return false;
        }
        *scheduled = Some(at);
        self.heap.push(Reverse(TimerEntry {
            at,
            slot,
            generation,
        }));
        true
    }

    /// The earliest entry, possibly stale (waking early is harmless).
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.heap.peek().map(|Reverse(e)| e.at)
    }

    /// Pops the next entry due at or before `now`.
    pub(crate) fn pop_due(&mut self, now: Instant) -> Option<TimerEntry> {
        if self.heap.peek()?.0.at > now {
            return None;
        }
        self.heap.pop().map(|Reverse(e)| e)
    }

    pub(crate) fn len(&self) -> usize {
        self.heap.len()
    }

    /// Drops entries `keep` says are stale. Call when the heap has grown
    /// well past the number of live connections.
    pub(crate) fn compact(&mut self, mut keep: impl FnMut(&TimerEntry) -> bool) {
        self.heap.retain(|Reverse(e)| keep(e));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn only_earlier_deadlines_push() {
        let t0 = crate::test_now();
        let mut q = TimerQueue::with_capacity(4);
        let mut s = None;
        assert!(q.schedule(&mut s, 1, 0, Some(t0 + Duration::from_secs(5))));
        assert!(!q.schedule(&mut s, 1, 0, Some(t0 + Duration::from_secs(9))));
        assert!(q.schedule(&mut s, 1, 0, Some(t0 + Duration::from_secs(2))));
        assert_eq!(q.len(), 2);
        assert_eq!(q.next_deadline(), Some(t0 + Duration::from_secs(2)));
        assert!(q.pop_due(t0 + Duration::from_secs(1)).is_none());
        let e = q.pop_due(t0 + Duration::from_secs(3)).unwrap();
        assert_eq!((e.slot, e.at), (1, t0 + Duration::from_secs(2)));
        q.compact(|e| e.at == s.unwrap());
        assert_eq!(q.len(), 0);
    }
}
