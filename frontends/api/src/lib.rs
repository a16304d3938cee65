//! `vexfs`: the in-process API of VexFS.
//!
//! A [`Vexfs`] is a whole filesystem held by one Rust value: create directories and files, read
//! and write them, set extended attributes, turn directories into collections, give files
//! vectors and search, all through paths, without a mount. The FUSE frontend and the CLI are
//! built on the same core calls, so both behave alike.
//!
//! ```
//! use vexfs::{IndexConfig, Vexfs, vector::ElemType};
//!
//! let mut fs = Vexfs::in_memory();
//! fs.create_dir("/docs")?;
//! fs.create_collection("/docs", &IndexConfig::new(3, ElemType::F32))?;
//! fs.write("/docs/a.txt", b"alpha")?;
//! fs.set_vector("/docs/a.txt", &[1.0, 0.0, 0.0])?;
//! fs.write("/docs/b.txt", b"beta")?;
//! fs.set_vector("/docs/b.txt", &[0.0, 1.0, 0.0])?;
//! let hits = fs.search_json(r#"{"dir":"/docs","vector":[0.9,0.1,0],"k":1}"#)?;
//! assert_eq!(hits[0].path, "/docs/a.txt");
//! # Ok::<(), vexfs::Error>(())
//! ```
//!
//! An instance is either in memory ([`Vexfs::in_memory`]) or backed by an image file
//! ([`Vexfs::create`], [`Vexfs::open`]); [`Vexfs::sync`] makes everything so far durable, and
//! dropping (or [`Vexfs::close`]) writes a checkpoint. One image can be open once at a time.
//!
//! Paths are absolute (a missing leading `/` is accepted); intermediate symbolic links are
//! followed. The API does not update access times on reads (as if mounted `noatime`), and it
//! performs no permission checks: the calling process owns the whole filesystem, so it is
//! **trusted** — searches and stats run with [`Creds::ROOT`]. Operations
//! are stamped with the [`Clock`] the instance was made with, and performed as `uid`/`gid` 0
//! unless [`Vexfs::set_identity`] says otherwise.

mod batch;
pub use batch::{BatchError, FileUpsert};

use std::path::Path;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

pub use vexfs_core::check::Problems;
pub use vexfs_core::journal::{JournalStats, OpenOptions};
pub use vexfs_core::query::{Attrs, Include, Query, Target};
pub use vexfs_core::storage::{FileStorage, MemStorage, Storage};
pub use vexfs_core::types::{
    Attr, Ctx, DirEntry, FallocMode, FileKind, Ino, RenameMode, SetAttr, SetTime, StatFs, Timestamp,
    XattrMode,
};
pub use vexfs_core::{
    Creds, Engine, EngineConfig, Error, IndexConfig, Result, Scratch, Stats, limits, vector,
};
use vexfs_core::{INDEX_XATTR, VECTOR_XATTR};

/// Where an instance takes the time of its operations from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Clock {
    /// The system's real-time clock.
    System,
    /// A fixed time, for reproducible tests; change it with [`Vexfs::set_time`].
    Fixed(Timestamp),
}

/// One search result.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchResult {
    /// Path of the file (not UTF-8 bytes replaced by U+FFFD).
    pub path: String,
    /// Its distance to the query; smaller is closer.
    pub distance: f32,
}

/// A VexFS filesystem used in-process.
#[derive(Debug)]
pub struct Vexfs {
    /// `None` only while closing.
    engine: Option<Engine>,
    clock: Clock,
    uid: u32,
    gid: u32,
}

impl Drop for Vexfs {
    /// Closes the image cleanly (a checkpoint), as [`Vexfs::close`] does; errors are ignored
    /// here, so call `close` to see them. Nothing durable is lost either way.
    fn drop(&mut self) {
        if let Some(e) = self.engine.take() {
            let _ = e.close();
        }
    }
}

fn bytes(p: &impl AsRef<[u8]>) -> &[u8] {
    p.as_ref()
}

impl Vexfs {
    /// An empty in-memory filesystem using the system clock.
    pub fn in_memory() -> Self {
        Self::in_memory_with(EngineConfig::default(), Clock::System)
    }

    /// An empty in-memory filesystem with an explicit configuration and clock.
    pub fn in_memory_with(cfg: EngineConfig, clock: Clock) -> Self {
        Self::wrap(Engine::new(Self::stamped(cfg, clock)), clock)
    }

    fn stamped(mut cfg: EngineConfig, clock: Clock) -> EngineConfig {
        cfg.now = match clock {
            Clock::System => system_now(),
            Clock::Fixed(t) => t,
        };
        cfg
    }

    fn wrap(engine: Engine, clock: Clock) -> Self {
        Vexfs {
            engine: Some(engine),
            clock,
            uid: 0,
            gid: 0,
        }
    }

    /// Creates a new image file at `path` (which must not exist, or be empty) and opens it.
    pub fn create(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        if std::fs::metadata(path).is_ok_and(|m| m.len() > 0) {
            return Err(Error::Exists);
        }
        let storage = FileStorage::open(path, true, true)?;
        Self::create_on(Arc::new(storage), EngineConfig::default(), Clock::System)
    }

    /// Opens the image file at `path`, recovering it if it was not closed cleanly.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        Self::open_with(path, OpenOptions::default())
    }

    /// Opens the image file at `path` with options (read-only).
    pub fn open_with(path: impl AsRef<Path>, opts: OpenOptions) -> Result<Self> {
        let storage = FileStorage::open(path.as_ref(), false, !opts.read_only)?;
        Self::open_on(Arc::new(storage), opts, Clock::System)
    }

    /// Creates a new image on any storage (the simulator's faulty storage, memory, ...).
    pub fn create_on(storage: Arc<dyn Storage>, cfg: EngineConfig, clock: Clock) -> Result<Self> {
        Ok(Self::wrap(
            Engine::create_image(storage, Self::stamped(cfg, clock))?,
            clock,
        ))
    }

    /// Opens an image on any storage.
    pub fn open_on(storage: Arc<dyn Storage>, opts: OpenOptions, clock: Clock) -> Result<Self> {
        Ok(Self::wrap(Engine::open_image(storage, opts)?, clock))
    }

    /// Makes every change so far durable.
    pub fn sync(&mut self) -> Result<()> {
        self.engine_mut().sync()
    }

    /// Writes a checkpoint now (opening the image later replays nothing).
    pub fn checkpoint(&mut self) -> Result<()> {
        self.engine_mut().checkpoint()
    }

    /// Closes the image: a checkpoint if anything changed. Dropping does the same, silently.
    pub fn close(mut self) -> Result<()> {
        match self.engine.take() {
            Some(e) => e.close(),
            None => Ok(()),
        }
    }

    /// The core engine (read-only), for callers that want inode-level access.
    pub fn engine(&self) -> &Engine {
        self.engine
            .as_ref()
            .expect("the engine is only taken by close and drop")
    }

    fn engine_mut(&mut self) -> &mut Engine {
        self.engine
            .as_mut()
            .expect("the engine is only taken by close and drop")
    }

    /// Sets the user and group that own what this instance creates.
    pub fn set_identity(&mut self, uid: u32, gid: u32) {
        self.uid = uid;
        self.gid = gid;
    }

    /// Sets the time of later operations (only with [`Clock::Fixed`]).
    pub fn set_time(&mut self, now: Timestamp) {
        if let Clock::Fixed(t) = &mut self.clock {
            *t = now;
        }
    }

    fn ctx(&self) -> Ctx {
        let now = match self.clock {
            Clock::System => system_now(),
            Clock::Fixed(t) => t,
        };
        Ctx::new(now, self.uid, self.gid)
    }

    fn resolve(&self, path: &[u8]) -> Result<Ino> {
        self.engine().resolve(path, true)
    }

    fn parent_and_name<'p>(&self, path: &'p [u8]) -> Result<(Ino, &'p [u8])> {
        self.engine().namespace().resolve_parent(path)
    }

    // ----- files and directories -------------------------------------------------------------

    /// Creates a directory (mode 0755); its parent must exist.
    pub fn create_dir(&mut self, path: impl AsRef<[u8]>) -> Result<()> {
        let ctx = self.ctx();
        let (parent, name) = self.parent_and_name(bytes(&path))?;
        self.engine_mut().mkdir(parent, name, 0o755, &ctx).map(drop)
    }

    /// Creates a directory and every missing ancestor.
    pub fn create_dir_all(&mut self, path: impl AsRef<[u8]>) -> Result<()> {
        let path = bytes(&path);
        let mut end = 0;
        while end < path.len() {
            end = path[end + 1..]
                .iter()
                .position(|&b| b == b'/')
                .map_or(path.len(), |i| end + 1 + i);
            let prefix = &path[..end];
            if prefix.iter().all(|&b| b == b'/') {
                continue;
            }
            match self.create_dir(prefix) {
                Ok(()) => {}
                Err(Error::Exists) if self.metadata(prefix)?.kind == FileKind::Directory => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Creates a regular file (mode 0644) or truncates an existing one, then writes `data`,
    /// like `std::fs::write`.
    pub fn write(&mut self, path: impl AsRef<[u8]>, data: impl AsRef<[u8]>) -> Result<()> {
        let ctx = self.ctx();
        let path = bytes(&path);
        let ino = match self.resolve(path) {
            Ok(ino) => {
                self.engine_mut().setattr(
                    ino,
                    SetAttr {
                        size: Some(0),
                        ..SetAttr::default()
                    },
                    &ctx,
                )?;
                ino
            }
            Err(Error::NotFound) => {
                let (parent, name) = self.parent_and_name(path)?;
                self.engine_mut().create(parent, name, 0o644, &ctx)?.ino
            }
            Err(e) => return Err(e),
        };
        self.engine_mut().write(ino, 0, data.as_ref(), &ctx).map(drop)
    }

    /// Writes `data` at `offset` of an existing file; returns the bytes written.
    pub fn write_at(&mut self, path: impl AsRef<[u8]>, offset: u64, data: &[u8]) -> Result<usize> {
        let ctx = self.ctx();
        let ino = self.resolve(bytes(&path))?;
        self.engine_mut().write(ino, offset, data, &ctx)
    }

    /// Reads a whole file.
    pub fn read(&self, path: impl AsRef<[u8]>) -> Result<Vec<u8>> {
        let ino = self.resolve(bytes(&path))?;
        let size = self.engine().getattr(ino)?.size;
        let len = usize::try_from(size).map_err(|_| Error::FileTooBig)?;
        let mut buf = vec![0; len];
        let n = self.engine().read(ino, 0, &mut buf)?;
        buf.truncate(n);
        Ok(buf)
    }

    /// Reads into `buf` from `offset`; returns the bytes read (short at end of file).
    pub fn read_at(&self, path: impl AsRef<[u8]>, offset: u64, buf: &mut [u8]) -> Result<usize> {
        let ino = self.resolve(bytes(&path))?;
        self.engine().read(ino, offset, buf)
    }

    /// Attributes, following a final symbolic link.
    pub fn metadata(&self, path: impl AsRef<[u8]>) -> Result<Attr> {
        self.engine().getattr(self.resolve(bytes(&path))?)
    }

    /// Attributes of the path itself, not following a final symbolic link.
    pub fn symlink_metadata(&self, path: impl AsRef<[u8]>) -> Result<Attr> {
        self.engine().getattr(self.engine().resolve(bytes(&path), false)?)
    }

    /// Entries of a directory (without `.` and `..`), in creation order.
    pub fn read_dir(&self, path: impl AsRef<[u8]>) -> Result<Vec<DirEntry>> {
        let ino = self.resolve(bytes(&path))?;
        let mut out = Vec::new();
        self.engine().readdir(ino, 2, |e| {
            out.push(e);
            true
        })?;
        Ok(out)
    }

    /// Removes a file, symbolic link or special node.
    pub fn remove_file(&mut self, path: impl AsRef<[u8]>) -> Result<()> {
        let ctx = self.ctx();
        let (parent, name) = self.parent_and_name(bytes(&path))?;
        self.engine_mut().unlink(parent, name, &ctx)
    }

    /// Removes an empty directory.
    pub fn remove_dir(&mut self, path: impl AsRef<[u8]>) -> Result<()> {
        let ctx = self.ctx();
        let (parent, name) = self.parent_and_name(bytes(&path))?;
        self.engine_mut().rmdir(parent, name, &ctx)
    }

    /// Renames `from` to `to`, replacing an existing `to` as POSIX `rename` does.
    pub fn rename(&mut self, from: impl AsRef<[u8]>, to: impl AsRef<[u8]>) -> Result<()> {
        self.rename_with(from, to, RenameMode::Replace)
    }

    /// Renames with an explicit mode (no-replace or exchange).
    pub fn rename_with(
        &mut self,
        from: impl AsRef<[u8]>,
        to: impl AsRef<[u8]>,
        mode: RenameMode,
    ) -> Result<()> {
        let ctx = self.ctx();
        let (p1, n1) = self.parent_and_name(bytes(&from))?;
        let (p2, n2) = self.parent_and_name(bytes(&to))?;
        self.engine_mut().rename(p1, n1, p2, n2, mode, &ctx)
    }

    /// Makes `link` a new name of the file at `original`.
    pub fn hard_link(&mut self, original: impl AsRef<[u8]>, link: impl AsRef<[u8]>) -> Result<()> {
        let ctx = self.ctx();
        let ino = self.engine().resolve(bytes(&original), false)?;
        let (parent, name) = self.parent_and_name(bytes(&link))?;
        self.engine_mut().link(ino, parent, name, &ctx).map(drop)
    }

    /// Creates a symbolic link at `link` pointing to `target`.
    pub fn symlink(&mut self, target: impl AsRef<[u8]>, link: impl AsRef<[u8]>) -> Result<()> {
        let ctx = self.ctx();
        let (parent, name) = self.parent_and_name(bytes(&link))?;
        self.engine_mut()
            .symlink(parent, name, bytes(&target), &ctx)
            .map(drop)
    }

    /// The target of a symbolic link.
    pub fn read_link(&self, path: impl AsRef<[u8]>) -> Result<Vec<u8>> {
        let ino = self.engine().resolve(bytes(&path), false)?;
        self.engine().readlink(ino).map(<[u8]>::to_vec)
    }

    /// Creates a fifo, socket or device node.
    pub fn mknod(&mut self, path: impl AsRef<[u8]>, kind: FileKind, perm: u32, rdev: u32) -> Result<()> {
        let ctx = self.ctx();
        let (parent, name) = self.parent_and_name(bytes(&path))?;
        self.engine_mut()
            .mknod(parent, name, kind, perm, rdev, &ctx)
            .map(drop)
    }

    /// Applies a `setattr` (permissions, owner, size, times) and returns the new attributes.
    pub fn set_attr(&mut self, path: impl AsRef<[u8]>, attr: SetAttr) -> Result<Attr> {
        let ctx = self.ctx();
        let ino = self.resolve(bytes(&path))?;
        self.engine_mut().setattr(ino, attr, &ctx)
    }

    /// Truncates or extends a file.
    pub fn set_len(&mut self, path: impl AsRef<[u8]>, size: u64) -> Result<()> {
        self.set_attr(
            path,
            SetAttr {
                size: Some(size),
                ..SetAttr::default()
            },
        )
        .map(drop)
    }

    /// Allocates space or punches a hole.
    pub fn fallocate(
        &mut self,
        path: impl AsRef<[u8]>,
        offset: u64,
        len: u64,
        mode: FallocMode,
    ) -> Result<()> {
        let ctx = self.ctx();
        let ino = self.resolve(bytes(&path))?;
        self.engine_mut().fallocate(ino, offset, len, mode, &ctx)
    }

    // ----- attributes, collections and vectors -----------------------------------------------

    /// Sets an extended attribute (`user.*` or `trusted.*`).
    pub fn set_xattr(
        &mut self,
        path: impl AsRef<[u8]>,
        name: impl AsRef<[u8]>,
        value: impl AsRef<[u8]>,
    ) -> Result<()> {
        self.set_xattr_with(path, name, value, XattrMode::Any)
    }

    /// Sets an extended attribute with create/replace semantics.
    pub fn set_xattr_with(
        &mut self,
        path: impl AsRef<[u8]>,
        name: impl AsRef<[u8]>,
        value: impl AsRef<[u8]>,
        mode: XattrMode,
    ) -> Result<()> {
        let ctx = self.ctx();
        let ino = self.resolve(bytes(&path))?;
        self.engine_mut()
            .setxattr(ino, bytes(&name), bytes(&value), mode, &ctx)
    }

    /// The value of an extended attribute.
    pub fn get_xattr(&self, path: impl AsRef<[u8]>, name: impl AsRef<[u8]>) -> Result<Vec<u8>> {
        let ino = self.resolve(bytes(&path))?;
        self.engine().getxattr(ino, bytes(&name)).map(<[u8]>::to_vec)
    }

    /// The names of all extended attributes.
    pub fn list_xattr(&self, path: impl AsRef<[u8]>) -> Result<Vec<Vec<u8>>> {
        let ino = self.resolve(bytes(&path))?;
        let mut buf = Vec::new();
        self.engine().listxattr(ino, &mut buf)?;
        Ok(buf
            .split(|&b| b == 0)
            .filter(|n| !n.is_empty())
            .map(<[u8]>::to_vec)
            .collect())
    }

    /// Removes an extended attribute.
    pub fn remove_xattr(&mut self, path: impl AsRef<[u8]>, name: impl AsRef<[u8]>) -> Result<()> {
        let ctx = self.ctx();
        let ino = self.resolve(bytes(&path))?;
        self.engine_mut().removexattr(ino, bytes(&name), &ctx)
    }

    /// Makes a directory a collection (or changes its configuration), as setting
    /// `user.vexfs.index` does.
    pub fn create_collection(&mut self, dir: impl AsRef<[u8]>, config: &IndexConfig) -> Result<()> {
        self.set_xattr(dir, INDEX_XATTR, config.to_string())
    }

    /// The configuration of a collection.
    pub fn collection_config(&self, dir: impl AsRef<[u8]>) -> Result<IndexConfig> {
        let ino = self.resolve(bytes(&dir))?;
        self.engine()
            .collection(ino)
            .map(|c| c.config)
            .ok_or(Error::Invalid("not a collection"))
    }

    /// Gives a file a vector, encoded in the element type of the collection holding the file.
    /// Values must suit that type (integers for `i8`/`i16`, 0/1 for `bin`).
    pub fn set_vector(&mut self, path: impl AsRef<[u8]>, values: &[f32]) -> Result<()> {
        let path = bytes(&path);
        let ino = self.resolve(path)?;
        let node = self.engine().namespace().get(ino)?;
        let cfg = node
            .parents()
            .find_map(|d| self.engine().collection(d).map(|c| c.config))
            .ok_or(Error::Invalid(
                "file is not in a collection; use set_vector_bytes",
            ))?;
        let values: Vec<f64> = values.iter().map(|&v| f64::from(v)).collect();
        let mut raw = Vec::new();
        vector::encode_values(cfg.elem, cfg.dim, &values, &mut raw)?;
        self.set_vector_bytes(path, &raw)
    }

    /// Sets a file's vector from raw little-endian bytes of the collection's type.
    pub fn set_vector_bytes(&mut self, path: impl AsRef<[u8]>, raw: &[u8]) -> Result<()> {
        self.set_xattr(path, VECTOR_XATTR, raw)
    }

    /// A file's vector as raw bytes.
    pub fn vector_bytes(&self, path: impl AsRef<[u8]>) -> Result<Vec<u8>> {
        self.get_xattr(path, VECTOR_XATTR)
    }

    /// Removes a file's vector.
    pub fn remove_vector(&mut self, path: impl AsRef<[u8]>) -> Result<()> {
        self.remove_xattr(path, VECTOR_XATTR)
    }

    /// Runs a query, nearest first, with **trusted** credentials ([`Creds::ROOT`]): every file
    /// of the collection is a candidate and every path resolves, whatever its permission bits
    /// (the calling process holds the whole image). A program that answers queries for other
    /// users must call the core's `Engine::search` with their [`Creds`] instead, as the FUSE
    /// mount does.
    pub fn search(&self, query: &Query) -> Result<Vec<SearchResult>> {
        self.search_with(query, &mut Scratch::new())
    }

    /// Runs a query with caller-owned scratch memory (reuse it to avoid allocation).
    pub fn search_with(&self, query: &Query, scratch: &mut Scratch) -> Result<Vec<SearchResult>> {
        let mut hits = Vec::new();
        let dir = self.engine().search(query, &Creds::ROOT, scratch, &mut hits)?;
        let mut path = Vec::new();
        hits.iter()
            .map(|h| {
                self.engine().hit_path(dir, h.ino, &mut path)?;
                Ok(SearchResult {
                    path: String::from_utf8_lossy(&path).into_owned(),
                    distance: h.distance,
                })
            })
            .collect()
    }

    /// Runs a query given as JSON (SPEC §4).
    pub fn search_json(&self, json: &str) -> Result<Vec<SearchResult>> {
        self.search(&vexfs_core::query::parse_query(json.as_bytes())?)
    }

    /// Runs one query or a batch given as JSON (SPEC §4: an object, or an array of objects) and
    /// returns the answer lines exactly as `/.vexfs/search` writes them: with what each query's
    /// `include` asks for and, for a batch, `"query":N`. Trusted credentials, as [`Vexfs::search`].
    /// An error in any query of a batch fails the whole call (a query error names it: `query 3: ...`).
    pub fn search_lines(&self, json: &str, scratch: &mut Scratch) -> Result<Vec<u8>> {
        let qs = vexfs_core::query::parse_queries(json.as_bytes())?;
        let mut hits = Vec::new();
        let mut out = Vec::new();
        for (i, q) in qs.queries.iter().enumerate() {
            let at = qs.batch.then_some(i);
            let in_batch = |e: Error| match (at, e) {
                (Some(i), Error::Query(m)) if !m.starts_with("query ") => {
                    Error::query(format!("query {i}: {m}"))
                }
                (_, e) => e,
            };
            let dir = self
                .engine()
                .search(q, &Creds::ROOT, scratch, &mut hits)
                .map_err(in_batch)?;
            let lines = vexfs_core::HitLines {
                include: &q.include,
                query: at,
                limit: usize::MAX,
            };
            self.engine()
                .write_hits_json(dir, &hits, &lines, scratch, &mut out)
                .map_err(in_batch)?;
        }
        Ok(out)
    }

    /// The stats document (with the image size when there is an image), with **trusted**
    /// credentials: every collection is listed.
    pub fn stats(&self) -> Stats {
        let mut s = self.engine().stats(&Creds::ROOT);
        s.image_bytes = self.engine().image_bytes();
        s
    }

    /// Checks every invariant of the filesystem.
    pub fn check(&self) -> Result<(), Problems> {
        vexfs_core::check::check(self.engine())
    }
}

fn system_now() -> Timestamp {
    match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(d) => Timestamp::new(i64::try_from(d.as_secs()).unwrap_or(i64::MAX), d.subsec_nanos()),
        Err(e) => {
            let d = e.duration();
            let secs = -i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
            match d.subsec_nanos() {
                0 => Timestamp::new(secs, 0),
                n => Timestamp::new(secs - 1, 1_000_000_000 - n),
            }
        }
    }
}
