//! The one I/O seam: every byte the core reads or writes goes through [`Storage`].
//!
//! The trait is deliberately narrow (read at, write at, sync, length, set length), so that the
//! file-backed implementation, the in-memory one and the simulator's faulty twin are
//! interchangeable. The core assumes only what `docs/format.md` states of the medium: a write
//! changes no bytes outside its range; after `sync` returns, every earlier write is durable;
//! a crash may drop or tear any write not yet synced.
//!
//! One optional addition, [`Storage::view`], lends bytes of the medium without copying them (a
//! memory map of the image file): the FUSE frontend answers large reads straight from it. Its
//! contract is the engine's: the engine is the only writer of its storage, every write needs
//! `&mut` engine, and a view borrows the engine shared, so no write overlaps a live view.

pub mod crash;
mod file;
mod mem;

pub use crash::{CrashMode, CrashStorage};
pub use file::FileStorage;
pub use mem::MemStorage;

use std::io;

/// A byte-addressed, resizable medium. Methods take `&self` (implementations synchronise
/// internally, as `pread`/`pwrite` on a file do), so the journal can read the log while the
/// engine it replays into holds the same storage.
pub trait Storage: Send + Sync + std::fmt::Debug {
    /// Fills `buf` from `offset`; reading past the end is an `UnexpectedEof` error.
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<()>;
    /// Writes all of `data` at `offset`, growing the medium if needed.
    fn write_at(&self, offset: u64, data: &[u8]) -> io::Result<()>;
    /// Makes every earlier write durable.
    fn sync(&self) -> io::Result<()>;
    /// Current length in bytes.
    fn len(&self) -> io::Result<u64>;
    /// Whether the medium is empty.
    fn is_empty(&self) -> io::Result<bool> {
        Ok(self.len()? == 0)
    }
    /// Truncates or extends (with zeros) to `len` bytes.
    fn set_len(&self, len: u64) -> io::Result<()>;
    /// Makes the medium at least `len` bytes long with room for all of them set aside, so that
    /// no later write below `len` fails for lack of space (a `fallocate` for a file); a longer
    /// medium is left as it is, new bytes read as zeros. Fails with `ENOSPC` (`StorageFull`)
    /// when the room is not there, changing nothing then.
    fn reserve(&self, len: u64) -> io::Result<()> {
        if len > self.len()? {
            self.set_len(len)
        } else {
            Ok(())
        }
    }
    /// Bytes the medium could still grow by (for `statfs`); `None` when unknown.
    fn available(&self) -> Option<u64> {
        None
    }
    /// Hints that `[offset, offset + len)` is about to be read whole, so the implementation
    /// may start fetching it (a file asks the kernel to read it ahead). Changes nothing.
    fn will_need(&self, offset: u64, len: u64) {
        let _ = (offset, len);
    }
    /// The `len` bytes at `offset`, lent without copying, when the implementation can (a
    /// memory map); `None` when it cannot or the range is not wholly inside the medium, and
    /// then `read_at` is the way.
    ///
    /// # Safety
    /// The slice aliases the medium itself: nothing may write, shorten or truncate it (through
    /// this value or any other handle to the same bytes) while the slice is alive.
    unsafe fn view(&self, offset: u64, len: usize) -> Option<&[u8]> {
        let _ = (offset, len);
        None
    }
}
