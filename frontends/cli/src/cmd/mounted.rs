//! Helpers for the commands that work inside a mounted VexFS (`index`, `vector`, `search`,
//! `import`): finding the mount a path belongs to, turning paths into the mount-relative form
//! queries use and back, and reading a directory's collection configuration.
//!
//! A mount is recognised by its virtual `/.vexfs/search` file (SPEC §4): walking up from a path,
//! the first ancestor on the same device that has one is the mount's root. Paths are
//! canonicalised first, so `.`/`..` and symbolic links resolve the way the kernel resolves them.

use crate::error::{CliError, CliResult, context};
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use vexfs_core::IndexConfig;

/// The attribute that makes a directory a collection.
pub const INDEX_XATTR: &str = "user.vexfs.index";
/// The attribute holding a file's vector.
pub const VECTOR_XATTR: &str = "user.vexfs.vector";

/// A mounted VexFS, found from a path inside it.
#[derive(Debug, Clone)]
pub struct Mount {
    /// The mountpoint, canonical.
    pub root: PathBuf,
}

/// A path inside a mount, as the user gave it and canonical.
#[derive(Debug, Clone)]
pub struct Located {
    /// The mount the path is in.
    pub mount: Mount,
    /// The canonical path (absolute, symbolic links resolved).
    pub canonical: PathBuf,
}

impl Located {
    /// The path relative to the mount's root, as queries name files: `/docs/a.txt`.
    pub fn relative(&self) -> CliResult<String> {
        self.mount.relative(&self.canonical)
    }
}

impl Mount {
    /// The path of `canonical` (inside this mount) from the mount's root: `/docs/a.txt`.
    pub fn relative(&self, canonical: &Path) -> CliResult<String> {
        let rest = canonical.strip_prefix(&self.root).map_err(|_| {
            CliError::new(format!(
                "{}: not inside {}",
                canonical.display(),
                self.root.display()
            ))
        })?;
        let rest = rest
            .to_str()
            .ok_or_else(|| CliError::new(format!("{}: path is not UTF-8", canonical.display())))?;
        Ok(format!("/{rest}"))
    }

    /// A mount-relative path (`/docs/a.txt`) as the user reaches it: the mountpoint joined with it.
    pub fn user_path(&self, relative: &str) -> PathBuf {
        self.root.join(relative.trim_start_matches('/'))
    }

    /// The transaction file of searches.
    pub fn search_file(&self) -> PathBuf {
        self.root.join(".vexfs/search")
    }
}

/// The error line for a file that is not a VexFS image, saying how to make one.
pub fn not_an_image(image: &Path) -> String {
    format!(
        "{}: not a VexFS image (make one with `vexfs mkfs {}`)",
        image.display(),
        image.display()
    )
}

/// `path`'s error, with what to do when it is a VexFS (or other FUSE) mount that died: its
/// process is gone, the kernel answers every call with ENOTCONN until it is unmounted.
pub fn path_error(path: &Path, e: &io::Error) -> CliError {
    if e.raw_os_error() == Some(libc::ENOTCONN) {
        // The mountpoint itself may still answer `stat` (from the kernel's cache): then `path`.
        let at = dead_mountpoint(path).unwrap_or(path);
        return CliError::new(format!(
            "{}: {} (the mount there has died; run `umount {}` and mount again)",
            path.display(),
            io_message(e),
            at.display()
        ));
    }
    context(path.display(), io_message(e))
}

/// The mountpoint of a dead FUSE mount `path` is in: the outermost ancestor (or `path`) whose
/// `stat` fails with ENOTCONN.
fn dead_mountpoint(path: &Path) -> Option<&Path> {
    path.ancestors()
        .filter(|a| !a.as_os_str().is_empty())
        .take_while(|a| std::fs::metadata(a).err().and_then(|e| e.raw_os_error()) == Some(libc::ENOTCONN))
        .last()
}

/// Finds the mount `path` is in. Fails with one line when `path` does not exist or is not inside
/// a mounted VexFS.
pub fn locate(path: &Path) -> CliResult<Located> {
    let canonical = std::fs::canonicalize(path).map_err(|e| path_error(path, &e))?;
    let dev = std::fs::metadata(&canonical)
        .map_err(|e| path_error(path, &e))?
        .dev();
    for dir in canonical.ancestors() {
        match std::fs::metadata(dir) {
            Ok(m) if m.dev() == dev => {}
            // Left the filesystem `path` is on without finding its root.
            _ => break,
        }
        let marker = dir.join(".vexfs/search");
        if std::fs::symlink_metadata(&marker).is_ok_and(|m| m.is_file()) {
            return Ok(Located {
                mount: Mount {
                    root: dir.to_path_buf(),
                },
                canonical,
            });
        }
    }
    Err(CliError::new(format!(
        "{}: not inside a VexFS mount",
        path.display()
    )))
}

/// The collection configuration of directory `dir` (its `user.vexfs.index`), or `None` when it
/// is not a collection.
pub fn collection_config(dir: &Path) -> CliResult<Option<IndexConfig>> {
    match xattr::get(dir, INDEX_XATTR) {
        Ok(Some(bytes)) => IndexConfig::parse(&bytes)
            .map(Some)
            .map_err(|e| context(dir.display(), format!("unreadable collection configuration: {e}"))),
        Ok(None) => Ok(None),
        Err(e) => Err(context(dir.display(), io_message(&e))),
    }
}

/// The collection directory `dir` names, with the mount it is in: the prelude of the commands
/// that work on one collection (`import`, `search`). Fails with one line when `dir` is not inside
/// a mounted VexFS, is not a directory, or is not a collection.
pub fn locate_collection(dir: &Path) -> CliResult<(Located, IndexConfig)> {
    let located = locate(dir)?;
    let meta = std::fs::metadata(&located.canonical).map_err(|e| context(dir.display(), io_message(&e)))?;
    if !meta.is_dir() {
        return Err(CliError::new(format!("{}: not a directory", dir.display())));
    }
    let cfg = collection_config(&located.canonical)?.ok_or_else(|| {
        CliError::new(format!(
            "{}: not a collection (no user.vexfs.index; see `vexfs index create`)",
            dir.display()
        ))
    })?;
    Ok((located, cfg))
}

/// The collection `file` is in: its parent directory's configuration, or `None`.
pub fn parent_collection(file: &Path) -> CliResult<Option<IndexConfig>> {
    match file.parent() {
        Some(dir) => collection_config(dir),
        None => Ok(None),
    }
}

/// An I/O error as a short message: the OS's description without the "(os error N)" suffix.
pub fn io_message(e: &io::Error) -> String {
    let s = e.to_string();
    match s.find(" (os error ") {
        Some(at) => s[..at].to_owned(),
        None => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_and_user_paths() {
        let m = Mount {
            root: PathBuf::from("/mnt/v"),
        };
        assert_eq!(m.relative(Path::new("/mnt/v")).ok().as_deref(), Some("/"));
        assert_eq!(
            m.relative(Path::new("/mnt/v/docs/a.txt")).ok().as_deref(),
            Some("/docs/a.txt")
        );
        assert!(m.relative(Path::new("/mnt/w/docs")).is_err());
        assert_eq!(m.user_path("/docs/a.txt"), PathBuf::from("/mnt/v/docs/a.txt"));
        assert_eq!(m.search_file(), PathBuf::from("/mnt/v/.vexfs/search"));
    }

    #[test]
    fn outside_a_mount_is_one_line() {
        let e = locate(Path::new("/")).err().map(|e| e.to_string());
        assert_eq!(e.as_deref(), Some("/: not inside a VexFS mount"));
        let e = locate(Path::new("/no/such/dir")).err().map(|e| e.to_string());
        assert_eq!(e.as_deref(), Some("/no/such/dir: No such file or directory"));
    }

    #[test]
    fn io_messages_lose_the_errno_suffix() {
        // 2 is ENOENT on every Unix.
        let e = io::Error::from_raw_os_error(2);
        assert_eq!(io_message(&e), "No such file or directory");
    }
}
