//! Asks the kernel to back the node block with transparent huge pages.
//!
//! A search reads vectors scattered across the whole node block (64 MiB for 100,000 × 128
//! `f32`): with 4 KiB pages almost every vector it reads is also a TLB miss. `MADV_HUGEPAGE`
//! on the block lets page faults in it map 2 MiB pages where the system's transparent huge
//! pages are in `madvise` mode (Debian's default) or `always`. It is advice only: the bytes the
//! block holds never depend on it, so determinism is untouched, and a kernel that ignores it
//! (or another OS, where this is a no-op) only changes speed.
//!
//! Pages already touched keep their size until the kernel's `khugepaged` collapses them in the
//! background, which it does for advised ranges. A block being built is advised right after it
//! is reserved, before it is written (`Hnsw::reserve`), so its pages are huge from the start.
//! The checkpoint decoder advises its block only after filling it: faulting in hundreds of MiB
//! of fresh 2 MiB pages at once was measured to cost more than the copy itself on this
//! project's VM (opening a 1M × 128 image: ~3.7 s advised before, ~2.6 s after), because
//! never-used guest memory is slow to touch the first time; searches right after an open run on
//! 4 KiB pages until the collapse.

/// Bytes of a huge page on x86-64 and aarch64 with 4 KiB base pages.
const HUGE: usize = 2 << 20;

/// Advises the 2 MiB-aligned part of `v`'s allocation (its capacity, not only its length) for
/// huge pages. Skips allocations too small to contain one.
pub(crate) fn advise_huge<T>(v: &Vec<T>) {
    let start = v.as_ptr() as usize;
    let end = start + v.capacity() * std::mem::size_of::<T>();
    let (from, to) = (start.next_multiple_of(HUGE), end / HUGE * HUGE);
    if to <= from {
        return;
    }
    #[cfg(target_os = "linux")]
    // SAFETY: `[from, to)` lies inside `v`'s allocation (rounded inwards), which this process
    // owns; MADV_HUGEPAGE changes how it is backed, never its contents, and fails harmlessly
    // (EINVAL) where transparent huge pages are unsupported. The result is deliberately
    // ignored: advice that is not taken only costs speed.
    unsafe {
        libc::madvise(from as *mut libc::c_void, to - from, libc::MADV_HUGEPAGE);
    }
    #[cfg(not(target_os = "linux"))]
    let _ = (from, to);
}
