//! [`Model`]: the reference model of a VexFS namespace — a `BTreeMap` of nodes with brute-force
//! vector search — against which core's property test (`core/tests/model.rs`), the simulator
//! and the fuzzers compare the real filesystem. It is the one model: both drive it by path.
//!
//! It lives in a crate of its own so that core can take it as a dev-dependency (the release
//! core never links it) and the simulator as a dependency (`vexfs_sim::model` re-exports it).
//! It keeps only what a user can observe through that API and
//! what the operations decide: the tree, kinds, permission bits, link counts and hard-link
//! identity, file data, every extended attribute, which directories are collections (with their
//! parsed configuration), and the vectors. Times, owners and inode numbers are not modelled.
//!
//! Invariants: node 0 is the root and is a directory; every other node is named by at least
//! one directory entry (`names` counts them for non-directories; a directory has exactly one);
//! symbolic links all point to [`DANGLING`], so path resolution never follows one and a path
//! through a link is `NotFound`.
//!
//! The filter language and the distance kernels are the core's own (`Filter::eval`,
//! `vector::kernel`): the model decides *which* files a search must consider and in what order,
//! not how a filter string is parsed (that has its own fuzz target).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use vexfs_core::query::{FileMeta, Filter};
use vexfs_core::vector::{self, ElemType};
use vexfs_core::{Error, INDEX_XATTR, IndexConfig, RenameMode, Result, VECTOR_XATTR, XattrMode};

/// Where every symbolic link made by the simulator points: nowhere.
pub const DANGLING: &[u8] = b"/zz/nowhere";

/// Model node identifier (not an inode number; 0 is the root).
pub type Id = u64;

/// The root's identifier.
pub const ROOT: Id = 0;

/// What a node is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// A regular file and its data (shared: the world keeps a model per operation since the
    /// last sync, and a clone must not copy megabytes of file data).
    File(Arc<Vec<u8>>),
    /// A directory: name -> node.
    Dir(BTreeMap<Vec<u8>, Id>),
    /// A symbolic link (to [`DANGLING`]).
    Symlink,
    /// A fifo or socket (`true` for a socket).
    Special(bool),
}

/// One node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    /// Kind and body.
    pub kind: Kind,
    /// Permission bits.
    pub perm: u32,
    /// Extended attributes, by full name.
    pub xattrs: BTreeMap<Vec<u8>, Vec<u8>>,
    /// Number of names (non-directories; directories derive their link count).
    pub names: u32,
}

/// The reference model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Model {
    /// Every node.
    pub nodes: BTreeMap<Id, Node>,
    next: Id,
    /// Collections: directory -> configuration.
    pub collections: BTreeMap<Id, IndexConfig>,
}

impl Default for Model {
    fn default() -> Self {
        Self::new()
    }
}

/// Splits a path into its components (empty ones dropped).
fn components(path: &[u8]) -> Vec<&[u8]> {
    path.split(|&b| b == b'/').filter(|c| !c.is_empty()).collect()
}

impl Model {
    /// An empty filesystem: the root directory, mode 0755.
    pub fn new() -> Self {
        let mut nodes = BTreeMap::new();
        nodes.insert(
            ROOT,
            Node {
                kind: Kind::Dir(BTreeMap::new()),
                perm: 0o755,
                xattrs: BTreeMap::new(),
                names: 0,
            },
        );
        Model {
            nodes,
            next: 1,
            collections: BTreeMap::new(),
        }
    }

    fn node(&self, id: Id) -> &Node {
        self.nodes.get(&id).expect("model ids in directories exist")
    }

    fn node_mut(&mut self, id: Id) -> &mut Node {
        self.nodes.get_mut(&id).expect("model ids in directories exist")
    }

    /// The entries of directory `id`, or `NotDirectory`.
    pub fn dir(&self, id: Id) -> Result<&BTreeMap<Vec<u8>, Id>> {
        match &self.node(id).kind {
            Kind::Dir(d) => Ok(d),
            _ => Err(Error::NotDirectory),
        }
    }

    fn dir_mut(&mut self, id: Id) -> &mut BTreeMap<Vec<u8>, Id> {
        match &mut self.node_mut(id).kind {
            Kind::Dir(d) => d,
            _ => panic!("model: {id} is not a directory"),
        }
    }

    /// Whether `id` is a directory.
    pub fn is_dir(&self, id: Id) -> bool {
        matches!(self.node(id).kind, Kind::Dir(_))
    }

    /// (parent, final name) of a path; intermediate symbolic links are dangling (`NotFound`).
    pub fn parent(&self, path: &[u8]) -> Result<(Id, Vec<u8>)> {
        let comps = components(path);
        let Some((last, walk)) = comps.split_last() else {
            return Err(Error::Invalid("empty path"));
        };
        let mut cur = ROOT;
        for c in walk {
            let next = *self.dir(cur)?.get(*c).ok_or(Error::NotFound)?;
            if self.node(next).kind == Kind::Symlink {
                return Err(Error::NotFound);
            }
            cur = next;
        }
        self.dir(cur)?;
        Ok((cur, last.to_vec()))
    }

    /// The node a path names, following a final symbolic link (always dangling).
    pub fn resolve(&self, path: &[u8]) -> Result<Id> {
        let (p, n) = self.parent(path)?;
        let id = *self.dir(p)?.get(&n).ok_or(Error::NotFound)?;
        if self.node(id).kind == Kind::Symlink {
            return Err(Error::NotFound);
        }
        Ok(id)
    }

    /// The node a path names, not following a final symbolic link.
    pub fn resolve_nofollow(&self, path: &[u8]) -> Result<Id> {
        let (p, n) = self.parent(path)?;
        self.dir(p)?.get(&n).copied().ok_or(Error::NotFound)
    }

    fn parent_of_dir(&self, id: Id) -> Option<Id> {
        self.nodes.iter().find_map(|(&pid, n)| match &n.kind {
            Kind::Dir(d) if d.values().any(|&c| c == id) => Some(pid),
            _ => None,
        })
    }

    fn is_ancestor(&self, anc: Id, mut id: Id) -> bool {
        loop {
            if id == anc {
                return true;
            }
            match self.parent_of_dir(id) {
                Some(p) => id = p,
                None => return false,
            }
        }
    }

    /// Every directory holding a name of `id`.
    pub fn parents(&self, id: Id) -> Vec<Id> {
        self.nodes
            .iter()
            .filter(|(_, n)| matches!(&n.kind, Kind::Dir(d) if d.values().any(|&c| c == id)))
            .map(|(&p, _)| p)
            .collect()
    }

    fn new_node(&mut self, path: &[u8], kind: Kind, perm: u32) -> Result<()> {
        let (parent, name) = self.parent(path)?;
        if self.dir(parent)?.contains_key(&name) {
            return Err(Error::Exists);
        }
        // A set-group-ID directory passes the bit on to new subdirectories.
        let setgid = self.node(parent).perm & 0o2000;
        let perm = if matches!(kind, Kind::Dir(_)) {
            perm | setgid
        } else {
            perm
        };
        let id = self.next;
        self.next += 1;
        self.nodes.insert(
            id,
            Node {
                kind,
                perm,
                xattrs: BTreeMap::new(),
                names: 1,
            },
        );
        self.dir_mut(parent).insert(name, id);
        Ok(())
    }

    fn drop_name(&mut self, id: Id) {
        let n = self.node_mut(id);
        n.names -= 1;
        if n.names == 0 {
            self.nodes.remove(&id);
            self.collections.remove(&id);
        }
    }

    /// `mkdir` (mode 0755).
    pub fn mkdir(&mut self, path: &[u8]) -> Result<()> {
        self.new_node(path, Kind::Dir(BTreeMap::new()), 0o755)
    }

    /// Creates an empty regular file (mode 0644).
    pub fn create(&mut self, path: &[u8]) -> Result<()> {
        self.new_node(path, Kind::File(Arc::new(Vec::new())), 0o644)
    }

    /// Creates a fifo (or a socket) with mode 0600.
    pub fn mknod(&mut self, path: &[u8], socket: bool) -> Result<()> {
        self.new_node(path, Kind::Special(socket), 0o600)
    }

    /// Creates a symbolic link to [`DANGLING`].
    pub fn symlink(&mut self, path: &[u8]) -> Result<()> {
        self.new_node(path, Kind::Symlink, 0o777)
    }

    /// `link(from, to)`.
    pub fn link(&mut self, from: &[u8], to: &[u8]) -> Result<()> {
        let id = self.resolve_nofollow(from)?;
        let (tp, tname) = self.parent(to)?;
        if self.is_dir(id) {
            return Err(Error::NotPermitted);
        }
        if self.dir(tp)?.contains_key(&tname) {
            return Err(Error::Exists);
        }
        self.dir_mut(tp).insert(tname, id);
        self.node_mut(id).names += 1;
        Ok(())
    }

    /// `unlink` (`want_dir == false`) or `rmdir`.
    pub fn remove(&mut self, path: &[u8], want_dir: bool) -> Result<()> {
        let (parent, name) = self.parent(path)?;
        let id = *self.dir(parent)?.get(&name).ok_or(Error::NotFound)?;
        match (want_dir, &self.node(id).kind) {
            (false, Kind::Dir(_)) => return Err(Error::IsDirectory),
            (true, Kind::Dir(d)) if !d.is_empty() => return Err(Error::NotEmpty),
            (true, Kind::Dir(_)) => {}
            (true, _) => return Err(Error::NotDirectory),
            _ => {}
        }
        self.dir_mut(parent).remove(&name);
        self.drop_name(id);
        Ok(())
    }

    /// `rename(from, to)` in `mode`.
    pub fn rename(&mut self, from: &[u8], to: &[u8], mode: RenameMode) -> Result<()> {
        let (fp, fname) = self.parent(from)?;
        let (tp, tname) = self.parent(to)?;
        let src = *self.dir(fp)?.get(&fname).ok_or(Error::NotFound)?;
        let dst = self.dir(tp)?.get(&tname).copied();
        match (mode, dst) {
            (RenameMode::Exchange, None) => return Err(Error::NotFound),
            (RenameMode::NoReplace, Some(_)) => return Err(Error::Exists),
            _ => {}
        }
        if dst == Some(src) {
            return Ok(());
        }
        if self.is_dir(src) && self.is_ancestor(src, tp) {
            return Err(Error::Invalid("cannot move a directory into itself"));
        }
        if mode == RenameMode::Exchange {
            let d = dst.ok_or(Error::NotFound)?;
            if self.is_dir(d) && self.is_ancestor(d, fp) {
                return Err(Error::Invalid("cannot move a directory into itself"));
            }
            self.dir_mut(fp).insert(fname, d);
            self.dir_mut(tp).insert(tname, src);
            return Ok(());
        }
        if let Some(d) = dst {
            match (self.is_dir(src), &self.node(d).kind) {
                (true, Kind::Dir(c)) if !c.is_empty() => return Err(Error::NotEmpty),
                (true, Kind::Dir(_)) => {}
                (true, _) => return Err(Error::NotDirectory),
                (false, Kind::Dir(_)) => return Err(Error::IsDirectory),
                _ => {}
            }
            self.drop_name(d);
        }
        self.dir_mut(fp).remove(&fname);
        self.dir_mut(tp).insert(tname, src);
        Ok(())
    }

    fn file_mut(&mut self, path: &[u8]) -> Result<&mut Vec<u8>> {
        let id = self.resolve(path)?;
        match &mut self.node_mut(id).kind {
            Kind::File(d) => Ok(Arc::make_mut(d)),
            Kind::Dir(_) => Err(Error::IsDirectory),
            _ => Err(Error::Invalid("not a regular file")),
        }
    }

    /// The data of the regular file at `path`.
    pub fn read(&self, path: &[u8]) -> Result<&[u8]> {
        let id = self.resolve(path)?;
        match &self.node(id).kind {
            Kind::File(d) => Ok(d),
            Kind::Dir(_) => Err(Error::IsDirectory),
            _ => Err(Error::Invalid("not a regular file")),
        }
    }

    /// `pwrite(path, data, off)`.
    pub fn write(&mut self, path: &[u8], off: u64, data: &[u8]) -> Result<()> {
        let f = self.file_mut(path)?;
        if !data.is_empty() {
            let off = off as usize;
            let end = off + data.len();
            if f.len() < end {
                f.resize(end, 0);
            }
            f[off..end].copy_from_slice(data);
        }
        Ok(())
    }

    /// `truncate(path, size)`.
    pub fn truncate(&mut self, path: &[u8], size: u64) -> Result<()> {
        let id = self.resolve(path)?;
        match &mut self.node_mut(id).kind {
            Kind::File(d) => Arc::make_mut(d).resize(size as usize, 0),
            Kind::Dir(_) => return Err(Error::IsDirectory),
            _ => return Err(Error::Invalid("not a regular file")),
        }
        Ok(())
    }

    /// `fallocate(path, off, len, mode)`.
    pub fn fallocate(&mut self, path: &[u8], off: u64, len: u64, mode: vexfs_core::FallocMode) -> Result<()> {
        use vexfs_core::FallocMode;
        let f = self.file_mut(path)?;
        if len == 0 {
            return Err(Error::Invalid("fallocate length must be positive"));
        }
        let (off, end) = (off as usize, (off + len) as usize);
        match mode {
            FallocMode::Allocate if f.len() < end => f.resize(end, 0),
            FallocMode::PunchHole => {
                let e = end.min(f.len());
                if off < e {
                    f[off..e].fill(0);
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// `chmod(path, perm)`.
    pub fn chmod(&mut self, path: &[u8], perm: u32) -> Result<()> {
        let id = self.resolve(path)?;
        self.node_mut(id).perm = perm & 0o7777;
        Ok(())
    }

    /// Whether `dir` has a collection member (a file whose vector fits).
    fn has_members(&self, dir: Id) -> bool {
        self.collections.contains_key(&dir) && !self.members(dir).is_empty()
    }

    /// `setxattr(path, name, value, mode)`, with the collection and vector rules.
    pub fn setxattr(&mut self, path: &[u8], name: &[u8], value: &[u8], mode: XattrMode) -> Result<()> {
        let id = self.resolve(path)?;
        if !(name.starts_with(b"user.") || name.starts_with(b"trusted.")) {
            return Err(Error::NotSupported);
        }
        let n = self.node(id);
        if name.starts_with(b"user.") && !matches!(n.kind, Kind::File(_) | Kind::Dir(_)) {
            return Err(Error::NotPermitted);
        }
        let exists = n.xattrs.contains_key(name);
        match (mode, exists) {
            (XattrMode::Create, true) => return Err(Error::Exists),
            (XattrMode::Replace, false) => return Err(Error::NoAttribute),
            _ => {}
        }
        let mut stored = value.to_vec();
        if name == INDEX_XATTR {
            if !self.is_dir(id) {
                return Err(Error::NotDirectory);
            }
            let cfg = IndexConfig::parse(value)?;
            if let Some(old) = self.collections.get(&id)
                && !old.same_index(&cfg)
                && self.has_members(id)
            {
                return Err(Error::Busy("collection holds vectors; only ef_search may change"));
            }
            stored = cfg.to_string().into_bytes();
            self.collections.insert(id, cfg);
        } else if name == VECTOR_XATTR && matches!(n.kind, Kind::File(_)) {
            // Accepted when it fits one of the file's collections (or it is in none).
            let mut refused = None;
            for d in self.parents(id) {
                if let Some(cfg) = self.collections.get(&d) {
                    match cfg.check_vector(value) {
                        Ok(()) => {
                            refused = None;
                            break;
                        }
                        Err(e) => {
                            refused = Some(if refused.is_some() {
                                vexfs_core::collections::Collections::FITS_NONE
                            } else {
                                e
                            });
                        }
                    }
                }
            }
            if let Some(e) = refused {
                return Err(e);
            }
        }
        self.node_mut(id).xattrs.insert(name.to_vec(), stored);
        Ok(())
    }

    /// `removexattr(path, name)`.
    pub fn removexattr(&mut self, path: &[u8], name: &[u8]) -> Result<()> {
        let id = self.resolve(path)?;
        if !(name.starts_with(b"user.") || name.starts_with(b"trusted.")) {
            return Err(Error::NotSupported);
        }
        if self.node_mut(id).xattrs.remove(name).is_none() {
            return Err(Error::NoAttribute);
        }
        if name == INDEX_XATTR {
            self.collections.remove(&id);
        }
        Ok(())
    }

    /// (smallest name, id, vector) of every file collection `dir` must index, by name.
    pub fn members(&self, dir: Id) -> Vec<(&[u8], Id, &[u8])> {
        let (Some(cfg), Ok(d)) = (self.collections.get(&dir), self.dir(dir)) else {
            return Vec::new();
        };
        let mut seen = BTreeSet::new();
        d.iter()
            .filter_map(|(name, &id)| {
                let n = self.node(id);
                let v = n.xattrs.get(VECTOR_XATTR)?;
                (matches!(n.kind, Kind::File(_)) && cfg.fits(v) && seen.insert(id)).then_some((
                    &name[..],
                    id,
                    &v[..],
                ))
            })
            .collect()
    }

    /// Exact search: the `k` members of collection `dir` nearest to `q` that pass `filter`, as
    /// (name, distance), nearest first, ties by name.
    pub fn search(&self, dir: Id, q: &[u8], k: usize, filter: Option<&Filter>) -> Vec<(Vec<u8>, f32)> {
        let Some(cfg) = self.collections.get(&dir) else {
            return Vec::new();
        };
        let kernel = vector::kernel(cfg.elem, cfg.metric);
        let mut all: Vec<(f32, Vec<u8>)> = self
            .members(dir)
            .into_iter()
            .filter(|(name, id, _)| {
                filter.is_none_or(|f| {
                    f.eval(&Meta {
                        node: self.node(*id),
                        name,
                    })
                })
            })
            .map(|(name, _, v)| (kernel(q, v), name.to_vec()))
            .collect();
        all.sort_by(|a, b| a.0.total_cmp(&b.0).then_with(|| a.1.cmp(&b.1)));
        all.truncate(k);
        all.into_iter().map(|(d, n)| (n, d)).collect()
    }

    /// The element type of collection `dir`.
    pub fn collection(&self, dir: Id) -> Option<&IndexConfig> {
        self.collections.get(&dir)
    }

    /// Number of nodes (root included).
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Whether only the root exists.
    pub fn is_empty(&self) -> bool {
        self.nodes.len() == 1
    }

    /// Number of vectors the collections hold in total.
    pub fn indexed(&self) -> usize {
        self.collections.keys().map(|&d| self.members(d).len()).sum()
    }
}

/// What a filter sees of a model file (the same view the engine gives it: `user.*` attributes
/// but the vector, the name in the collection, the size; mtime is not modelled).
struct Meta<'a> {
    node: &'a Node,
    name: &'a [u8],
}

impl FileMeta for Meta<'_> {
    fn attr(&self, key: &[u8]) -> Option<&[u8]> {
        if key == &VECTOR_XATTR[b"user.".len()..] {
            return None;
        }
        let mut full = b"user.".to_vec();
        full.extend_from_slice(key);
        self.node.xattrs.get(&full).map(|v| &v[..])
    }
    fn name(&self) -> &[u8] {
        self.name
    }
    fn size(&self) -> u64 {
        match &self.node.kind {
            Kind::File(d) => d.len() as u64,
            _ => 0,
        }
    }
    fn mtime_secs(&self) -> i64 {
        0
    }
}

/// Whether a vector of `elem` values drawn by the simulator is exact in that type.
pub fn elem_is_float(elem: ElemType) -> bool {
    matches!(elem, ElemType::F32 | ElemType::F16)
}
