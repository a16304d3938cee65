//! [`FileStorage`]: an image in one regular file, locked exclusively for as long as it is open.
//!
//! The lock is an advisory `flock`-style lock taken with `File::try_lock`, so a second open of
//! the same image, from this process or another, fails with [`Error::Locked`] instead of
//! corrupting it. `sync` is `fdatasync` (`File::sync_data`) unless the length changed since the last sync,
//! then `fsync` (`File::sync_all`): the format relies on no other file metadata.

use super::Storage;
use crate::error::{Error, Result};
use std::fs::{File, OpenOptions, TryLockError};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

/// An image file.
#[derive(Debug)]
pub struct FileStorage {
    file: File,
    len_changed: AtomicBool,
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
        Ok(FileStorage {
            file,
            len_changed: AtomicBool::new(false),
        })
    }
}

impl Storage for FileStorage {
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        self.file.read_exact_at(buf, offset)
    }

    fn write_at(&self, offset: u64, data: &[u8]) -> io::Result<()> {
        if offset.saturating_add(data.len() as u64) > self.file.metadata()?.len() {
            self.len_changed.store(true, Ordering::Relaxed);
        }
        self.file.write_all_at(data, offset)
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
        self.file.set_len(len)
    }

    fn available(&self) -> Option<u64> {
        fs_available(&self.file)
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
}
