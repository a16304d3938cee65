//! The virtual directory `/.vexfs` (SPEC §4, §6): its node ids, attributes and listing, and the
//! per-open-file state of its two files.
//!
//! Nothing here is stored in the image. The three nodes have reserved node ids above
//! `u32::MAX`, outside the engine's inode range (inode numbers are dense `u32` indexes plus
//! one), so no engine inode can ever collide with them. The kernel's lookups of them are not
//! counted (they need no pin). `.vexfs` appears in the root's listing with the cookie
//! [`VEXFS_COOKIE`], after every engine entry (engine cookies are small counters).
//!
//! Policy (documented for users in `frontends/fuse/README.md`):
//! - `.vexfs` cannot be created over (`EEXIST`), removed or renamed (`EPERM`), and nothing can
//!   be created, linked or renamed into it (`EPERM`).
//! - `search` (mode 0666) is a transaction file. Each open gets its own [`Search`]: a query
//!   buffer, its own `Scratch` and result buffer, reused across queries, so concurrent searches
//!   never see each other's results. The `Scratch` (visited tags sized to the largest
//!   collection, heaps) comes from a small pool and goes back to it on release, so an open
//!   does not allocate and zero them again. A write appends to the query (more than `QUERY_LEN_MAX`
//!   bytes in all: `EINVAL`); once the bytes form a complete JSON value the query is parsed and
//!   run. Incomplete JSON is accepted and waits for more; a malformed or failing query fails the
//!   write (`EINVAL` for malformed queries, the core's errno otherwise, e.g. `ENOENT` for a
//!   missing collection) and a read then returns one line `{"error":"..."}`. The file is a
//!   *stream* (`FOPEN_STREAM`): reads return the result lines in order from the first, whatever
//!   the file position, so write-then-read on one descriptor works as it does on a pipe
//!   (`pread`/`lseek` fail with `ESPIPE`). A write after a finished query starts a new one.
//! - `stats` (mode 0444) is rendered once per open, so every read of one open file sees the
//!   same document; reads are by offset.
//! - Both are opened with `direct_io`, so their contents are never cached. Their names and
//!   attributes (size 0, the mount's time) never change, so the kernel may cache those.

use fuser::{Errno, FileAttr, FileType, INodeNo};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::SystemTime;
use vexfs_core::limits::QUERY_LEN_MAX;
use vexfs_core::query::{Query, parse_query};
use vexfs_core::{Error, Hit, Scratch};

/// Name of the virtual directory in the root.
pub(crate) const VEXFS_NAME: &[u8] = b".vexfs";
/// Node id of `/.vexfs`.
pub(crate) const VEXFS_DIR: u64 = (1 << 32) + 1;
/// Node id of `/.vexfs/search`.
pub(crate) const SEARCH: u64 = (1 << 32) + 2;
/// Node id of `/.vexfs/stats`.
pub(crate) const STATS: u64 = (1 << 32) + 3;
/// Readdir cookie of `.vexfs` in the root: after every engine cookie, and a valid `off_t`.
pub(crate) const VEXFS_COOKIE: u64 = i64::MAX as u64;

/// Whether `ino` is one of the virtual nodes.
pub(crate) fn is_virtual(ino: u64) -> bool {
    (VEXFS_DIR..=STATS).contains(&ino)
}

/// Whether `parent/name` is the virtual directory's name in the root.
pub(crate) fn is_vexfs_name(parent: u64, name: &[u8]) -> bool {
    parent == vexfs_core::ROOT_INO && name == VEXFS_NAME
}

/// The node `name` names inside `/.vexfs`.
pub(crate) fn lookup(name: &[u8]) -> Option<u64> {
    match name {
        b"search" => Some(SEARCH),
        b"stats" => Some(STATS),
        _ => None,
    }
}

/// The listing of `/.vexfs`: `(node, cookie, type, name)`.
pub(crate) const ENTRIES: [(u64, u64, FileType, &str); 4] = [
    (VEXFS_DIR, 1, FileType::Directory, "."),
    (vexfs_core::ROOT_INO, 2, FileType::Directory, ".."),
    (SEARCH, 3, FileType::RegularFile, "search"),
    (STATS, 4, FileType::RegularFile, "stats"),
];

/// Attributes of a virtual node (owned by root, timed at the mount).
pub(crate) fn attr(ino: u64, mounted_at: SystemTime) -> Option<FileAttr> {
    let (kind, perm, nlink) = match ino {
        VEXFS_DIR => (FileType::Directory, 0o555, 2),
        SEARCH => (FileType::RegularFile, 0o666, 1),
        STATS => (FileType::RegularFile, 0o444, 1),
        _ => return None,
    };
    Some(FileAttr {
        ino: INodeNo(ino),
        size: 0,
        blocks: 0,
        atime: mounted_at,
        mtime: mounted_at,
        ctime: mounted_at,
        crtime: mounted_at,
        kind,
        perm,
        nlink,
        uid: 0,
        gid: 0,
        rdev: 0,
        blksize: 4096,
        flags: 0,
    })
}

/// What an open virtual file holds.
#[derive(Debug)]
pub(crate) enum Handle {
    /// An open `search` file.
    Search(Box<Mutex<Search>>),
    /// An open `stats` file: the document rendered at open.
    Stats(Vec<u8>),
}

/// Scratches kept for reuse by later opens of `search` (at most this many; one per search
/// running at once is all that is ever needed, and the FUSE session runs a few threads).
const SCRATCH_POOL_MAX: usize = 8;

/// Open virtual files by file handle. Handles start at 1; engine files use handle 0.
#[derive(Debug)]
pub(crate) struct Handles {
    next: AtomicU64,
    map: Mutex<HashMap<u64, Arc<Handle>>>,
    /// Scratches of released `search` files, handed to the next opens.
    scratches: Mutex<Vec<Scratch>>,
}

impl Handles {
    pub(crate) fn new() -> Self {
        Handles {
            next: AtomicU64::new(1),
            map: Mutex::new(HashMap::new()),
            scratches: Mutex::new(Vec::new()),
        }
    }

    fn scratches(&self) -> std::sync::MutexGuard<'_, Vec<Scratch>> {
        // A pool of interchangeable buffers: nothing a panic could leave inconsistent.
        self.scratches.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Registers a new open `search` file, with a pooled scratch when one is free.
    pub(crate) fn open_search(&self) -> u64 {
        let scratch = self.scratches().pop().unwrap_or_default();
        self.insert(Handle::Search(Box::new(Mutex::new(Search::with_scratch(
            scratch,
        )))))
    }

    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Arc<Handle>>> {
        // The map holds no invariant a panic could break half-way.
        self.map.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Registers `h`; returns its file handle.
    pub(crate) fn insert(&self, h: Handle) -> u64 {
        let fh = self.next.fetch_add(1, Ordering::Relaxed);
        self.map().insert(fh, Arc::new(h));
        fh
    }

    /// The handle `fh`.
    pub(crate) fn get(&self, fh: u64) -> Option<Arc<Handle>> {
        self.map().get(&fh).cloned()
    }

    /// Forgets `fh` (release); a `search` file's scratch goes back to the pool unless a
    /// request still in flight holds the handle.
    pub(crate) fn remove(&self, fh: u64) {
        let Some(h) = self.map().remove(&fh) else {
            return;
        };
        if let Ok(Handle::Search(search)) = Arc::try_unwrap(h) {
            let scratch = search
                .into_inner()
                .unwrap_or_else(PoisonError::into_inner)
                .scratch;
            let mut pool = self.scratches();
            if pool.len() < SCRATCH_POOL_MAX {
                pool.push(scratch);
            }
        }
    }

    /// Open virtual files.
    pub(crate) fn len(&self) -> usize {
        self.map().len()
    }
}

/// Serves `data[offset..]`, at most `size` bytes.
pub(crate) fn slice_at(data: &[u8], offset: u64, size: u32) -> &[u8] {
    let start = usize::try_from(offset).unwrap_or(usize::MAX).min(data.len());
    let end = start.saturating_add(size as usize).min(data.len());
    &data[start..end]
}

/// One line `{"error":"..."}`.
fn error_line(msg: &str, out: &mut Vec<u8>) {
    out.clear();
    out.extend_from_slice(serde_json::json!({ "error": msg }).to_string().as_bytes());
    out.push(b'\n');
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Nothing written since the last finished query (or ever).
    Empty,
    /// Some bytes of a query that is not yet complete JSON.
    Partial,
    /// The query ran (or failed): `out` holds its result or error lines.
    Done,
}

/// One open `search` file: a query being written and the lines of the last one.
#[derive(Debug)]
pub(crate) struct Search {
    query: Vec<u8>,
    state: State,
    out: Vec<u8>,
    cursor: usize,
    scratch: Scratch,
    hits: Vec<Hit>,
}

/// What a [`Search`] asks its owner to do with a complete, valid query: run it against the
/// engine (under the read lock) and write the result lines into the buffer.
pub(crate) type Runner<'a> =
    dyn FnMut(&Query, &mut Scratch, &mut Vec<Hit>, &mut Vec<u8>) -> Result<(), Error> + 'a;

impl Search {
    #[cfg(test)]
    pub(crate) fn new() -> Self {
        Search::with_scratch(Scratch::new())
    }

    /// A new open `search` file that runs its queries with `scratch`.
    pub(crate) fn with_scratch(scratch: Scratch) -> Self {
        Search {
            query: Vec::new(),
            state: State::Empty,
            out: Vec::new(),
            cursor: 0,
            scratch,
            hits: Vec::new(),
        }
    }

    /// Appends `data` to the query; runs it with `run` once complete. Returns the bytes
    /// accepted (all of them) or the errno of a malformed or failed query.
    pub(crate) fn write(&mut self, data: &[u8], run: &mut Runner<'_>) -> Result<usize, Errno> {
        if self.state == State::Done {
            self.query.clear();
            self.out.clear();
            self.cursor = 0;
            self.state = State::Empty;
        }
        if self.query.len() + data.len() > QUERY_LEN_MAX {
            self.fail(&format!(
                "invalid query: query is longer than {QUERY_LEN_MAX} bytes"
            ));
            return Err(Errno::EINVAL);
        }
        self.query.extend_from_slice(data);
        let first = self.query.iter().find(|b| !b.is_ascii_whitespace());
        if first.is_none() {
            // Only whitespace so far: wait.
            self.state = if self.query.is_empty() {
                State::Empty
            } else {
                State::Partial
            };
            return Ok(data.len());
        }
        // Complete JSON yet? A value cut short is an EOF error; wait for the rest.
        if first == Some(&b'{')
            && let Err(e) = serde_json::from_slice::<serde::de::IgnoredAny>(&self.query)
            && e.is_eof()
        {
            self.state = State::Partial;
            return Ok(data.len());
        }
        let result = parse_query(&self.query).and_then(|q| {
            self.out.clear();
            self.cursor = 0;
            run(&q, &mut self.scratch, &mut self.hits, &mut self.out)
        });
        match result {
            Ok(()) => {
                self.state = State::Done;
                Ok(data.len())
            }
            Err(e) => {
                self.fail(&e.to_string());
                Err(crate::errno::errno(&e))
            }
        }
    }

    fn fail(&mut self, msg: &str) {
        error_line(msg, &mut self.out);
        self.cursor = 0;
        self.query.clear();
        self.state = State::Done;
    }

    /// The next at most `size` bytes of the result lines. While the query is incomplete this is
    /// an error line saying so (the query stays open for more writes).
    pub(crate) fn read(&mut self, size: u32) -> &[u8] {
        if self.state == State::Partial && self.cursor == 0 {
            let msg = match serde_json::from_slice::<serde::de::IgnoredAny>(&self.query) {
                Err(e) => format!("invalid query: incomplete JSON ({e})"),
                Ok(_) => "invalid query: incomplete JSON".to_owned(),
            };
            error_line(&msg, &mut self.out);
        }
        let start = self.cursor.min(self.out.len());
        let end = start.saturating_add(size as usize).min(self.out.len());
        self.cursor = end;
        &self.out[start..end]
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn ok_runner() -> impl FnMut(&Query, &mut Scratch, &mut Vec<Hit>, &mut Vec<u8>) -> Result<(), Error> {
        |q, _, _, out| {
            out.extend_from_slice(format!("{{\"dir\":\"{}\"}}\n", q.dir).as_bytes());
            Ok(())
        }
    }

    fn read_all(s: &mut Search) -> String {
        let mut all = Vec::new();
        loop {
            let chunk = s.read(7).to_vec();
            if chunk.is_empty() {
                break;
            }
            all.extend(chunk);
        }
        String::from_utf8(all).unwrap()
    }

    #[test]
    fn released_search_files_return_their_scratch_to_a_bounded_pool() {
        let h = Handles::new();
        let fhs: Vec<u64> = (0..SCRATCH_POOL_MAX + 3).map(|_| h.open_search()).collect();
        assert_eq!(h.scratches().len(), 0);
        // A request still holding the handle keeps its scratch out of the pool.
        let held = h.get(fhs[0]).unwrap();
        h.remove(fhs[0]);
        assert_eq!(h.scratches().len(), 0);
        drop(held);
        for &fh in &fhs[1..] {
            h.remove(fh);
        }
        assert_eq!(h.scratches().len(), SCRATCH_POOL_MAX);
        let again = h.open_search();
        assert_eq!(h.scratches().len(), SCRATCH_POOL_MAX - 1);
        h.remove(again);
        h.remove(again);
        assert_eq!(h.scratches().len(), SCRATCH_POOL_MAX);
        assert_eq!(h.len(), 0);
    }

    #[test]
    fn split_query_runs_when_complete() {
        let mut s = Search::new();
        let mut run = ok_runner();
        assert_eq!(s.write(b"{\"dir\":\"/d\",", &mut run), Ok(12));
        assert!(read_all(&mut s).contains("incomplete"));
        assert_eq!(s.write(b"\"vector\":[1]}", &mut run), Ok(13));
        assert_eq!(read_all(&mut s), "{\"dir\":\"/d\"}\n");
        // A new query replaces the old results.
        s.write(b"{\"dir\":\"/e\",\"vector\":[1]}\n", &mut run).unwrap();
        assert_eq!(read_all(&mut s), "{\"dir\":\"/e\"}\n");
    }

    #[test]
    fn malformed_query_is_einval_with_an_error_line() {
        let mut s = Search::new();
        let mut run = ok_runner();
        assert_eq!(s.write(b"{\"dir\":\"/d\"}", &mut run), Err(Errno::EINVAL));
        let line = read_all(&mut s);
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert!(v["error"].as_str().unwrap().contains("vector"), "{line}");
        assert_eq!(s.write(b"[1,2]", &mut run), Err(Errno::EINVAL));
        assert_eq!(s.write(b"{} trailing", &mut run), Err(Errno::EINVAL));
        let big = vec![b' '; QUERY_LEN_MAX + 1];
        assert_eq!(s.write(&big, &mut run), Err(Errno::EINVAL));
        assert!(read_all(&mut s).contains("longer"));
    }

    #[test]
    fn engine_errors_keep_their_errno() {
        let mut s = Search::new();
        let mut run = |_: &Query, _: &mut Scratch, _: &mut Vec<Hit>, _: &mut Vec<u8>| Err(Error::NotFound);
        assert_eq!(
            s.write(b"{\"dir\":\"/nope\",\"vector\":[1]}", &mut run),
            Err(Errno::ENOENT)
        );
        assert!(read_all(&mut s).contains("no such file"));
    }

    #[test]
    fn slices() {
        assert_eq!(slice_at(b"hello", 1, 3), b"ell");
        assert_eq!(slice_at(b"hello", 9, 3), b"");
        assert_eq!(slice_at(b"hello", u64::MAX, u32::MAX), b"");
    }
}
