//! `/.vexfs/stats`: the document an open of it renders (the core's statistics as the caller
//! may see them, plus what only the mount knows), and reads of it.
//!
//! The document is rendered once per open and kept in the open file's handle, so every read
//! of one open file sees the same document; reads are by offset.

use crate::metrics::FsOp;
use crate::state::Shared;
use fuser::Errno;
use std::sync::atomic::Ordering;
use vexfs_core::Creds;

/// Renders the stats document as `creds` may see it: the core's, plus what only the mount
/// knows.
pub(crate) fn stats_json(shared: &Shared, creds: &Creds) -> Result<Vec<u8>, Errno> {
    let (stats, image_bytes) = shared.metrics.time(FsOp::Stats, || -> Result<_, Errno> {
        let e = shared.read()?;
        let image = e.image_bytes();
        Ok((e.stats(creds), image))
    })?;
    let mut doc = serde_json::to_value(&stats).map_err(|_| Errno::EIO)?;
    if let Some(obj) = doc.as_object_mut() {
        obj.insert("image_bytes".into(), serde_json::json!(image_bytes));
        obj.insert(
            "operations".into(),
            serde_json::Value::Object(shared.metrics.snapshot()),
        );
        obj.insert(
            "mount".into(),
            serde_json::json!({
                "read_only": shared.read_only,
                "threads": shared.threads,
                "max_write_bytes": shared.max_write_seen.load(Ordering::Relaxed),
                "max_read_bytes": shared.max_read_seen.load(Ordering::Relaxed),
                "mapped_reads": shared.mapped_reads.load(Ordering::Relaxed),
                "readahead_kib": match shared.readahead_kib.load(Ordering::Relaxed) {
                    0 => None,
                    kib => Some(kib),
                },
                "open_virtual_files": shared.handles.len(),
                "search_memory_bytes": shared.handles.budget.total(),
                "referenced_inodes": shared.referenced_inodes(),
            }),
        );
    }
    let mut out = serde_json::to_vec_pretty(&doc).map_err(|_| Errno::EIO)?;
    out.push(b'\n');
    Ok(out)
}

/// Serves `data[offset..]`, at most `size` bytes.
pub(crate) fn slice_at(data: &[u8], offset: u64, size: u32) -> &[u8] {
    let start = usize::try_from(offset).unwrap_or(usize::MAX).min(data.len());
    let end = start.saturating_add(size as usize).min(data.len());
    &data[start..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slices() {
        assert_eq!(slice_at(b"hello", 1, 3), b"ell");
        assert_eq!(slice_at(b"hello", 9, 3), b"");
        assert_eq!(slice_at(b"hello", u64::MAX, u32::MAX), b"");
    }
}
