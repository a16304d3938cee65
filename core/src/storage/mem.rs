//! [`MemStorage`]: storage in a `Vec<u8>`, for tests and in-memory images. `sync` does nothing:
//! everything written is as durable as the value itself.

use super::Storage;
use std::io;
use std::sync::{Mutex, MutexGuard};

/// Storage held in memory.
#[derive(Debug, Default)]
pub struct MemStorage {
    bytes: Mutex<Vec<u8>>,
}

impl Clone for MemStorage {
    fn clone(&self) -> Self {
        MemStorage::from_bytes(self.bytes())
    }
}

impl MemStorage {
    /// Empty storage.
    pub fn new() -> Self {
        Self::default()
    }

    /// Storage holding `bytes` (an image read from elsewhere).
    pub fn from_bytes(bytes: Vec<u8>) -> Self {
        MemStorage {
            bytes: Mutex::new(bytes),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Vec<u8>> {
        // A panic while holding the lock cannot leave the bytes half-updated in a way the
        // format does not already tolerate, so a poisoned lock is still usable.
        self.bytes.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A copy of the stored bytes.
    pub fn bytes(&self) -> Vec<u8> {
        self.lock().clone()
    }
}

fn range(offset: u64, len: usize) -> io::Result<std::ops::Range<usize>> {
    let start = usize::try_from(offset).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    let end = start
        .checked_add(len)
        .ok_or(io::Error::from(io::ErrorKind::InvalidInput))?;
    Ok(start..end)
}

impl Storage for MemStorage {
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        let r = range(offset, buf.len())?;
        let bytes = self.lock();
        let src = bytes
            .get(r)
            .ok_or(io::Error::from(io::ErrorKind::UnexpectedEof))?;
        buf.copy_from_slice(src);
        Ok(())
    }

    fn write_at(&self, offset: u64, data: &[u8]) -> io::Result<()> {
        let r = range(offset, data.len())?;
        let mut bytes = self.lock();
        if bytes.len() < r.end {
            bytes.resize(r.end, 0);
        }
        bytes[r].copy_from_slice(data);
        Ok(())
    }

    fn sync(&self) -> io::Result<()> {
        Ok(())
    }

    fn len(&self) -> io::Result<u64> {
        Ok(self.lock().len() as u64)
    }

    fn set_len(&self, len: u64) -> io::Result<()> {
        let len = usize::try_from(len).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
        self.lock().resize(len, 0);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_write_resize() {
        let s = MemStorage::new();
        s.write_at(4, b"abc").unwrap();
        assert_eq!(s.len().unwrap(), 7);
        let mut buf = [0u8; 3];
        s.read_at(4, &mut buf).unwrap();
        assert_eq!(&buf, b"abc");
        assert_eq!(
            s.read_at(6, &mut buf).unwrap_err().kind(),
            io::ErrorKind::UnexpectedEof
        );
        s.set_len(2).unwrap();
        assert_eq!(s.bytes(), &[0, 0]);
    }
}
