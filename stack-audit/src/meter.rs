//! The meter: peak stack bytes and heap allocations of one call.
//!
//! **Stack.** [`Meter`] owns a region mapped once, with a `PROT_NONE` guard directly below it
//! (stacks grow down). Before each measurement the region is painted with [`PAINT`]; the call then
//! runs on it through `psm::on_stack`, and afterwards the region is scanned upward from its bottom
//! for the first byte that no longer holds the pattern: everything above it was touched, so the
//! peak is `region size - untouched bytes`. The figure includes the few bytes of the measuring
//! closure itself (see `selftest`). A call that outgrows the region hits the guard and the process
//! dies with `SIGSEGV` instead of corrupting memory. Two known limits: a byte written with the
//! pattern's own value at the deepest point, and frame slots reserved but never written, are not
//! counted (a few bytes at most; the self-test bounds the error).
//!
//! **Allocations.** [`Counting`] is the `#[global_allocator]` of everything linked with this crate
//! (only the audit binary and its tests): it counts allocations and requested bytes per thread in
//! `const`-initialised, drop-free thread-locals (which cannot allocate from inside the allocator).
//! `realloc` counts as one allocation of the new size. Frees are not counted.
//!
//! **Panics.** A panic inside a measured call is caught on the measured stack and reported as
//! [`Measured::panicked`]; during measurements the panic hook is silent, because the default hook
//! with `RUST_BACKTRACE=1` needs ~22 KiB of stack and would be measured (or overflow the region).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::hint::black_box;
use std::panic::{AssertUnwindSafe, catch_unwind};

/// The byte every measurement paints the stack region with.
pub const PAINT: u8 = 0xA5;
/// Size of the measured stack region: far above any budget, so over-budget calls are still
/// measured exactly rather than crashing.
pub const REGION_BYTES: usize = 4 * 1024 * 1024;
/// Size of the `PROT_NONE` guard below the region. Rust probes every page of frames larger than
/// a page, so one page would do; 16 leave room for a frame that skips ahead.
const GUARD_BYTES: usize = 16 * 4096;

/// Serialises the panic-hook swap of [`Meter::measure`].
static HOOK_LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());

thread_local! {
    static ALLOCS: Cell<u64> = const { Cell::new(0) };
    static ALLOC_BYTES: Cell<u64> = const { Cell::new(0) };
}

fn note(bytes: usize) {
    // `try_with`: thread-locals may already be gone while a thread exits.
    let _ = ALLOCS.try_with(|c| c.set(c.get() + 1));
    let _ = ALLOC_BYTES.try_with(|c| c.set(c.get() + bytes as u64));
}

/// The system allocator, counting allocations per thread.
#[derive(Debug)]
pub struct Counting;

// SAFETY: every method forwards to `System` with the caller's arguments unchanged, so `System`'s
// guarantees carry over; `note` only touches drop-free, const-initialised thread-locals and never
// allocates.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        // SAFETY: forwarded unchanged; the caller upholds `GlobalAlloc::alloc`'s contract.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        // SAFETY: as in `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note(new_size);
        // SAFETY: forwarded unchanged; `ptr` was allocated by `System` (through this allocator)
        // with `layout`, as the caller guarantees.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System` (through this allocator) with `layout`.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Allocations and requested bytes made by this thread so far.
pub fn thread_allocations() -> (u64, u64) {
    (ALLOCS.with(Cell::get), ALLOC_BYTES.with(Cell::get))
}

/// What one measured call did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Sample {
    /// Peak stack bytes used, measured on the painted region.
    pub stack_bytes: usize,
    /// Heap allocations (and reallocations) made.
    pub allocations: u64,
    /// Bytes those allocations requested.
    pub alloc_bytes: u64,
}

/// A measurement and the call's result.
#[derive(Debug)]
pub struct Measured<R> {
    /// Stack and allocation figures.
    pub sample: Sample,
    /// The call's return value, or `None` when it panicked.
    pub value: Option<R>,
}

impl<R> Measured<R> {
    /// Whether the call panicked (the panic was caught and silenced).
    pub fn panicked(&self) -> bool {
        self.value.is_none()
    }
}

/// A painted, guarded stack region on which calls are measured. One per thread of measurement;
/// reused for every call.
#[derive(Debug)]
pub struct Meter {
    /// Start of the mapping (the guard).
    map: *mut u8,
    /// Lowest usable byte of the region, directly above the guard.
    base: *mut u8,
    /// Usable bytes of the region.
    region: usize,
    /// Bytes mapped (guard and region, whole pages).
    mapped: usize,
}

impl Meter {
    /// Maps the region and its guard.
    pub fn new() -> std::io::Result<Meter> {
        Meter::with_region(REGION_BYTES)
    }

    /// A meter whose region is only `region` bytes (rounded up to 16): a call that needs more
    /// faults on the guard, which is how `stack-audit --trap BYTES` run under a debugger shows
    /// the call stack at the point where a call crosses `BYTES`.
    pub fn with_region(region: usize) -> std::io::Result<Meter> {
        let region = region.max(64).next_multiple_of(16);
        let total = GUARD_BYTES + region.next_multiple_of(4096);
        // SAFETY: an anonymous private mapping with no address hint has no preconditions; the
        // result is checked against MAP_FAILED before use.
        let map = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                total,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        if map == libc::MAP_FAILED {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: `[map, map + GUARD_BYTES)` lies inside the mapping just created.
        if unsafe { libc::mprotect(map, GUARD_BYTES, libc::PROT_NONE) } != 0 {
            let e = std::io::Error::last_os_error();
            // SAFETY: unmapping exactly the mapping created above, which nothing else uses.
            unsafe { libc::munmap(map, total) };
            return Err(e);
        }
        let map = map.cast::<u8>();
        // SAFETY: GUARD_BYTES < total, so the offset stays inside the mapping.
        let base = unsafe { map.add(GUARD_BYTES) };
        Ok(Meter {
            map,
            base,
            region,
            mapped: total,
        })
    }

    /// Runs `f` on the painted region and returns its peak stack bytes, the allocations it made
    /// and its result. `f` should do nothing but the call being measured: build its inputs
    /// before, inspect its result after.
    pub fn measure<R>(&mut self, f: impl FnOnce() -> R) -> Measured<R> {
        // SAFETY: `base..base + region` is the writable part of our mapping; `&mut self`
        // guarantees no measurement is running on it.
        unsafe { std::ptr::write_bytes(self.base, PAINT, self.region) };
        let mut counts = (0, 0, 0, 0);
        let counts_ref = &mut counts;
        let run = move || {
            let (a0, b0) = thread_allocations();
            let r = catch_unwind(AssertUnwindSafe(f));
            let (a1, b1) = thread_allocations();
            *counts_ref = (a0, b0, a1, b1);
            r.ok()
        };
        // The panic hook is process-wide: one measurement at a time swaps it (tests measure
        // from several threads).
        let _serial = HOOK_LOCK.lock().unwrap_or_else(|e| e.into_inner());
        let hook = std::panic::take_hook();
        std::panic::set_hook(Box::new(|_| {}));
        // SAFETY: `base` is page-aligned (mmap) and `region` a multiple of 16, so both satisfy
        // the target's stack alignment; the region is ours, writable and unused while `run`
        // executes; `run` cannot unwind because it catches every panic of `f`.
        let value = unsafe { psm::on_stack(self.base, self.region, run) };
        std::panic::set_hook(hook);
        let value = black_box(value);
        // SAFETY: the region is initialised (painted above, then written by the call) and no
        // longer in use as a stack.
        let painted = unsafe { std::slice::from_raw_parts(self.base, self.region) };
        let untouched = painted.iter().take_while(|&&b| b == PAINT).count();
        let (a0, b0, a1, b1) = counts;
        Measured {
            sample: Sample {
                stack_bytes: self.region - untouched,
                allocations: a1 - a0,
                alloc_bytes: b1 - b0,
            },
            value,
        }
    }
}

impl Drop for Meter {
    fn drop(&mut self) {
        // SAFETY: `map` is the start of the mapping created in `new`, of exactly this size, and
        // no measurement can be running (`&mut self`).
        unsafe { libc::munmap(self.map.cast(), self.mapped) };
    }
}
