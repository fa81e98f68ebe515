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
pub use imp::{in_filo_code, in_quiche};

/// Runs an expression as a call into quiche (allocations inside it are
/// quiche's, not filo's).
macro_rules! q {
    ($e:expr) => {{
        let _quiche_scope = $crate::alloc_audit::Scope::quiche();
        $e
    }};
}
pub(crate) use q;
