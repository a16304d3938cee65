//! Batch calls of the API: [`Vexfs::upsert_files`] and [`Vexfs::remove_files`], with their
//! item type [`FileUpsert`] and their error [`BatchError`], which names the failing item.
//!
//! Invariant: a batch is checked whole before anything changes; an error found only while
//! applying (an I/O error, a full medium) leaves the items before it applied, exactly as the
//! same sequence of single calls would, and never one item half applied.

use crate::{Vexfs, bytes};
use vexfs_core::{Error, FileKind, Ino, Result, SetAttr, VECTOR_XATTR, XattrMode};

/// One file of a [`Vexfs::upsert_files`] batch.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FileUpsert<'a> {
    /// Name of the file in the collection directory (one path component).
    pub name: &'a [u8],
    /// The file's vector as raw little-endian bytes of the collection's element type; `None`
    /// leaves the vector as it is.
    pub vector: Option<&'a [u8]>,
    /// Metadata to set: `(key, value)` pairs stored as the attributes `user.KEY` (other
    /// attributes of an existing file are kept).
    pub metadata: &'a [(&'a [u8], &'a [u8])],
    /// New contents; `None` keeps an existing file's contents (a new file starts empty).
    pub contents: Option<&'a [u8]>,
}

/// Why a batch call ([`Vexfs::upsert_files`], [`Vexfs::remove_files`]) failed, and for which item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchError {
    /// The position of the item in the batch, or `None` when the failure concerns the whole
    /// batch (the directory is not a collection, the image is read-only, ...).
    pub item: Option<usize>,
    /// What went wrong.
    pub error: Error,
}

impl std::fmt::Display for BatchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.item {
            Some(i) => write!(f, "item {i}: {}", self.error),
            None => self.error.fmt(f),
        }
    }
}

impl std::error::Error for BatchError {}

impl From<Error> for BatchError {
    fn from(error: Error) -> Self {
        BatchError { item: None, error }
    }
}

/// Attributes `error` to batch item `item`; a read-only image is never one item's fault.
fn at(item: usize) -> impl FnOnce(Error) -> BatchError {
    move |error| BatchError {
        item: (error != Error::ReadOnly).then_some(item),
        error,
    }
}

impl Vexfs {
    /// Creates or updates files of the collection `dir` in one call, for bulk loading: a missing
    /// file is created (mode 0644), then each file gets its contents (when given), its metadata
    /// and its vector (when given), in that order; items apply in batch order, so a name given
    /// twice ends with the later item. Returns the number of files created.
    ///
    /// The whole batch is checked before anything changes: names, vectors against the
    /// collection (and any other collection an existing file is linked in), metadata keys and
    /// value sizes, the attribute space of each file, and that existing names are regular
    /// files. An error found while applying (an I/O error, a full medium) leaves the items
    /// before it applied, as the same sequence of single calls would.
    pub fn upsert_files(
        &mut self,
        dir: impl AsRef<[u8]>,
        files: &[FileUpsert<'_>],
    ) -> Result<usize, BatchError> {
        let dir = self.resolve(bytes(&dir))?;
        self.check_upsert(dir, files)?;
        let ctx = self.ctx();
        let mut created = 0;
        let mut name = Vec::with_capacity(b"user.".len() + 32);
        for (i, f) in files.iter().enumerate() {
            let ino = match self.engine().namespace().lookup(dir, f.name) {
                Ok(ino) => ino,
                Err(Error::NotFound) => {
                    created += 1;
                    self.engine_mut()
                        .create(dir, f.name, 0o644, &ctx)
                        .map_err(at(i))?
                        .ino
                }
                Err(e) => return Err(at(i)(e)),
            };
            if let Some(data) = f.contents {
                let truncate = SetAttr {
                    size: Some(0),
                    ..SetAttr::default()
                };
                self.engine_mut().setattr(ino, truncate, &ctx).map_err(at(i))?;
                self.engine_mut().write(ino, 0, data, &ctx).map_err(at(i))?;
            }
            for (key, value) in f.metadata {
                name.clear();
                name.extend_from_slice(b"user.");
                name.extend_from_slice(key);
                self.engine_mut()
                    .setxattr(ino, &name, value, XattrMode::Any, &ctx)
                    .map_err(at(i))?;
            }
            if let Some(v) = f.vector {
                self.engine_mut()
                    .setxattr(ino, VECTOR_XATTR, v, XattrMode::Any, &ctx)
                    .map_err(at(i))?;
            }
        }
        Ok(created)
    }

    /// Everything [`Vexfs::upsert_files`] checks before it changes anything.
    fn check_upsert(&self, dir: Ino, files: &[FileUpsert<'_>]) -> Result<(), BatchError> {
        let e = self.engine();
        if e.namespace().get(dir)?.is_unlinked(dir) {
            return Err(Error::NotFound.into());
        }
        let cfg = e
            .collection(dir)
            .map(|c| c.config)
            .ok_or(Error::Invalid("not a collection"))?;
        for (i, f) in files.iter().enumerate() {
            let fail = at(i);
            vexfs_core::namespace::check_name(f.name).map_err(at(i))?;
            let existing = match e.namespace().lookup(dir, f.name) {
                Ok(ino) => Some(e.namespace().get(ino).map_err(at(i))?),
                Err(Error::NotFound) => None,
                Err(err) => return Err(fail(err)),
            };
            if let Some(node) = existing {
                match node.kind {
                    FileKind::Regular => {}
                    FileKind::Directory => return Err(fail(Error::IsDirectory)),
                    _ => return Err(fail(Error::Invalid("not a regular file"))),
                }
            }
            // A vector that fits `dir` is accepted even where the file has names in other
            // collections it does not fit (it stays unindexed there).
            if let Some(v) = f.vector {
                cfg.check_vector(v).map_err(at(i))?;
            }
            if let Some(data) = f.contents {
                vexfs_core::namespace::FileData::check_range(0, data.len() as u64).map_err(at(i))?;
            }
            let mut list_len = existing.map_or(0, |n| n.xattrs.list_len());
            let mut grow = |full_len: usize, present: bool| {
                if !present {
                    list_len += full_len + 1;
                }
            };
            for (key, value) in f.metadata {
                let full = b"user.".len() + key.len();
                if full > vexfs_core::limits::XATTR_NAME_LEN_MAX {
                    return Err(at(i)(Error::Range));
                }
                if key.is_empty() || key.contains(&0) {
                    return Err(at(i)(Error::Invalid("invalid metadata key")));
                }
                if key.starts_with(b"vexfs.") {
                    return Err(at(i)(Error::Invalid(
                        "metadata keys starting with vexfs. are reserved",
                    )));
                }
                if value.len() > vexfs_core::limits::XATTR_VALUE_LEN_MAX {
                    return Err(at(i)(Error::ValueTooBig));
                }
                let present = existing.is_some_and(|n| n.xattrs.get_prefixed(b"user.", key).is_some());
                grow(full, present);
            }
            if f.vector.is_some() {
                grow(
                    VECTOR_XATTR.len(),
                    existing.is_some_and(|n| n.xattrs.contains(VECTOR_XATTR)),
                );
            }
            if list_len > vexfs_core::limits::XATTR_LIST_LEN_MAX {
                return Err(at(i)(Error::NoSpace));
            }
        }
        Ok(())
    }

    /// Removes the files `names` of directory `dir`, after checking that every one exists and
    /// is not a directory (otherwise nothing is removed). A name given twice is an error.
    pub fn remove_files<N: AsRef<[u8]>>(
        &mut self,
        dir: impl AsRef<[u8]>,
        names: &[N],
    ) -> Result<(), BatchError> {
        let dir = self.resolve(bytes(&dir))?;
        let e = self.engine();
        let mut seen = std::collections::BTreeSet::new();
        for (i, n) in names.iter().enumerate() {
            let n = n.as_ref();
            vexfs_core::namespace::check_name(n).map_err(at(i))?;
            let ino = e.namespace().lookup(dir, n).map_err(at(i))?;
            if e.namespace().get(ino).map_err(at(i))?.kind == FileKind::Directory {
                return Err(at(i)(Error::IsDirectory));
            }
            if !seen.insert(n) {
                return Err(at(i)(Error::NotFound));
            }
        }
        let ctx = self.ctx();
        for (i, n) in names.iter().enumerate() {
            self.engine_mut().unlink(dir, n.as_ref(), &ctx).map_err(at(i))?;
        }
        Ok(())
    }
}
