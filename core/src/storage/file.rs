//! [`FileStorage`]: an image in one regular file, locked exclusively for as long as it is open.
//!
//! The lock is an advisory `flock`-style lock taken with `File::try_lock`, so a second open of
//! the same image, from this process or another, fails with [`Error::Locked`] instead of
//! corrupting it. `sync` is `fdatasync` (`File::sync_data`) unless the length changed since the last sync,
//! then `fsync` (`File::sync_all`): the format relies on no other file metadata.
//!
//! Views ([`Storage::view`]) come from read-only shared memory maps of the file. A map is never
//! moved or shrunk while the storage lives: when the image outgrows the newest map, a map twice
//! the size is added and the older ones stay until drop, so a slice lent from any of them stays
//! valid. Views are bounds-checked against the length this value last gave the file (`len`),
//! so no view reaches past its end. Another process truncating the image under a mounted
//! filesystem would make a view fault; the exclusive lock is what keeps cooperating processes
//! away.

use super::Storage;
use crate::error::{Error, Result};
use memmap2::{Mmap, MmapOptions};
use std::fs::{File, OpenOptions, TryLockError};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};

/// Smallest map made for views (address space only: pages are mapped as they are touched).
const MAP_MIN: u64 = 64 << 20;

/// An image file.
#[derive(Debug)]
pub struct FileStorage {
    file: File,
    len_changed: AtomicBool,
    /// The file's length as this value last left it: at most the real length at any moment.
    len: AtomicU64,
    /// Maps for views, each twice the size of the one before; the last is the one used.
    maps: Mutex<Vec<Mmap>>,
}

impl FileStorage {
    /// Opens (or, with `create`, creates) the image at `path` and locks it.
    pub fn open(path: &Path, create: bool, writable: bool) -> Result<Self> {
        let file = OpenOptions::new()
            .read(true)
            .write(writable)
            .create(create)
            .open(path)
            .map_err(|e| Error::io("opening the image", &e))?;
        let locked = if writable {
            file.try_lock()
        } else {
            file.try_lock_shared()
        };
        match locked {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => return Err(Error::Locked),
            Err(TryLockError::Error(e)) => return Err(Error::io("locking the image", &e)),
        }
        let len = file
            .metadata()
            .map_err(|e| Error::io("opening the image", &e))?
            .len();
        Ok(FileStorage {
            file,
            len_changed: AtomicBool::new(false),
            len: AtomicU64::new(len),
            maps: Mutex::new(Vec::new()),
        })
    }
}

impl Storage for FileStorage {
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        self.file.read_exact_at(buf, offset)
    }

    fn write_at(&self, offset: u64, data: &[u8]) -> io::Result<()> {
        let end = offset.saturating_add(data.len() as u64);
        if end > self.len.load(Ordering::Acquire) {
            self.len_changed.store(true, Ordering::Relaxed);
        }
        self.file.write_all_at(data, offset)?;
        self.len.fetch_max(end, Ordering::AcqRel);
        Ok(())
    }

    fn sync(&self) -> io::Result<()> {
        if self.len_changed.swap(false, Ordering::Relaxed) {
            self.file.sync_all()
        } else {
            self.file.sync_data()
        }
    }

    fn len(&self) -> io::Result<u64> {
        Ok(self.file.metadata()?.len())
    }

    fn set_len(&self, len: u64) -> io::Result<()> {
        self.len_changed.store(true, Ordering::Relaxed);
        // Lower first, raise after: `len` never exceeds the real length, even on failure.
        self.len.fetch_min(len, Ordering::AcqRel);
        self.file.set_len(len)?;
        self.len.store(len, Ordering::Release);
        Ok(())
    }

    fn reserve(&self, len: u64) -> io::Result<()> {
        use std::os::fd::AsRawFd;
        let cur = self.file.metadata()?.len();
        if len <= cur {
            return Ok(());
        }
        let (Ok(offset), Ok(add)) = (libc::off_t::try_from(cur), libc::off_t::try_from(len - cur)) else {
            return Err(io::Error::from_raw_os_error(libc::EFBIG));
        };
        self.len_changed.store(true, Ordering::Relaxed);
        // SAFETY: allocates blocks of the file `self.file` keeps open; touches no memory.
        let r = unsafe { libc::posix_fallocate(self.file.as_raw_fd(), offset, add) };
        match r {
            0 => {}
            // A file system that cannot allocate ahead: grow the file sparse (a later write
            // may then fail for space, which the journal treats as an I/O error).
            libc::EOPNOTSUPP | libc::EINVAL => self.file.set_len(len)?,
            errno => return Err(io::Error::from_raw_os_error(errno)),
        }
        self.len.fetch_max(len, Ordering::AcqRel);
        Ok(())
    }

    fn available(&self) -> Option<u64> {
        fs_available(&self.file)
    }

    fn will_need(&self, offset: u64, len: u64) {
        use std::os::fd::AsRawFd;
        let (Ok(offset), Ok(len)) = (libc::off_t::try_from(offset), libc::off_t::try_from(len)) else {
            return;
        };
        // SAFETY: advice on a descriptor `self.file` keeps open; it reads nothing from memory
        // and changes no bytes. A failure only means no read-ahead.
        unsafe {
            libc::posix_fadvise(self.file.as_raw_fd(), offset, len, libc::POSIX_FADV_WILLNEED);
        }
    }

    unsafe fn view(&self, offset: u64, len: usize) -> Option<&[u8]> {
        if len == 0 {
            return Some(&[]);
        }
        let end = offset.checked_add(len as u64)?;
        let file_len = self.len.load(Ordering::Acquire);
        if end > file_len {
            return None;
        }
        let start = usize::try_from(offset).ok()?;
        let mut maps = self.maps.lock().unwrap_or_else(PoisonError::into_inner);
        if maps.last().is_none_or(|m| (m.len() as u64) < end) {
            let size = usize::try_from(file_len.max(MAP_MIN).checked_next_power_of_two()?).ok()?;
            // SAFETY: a read-only shared map of our own locked image. What may change the
            // mapped bytes is the caller's to rule out (this method's contract); pages past
            // the end of the file are mapped but never touched, as every view is checked
            // against `len` above.
            let map = unsafe { MmapOptions::new().len(size).map(&self.file) }.ok()?;
            maps.push(map);
        }
        let base = maps.last()?.as_ptr();
        drop(maps);
        // SAFETY: `[start, start + len)` lies inside the map (its size is at least `end`) and
        // inside the file. The map is dropped only with `self`, which the slice borrows, and
        // the caller keeps writers away while it lives.
        Some(unsafe { std::slice::from_raw_parts(base.add(start), len) })
    }
}

/// Bytes available to unprivileged users on the filesystem holding `file` (`fstatvfs`).
fn fs_available(file: &File) -> Option<u64> {
    use std::os::fd::AsRawFd;
    let mut st = std::mem::MaybeUninit::<libc::statvfs>::uninit();
    // SAFETY: `fstatvfs` writes a `statvfs` into the pointer on success and reads nothing but
    // the descriptor, which `file` keeps open for the duration of the call.
    let rc = unsafe { libc::fstatvfs(file.as_raw_fd(), st.as_mut_ptr()) };
    if rc != 0 {
        return None;
    }
    // SAFETY: the call succeeded, so the struct is initialised.
    let st = unsafe { st.assume_init() };
    Some(st.f_bavail.saturating_mul(st.f_frsize))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_open_is_refused() {
        let dir = std::env::temp_dir().join(format!("vexfs-lock-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("img");
        let a = FileStorage::open(&path, true, true).unwrap();
        a.write_at(0, b"x").unwrap();
        assert_eq!(FileStorage::open(&path, false, true).unwrap_err(), Error::Locked);
        assert_eq!(FileStorage::open(&path, false, false).unwrap_err(), Error::Locked);
        drop(a);
        let b = FileStorage::open(&path, false, true).unwrap();
        assert_eq!(b.len().unwrap(), 1);
        drop(b);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn views_follow_the_file_and_outlive_growth() {
        let dir = std::env::temp_dir().join(format!("vexfs-view-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let s = FileStorage::open(&dir.join("img"), true, true).unwrap();
        s.write_at(0, &[7u8; 8192]).unwrap();
        s.write_at(8192, b"abc").unwrap();
        // SAFETY (all views here): nothing writes a viewed range while its view lives.
        let head = unsafe { s.view(4096, 4096) }.unwrap();
        assert!(head.iter().all(|&b| b == 7));
        assert_eq!(unsafe { s.view(8192, 3) }, Some(&b"abc"[..]));
        assert_eq!(unsafe { s.view(8192, 4) }, None, "past the end");
        assert_eq!(unsafe { s.view(u64::MAX, 1) }, None);
        // Growing past the first map adds a bigger one; the earlier view still reads right.
        let far = MAP_MIN + 12_345;
        s.write_at(far, b"far").unwrap();
        assert_eq!(unsafe { s.view(far, 3) }, Some(&b"far"[..]));
        assert_eq!(s.maps.lock().unwrap().len(), 2);
        assert!(head.iter().all(|&b| b == 7));
        // Shortening takes the cut bytes out of reach.
        s.set_len(8192).unwrap();
        assert_eq!(unsafe { s.view(8192, 1) }, None);
        assert_eq!(unsafe { s.view(0, 1) }, Some(&[7u8][..]));
        drop(s);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
