//! Attribution of heap allocations to filo's own code.
//!
//! With the `alloc-audit` feature, every public `Endpoint`/`Conn` entry point
//! marks the thread as "in filo" and every call into quiche marks it as
//! "in quiche". A counting global allocator in a test or bench can then ask
//! [`in_filo_code`] on each allocation and count only filo's own. Without
//! the feature the markers compile to nothing.

#[cfg(feature = "alloc-audit")]
mod imp {
    use std::cell::Cell;

    thread_local! {
        static FILO: Cell<u32> = const { Cell::new(0) };
        static QUICHE: Cell<u32> = const { Cell::new(0) };
    }

    /// Whether the current thread is running filo's code, outside quiche.
    pub fn in_filo_code() -> bool {
        FILO.with(Cell::get) > 0 && QUICHE.with(Cell::get) == 0
    }

    /// Whether the current thread is inside a call into quiche.
    pub fn in_quiche() -> bool {
        QUICHE.with(Cell::get) > 0
    }

    thread_local! {
        static COUNTING: Cell<bool> = const { Cell::new(false) };
        static TOTAL: Cell<u64> = const { Cell::new(0) };
        static OWN: Cell<u64> = const { Cell::new(0) };
        static INSIDE_QUICHE: Cell<u64> = const { Cell::new(0) };
    }

    /// Allocations seen on one thread while [`measure`] ran, by owner.
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
    pub struct AllocCounts {
        /// Every allocation (and reallocation).
        pub total: u64,
        /// Made by filo-core's own code (outside quiche).
        pub filo: u64,
        /// Made inside calls into quiche.
        pub quiche: u64,
    }

    impl AllocCounts {
        /// Neither filo-core's nor quiche's: the caller's.
        pub fn other(&self) -> u64 {
            self.total - self.filo - self.quiche
        }
    }

    impl std::ops::AddAssign for AllocCounts {
        fn add_assign(&mut self, o: Self) {
            self.total += o.total;
            self.filo += o.filo;
            self.quiche += o.quiche;
        }
    }

    /// A global allocator that forwards to the system allocator and, while
    /// [`measure`] runs on a thread, counts that thread's allocations by
    /// owner. Install it in a test or bench binary:
    /// `#[global_allocator] static A: CountingAlloc = CountingAlloc;`
    #[derive(Debug)]
    pub struct CountingAlloc;

    fn count() {
        let _ = COUNTING.try_with(|on| {
            if on.get() {
                TOTAL.with(|c| c.set(c.get() + 1));
                if in_filo_code() {
                    OWN.with(|c| c.set(c.get() + 1));
                } else if in_quiche() {
                    INSIDE_QUICHE.with(|c| c.set(c.get() + 1));
                }
            }
        });
    }

    // SAFETY: every call forwards to the system allocator unchanged;
    // counting touches only const-initialised thread-locals, which never
    // allocate.
    unsafe impl std::alloc::GlobalAlloc for CountingAlloc {
        unsafe fn alloc(&self, layout: std::alloc::Layout) -> *mut u8 {
            count();
            // SAFETY: same contract as the caller's.
            unsafe { std::alloc::System.alloc(layout) }
        }
        unsafe fn alloc_zeroed(&self, layout: std::alloc::Layout) -> *mut u8 {
            count();
            // SAFETY: same contract as the caller's.
            unsafe { std::alloc::System.alloc_zeroed(layout) }
        }
        unsafe fn realloc(&self, ptr: *mut u8, layout: std::alloc::Layout, size: usize) -> *mut u8 {
            count();
            // SAFETY: same contract as the caller's.
            unsafe { std::alloc::System.realloc(ptr, layout, size) }
        }
        unsafe fn dealloc(&self, ptr: *mut u8, layout: std::alloc::Layout) {
            // SAFETY: same contract as the caller's.
            unsafe { std::alloc::System.dealloc(ptr, layout) }
        }
    }

    /// Runs `f` with counting on for this thread; returns what was
    /// allocated meanwhile (needs [`CountingAlloc`] installed).
    pub fn measure<R>(f: impl FnOnce() -> R) -> (R, AllocCounts) {
        let get = || AllocCounts {
            total: TOTAL.with(Cell::get),
            filo: OWN.with(Cell::get),
            quiche: INSIDE_QUICHE.with(Cell::get),
        };
        let before = get();
        COUNTING.with(|on| on.set(true));
        let r = f();
        COUNTING.with(|on| on.set(false));
        let after = get();
        (
            r,
            AllocCounts {
                total: after.total - before.total,
                filo: after.filo - before.filo,
                quiche: after.quiche - before.quiche,
            },
        )
    }

    #[derive(Debug)]
    pub(crate) struct Scope(&'static std::thread::LocalKey<Cell<u32>>);

    impl Scope {
        pub(crate) fn filo() -> Self {
            FILO.with(|c| c.set(c.get() + 1));
            Scope(&FILO)
        }
        pub(crate) fn quiche() -> Self {
            QUICHE.with(|c| c.set(c.get() + 1));
            Scope(&QUICHE)
        }
    }

    impl Drop for Scope {
        fn drop(&mut self) {
            self.0.with(|c| c.set(c.get().saturating_sub(1)));
        }
    }
}

#[cfg(not(feature = "alloc-audit"))]
mod imp {
    #[derive(Debug)]
    pub(crate) struct Scope;

    impl Scope {
        #[inline(always)]
        pub(crate) fn filo() -> Self {
            Scope
        }
        #[inline(always)]
        pub(crate) fn quiche() -> Self {
            Scope
        }
    }
}

pub(crate) use imp::Scope;
#[cfg(feature = "alloc-audit")]
pub use imp::{AllocCounts, CountingAlloc, in_filo_code, in_quiche, measure};

/// Runs an expression as a call into quiche (allocations inside it are
/// quiche's, not filo's).
macro_rules! q {
    ($e:expr) => {{
        let _quiche_scope = $crate::alloc_audit::Scope::quiche();
        $e
    }};
}
pub(crate) use q;
