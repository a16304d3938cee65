//! The POSIX rules of each operation: validation first, then the mutation, then the index
//! resync. Each `apply_*` function either returns an error having changed nothing, or applies
//! the whole operation.
//!
//! Times follow Linux: creating or removing an entry sets the directory's mtime and ctime;
//! any change to an inode sets its ctime; data changes (write, truncate, punch) set mtime too.
//!
//! The rules run on a [`State`]: the engine's in-memory state (namespace, collections, pins,
//! counters), a value the engine owns; the block source file data is read from is an argument.
//! It knows nothing of the journal: logging, room on the medium and checkpoints are the
//! engine's.

use super::Op;
use crate::collections::{Collections, INDEX_XATTR, IndexConfig, VECTOR_XATTR};
use crate::error::{Error, Result};
use crate::limits::{
    BLOCK_SIZE, INODE_COUNT_MAX, LINK_COUNT_MAX, PATH_LEN_MAX, UNWRITTEN_BLOCKS_MAX, XATTR_LIST_LEN_MAX,
    XATTR_NAME_LEN_MAX, XATTR_VALUE_LEN_MAX,
};
use crate::namespace::{BlockSource, Body, FileData, Inode, Namespace, check_name};
use crate::types::{
    Ctx, FallocMode, FileKind, Ino, PERM_MASK, RenameMode, S_ISGID, S_ISUID, S_IXGRP, SetAttr, SetTime,
    XattrMode,
};
use std::collections::BTreeMap;

/// Result of applying one operation: the inode it created or acted on, and an inode it may have
/// left without names (to release if unpinned).
pub(super) type Applied = (Ino, Option<Ino>);

/// The engine's in-memory state: what operations read and change. The engine owns one and
/// wraps it with the journal; [`State::apply`] is the only way it changes.
///
/// Invariant (kept by every rule): `unwritten_blocks` is the sum of `unwritten_blocks()` over
/// the namespace's files, and every collection's index holds what its directory admits.
#[derive(Debug)]
#[cfg_attr(test, derive(Clone))]
pub(super) struct State {
    pub(super) ns: Namespace,
    pub(super) colls: Collections,
    /// Frontend references per inode (open files, kernel lookups): a pinned inode is not
    /// released; runtime only.
    pub(super) pins: BTreeMap<Ino, u64>,
    /// Blocks allocated by `fallocate` and never written, in all files.
    pub(super) unwritten_blocks: u64,
    /// The image seed (HNSW levels of a new collection).
    pub(super) seed: u64,
}

/// Permission bits after a change of owner or a write by another user: set-user-ID goes, and
/// set-group-ID goes when group-execute is set (otherwise it marks mandatory locking).
fn killed_suid(perm: u32) -> u32 {
    let mut p = perm & !S_ISUID;
    if p & S_IXGRP != 0 {
        p &= !S_ISGID;
    }
    p
}

/// Which namespace an attribute name belongs to.
enum XattrNs {
    User,
    Trusted,
}

fn check_xattr_name(name: &[u8]) -> Result<XattrNs> {
    if name.len() > XATTR_NAME_LEN_MAX {
        return Err(Error::Range);
    }
    let (ns, rest) = if let Some(rest) = name.strip_prefix(b"user.") {
        (XattrNs::User, rest)
    } else if let Some(rest) = name.strip_prefix(b"trusted.") {
        (XattrNs::Trusted, rest)
    } else {
        return Err(Error::NotSupported);
    };
    if rest.is_empty() || name.contains(&0) {
        return Err(Error::Invalid("invalid attribute name"));
    }
    Ok(ns)
}

impl State {
    /// The state of loaded parts (a new namespace, or a checkpoint's), nothing pinned.
    pub(super) fn new(ns: Namespace, colls: Collections, seed: u64) -> Self {
        let unwritten_blocks = ns
            .iter()
            .filter_map(|(_, n)| n.file().ok())
            .map(|f| f.unwritten_blocks())
            .sum();
        State {
            ns,
            colls,
            pins: BTreeMap::new(),
            unwritten_blocks,
            seed,
        }
    }

    /// Applies `op`, reading file blocks already on the medium from `src` (`None` in memory):
    /// validates it completely, then mutates the state. On error nothing changed.
    pub(super) fn apply(&mut self, op: &Op<'_>, ctx: &Ctx, src: Option<&dyn BlockSource>) -> Result<Applied> {
        match *op {
            Op::Mknod {
                parent,
                name,
                kind,
                perm,
                rdev,
            } => {
                if kind == FileKind::Symlink {
                    return Err(Error::Invalid("symbolic links are made with symlink"));
                }
                self.apply_create(parent, name, kind, perm, rdev, b"", ctx)
            }
            Op::Symlink { parent, name, target } => {
                if target.is_empty() {
                    return Err(Error::NotFound);
                }
                if target.len() > PATH_LEN_MAX {
                    return Err(Error::NameTooLong);
                }
                self.apply_create(parent, name, FileKind::Symlink, 0o777, 0, target, ctx)
            }
            Op::Link { ino, parent, name } => self.apply_link(ino, parent, name, ctx),
            Op::Unlink { parent, name } => self.apply_unlink(parent, name, false, ctx),
            Op::Rmdir { parent, name } => self.apply_unlink(parent, name, true, ctx),
            Op::Rename {
                parent,
                name,
                new_parent,
                new_name,
                mode,
            } => self.apply_rename(parent, name, new_parent, new_name, mode, ctx),
            Op::SetAttr { ino, attr } => self.apply_setattr(ino, &attr, ctx, src),
            Op::Write {
                ino,
                offset,
                data,
                kill_suid,
            } => {
                let node = self.ns.get_mut(ino)?;
                node.file()?;
                FileData::check_range(offset, data.len() as u64)?;
                if data.len() > crate::limits::WRITE_OP_BYTES_MAX {
                    return Err(Error::Invalid("one write operation carries at most 1 MiB"));
                }
                if data.is_empty() {
                    return Ok((ino, None));
                }
                let f = node.file_mut()?;
                let before = f.unwritten_blocks();
                f.write(offset, data, src)?;
                self.unwritten_blocks -= before - f.unwritten_blocks();
                if kill_suid {
                    node.perm = killed_suid(node.perm);
                }
                node.mtime = ctx.now;
                node.ctime = ctx.now;
                Ok((ino, None))
            }
            Op::Fallocate {
                ino,
                offset,
                len,
                mode,
            } => {
                let node = self.ns.get_mut(ino)?;
                node.file()?;
                if len == 0 {
                    return Err(Error::Invalid("fallocate length must be positive"));
                }
                FileData::check_range(offset, len)?;
                let blocks = (offset + len).div_ceil(BLOCK_SIZE as u64) - offset / BLOCK_SIZE as u64;
                if mode != FallocMode::PunchHole && self.unwritten_blocks + blocks > UNWRITTEN_BLOCKS_MAX {
                    return Err(Error::NoSpace);
                }
                let f = node.file_mut()?;
                let old_size = f.size();
                let before = f.unwritten_blocks();
                match mode {
                    FallocMode::Allocate => f.allocate(offset, len, false),
                    FallocMode::KeepSize => f.allocate(offset, len, true),
                    FallocMode::PunchHole => f.punch_hole(offset, len, src)?,
                }
                self.unwritten_blocks = self.unwritten_blocks + f.unwritten_blocks() - before;
                if mode == FallocMode::PunchHole || f.size() != old_size {
                    node.mtime = ctx.now;
                    node.ctime = ctx.now;
                }
                Ok((ino, None))
            }
            Op::SetXattr {
                ino,
                name,
                value,
                mode,
            } => self.apply_setxattr(ino, name, value, mode, ctx),
            Op::RemoveXattr { ino, name } => self.apply_removexattr(ino, name, ctx),
            Op::Touch { ino } => {
                self.ns.get_mut(ino)?.atime = ctx.now;
                Ok((ino, None))
            }
            Op::Release { ino } => {
                let node = self.ns.get(ino)?;
                if !node.is_unlinked(ino) || self.pins.contains_key(&ino) {
                    return Err(Error::Busy("inode still linked or open"));
                }
                self.unwritten_blocks -= node.file().map_or(0, |f| f.unwritten_blocks());
                self.ns.remove(ino);
                self.colls.remove(&mut self.ns, ino);
                Ok((ino, None))
            }
        }
    }

    /// A directory that may receive a new entry: it exists, is a directory, is still linked.
    fn check_parent(&self, parent: Ino) -> Result<()> {
        let p = self.ns.get(parent)?;
        p.dir()?;
        if p.is_unlinked(parent) {
            return Err(Error::NotFound);
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn apply_create(
        &mut self,
        parent: Ino,
        name: &[u8],
        kind: FileKind,
        perm: u32,
        rdev: u32,
        target: &[u8],
        ctx: &Ctx,
    ) -> Result<Applied> {
        self.check_parent(parent)?;
        check_name(name)?;
        let p = self.ns.get(parent)?;
        let pdir = p.dir()?;
        if pdir.get(name).is_some() {
            return Err(Error::Exists);
        }
        if kind == FileKind::Directory && p.nlink(parent) >= LINK_COUNT_MAX {
            return Err(Error::TooManyLinks);
        }
        if self.ns.next_ino() >= INODE_COUNT_MAX {
            return Err(Error::NoSpace);
        }
        // A set-group-ID directory passes its group on, and its set-group-ID bit to new
        // subdirectories.
        let (gid, mut perm) = (ctx.gid, perm & PERM_MASK);
        let gid = if p.perm & S_ISGID != 0 {
            if kind == FileKind::Directory {
                perm |= S_ISGID;
            }
            p.gid
        } else {
            gid
        };
        let rdev = if matches!(kind, FileKind::CharDevice | FileKind::BlockDevice) {
            rdev
        } else {
            0
        };
        let mut node = Inode::new(kind, perm, ctx.uid, gid, rdev, ctx.now);
        if kind == FileKind::Symlink {
            node.body = Body::Symlink(target.into());
        }
        node.add_link(parent, name);
        let ino = self.ns.insert_new(node);
        let p = self.ns.get_mut(parent)?;
        let pdir = p.dir_mut()?;
        pdir.insert(name, ino);
        if kind == FileKind::Directory {
            pdir.subdirs += 1;
        }
        p.mtime = ctx.now;
        p.ctime = ctx.now;
        Ok((ino, None))
    }

    fn apply_link(&mut self, ino: Ino, parent: Ino, name: &[u8], ctx: &Ctx) -> Result<Applied> {
        let node = self.ns.get(ino)?;
        if node.kind == FileKind::Directory {
            return Err(Error::NotPermitted);
        }
        if node.is_unlinked(ino) {
            return Err(Error::NotFound);
        }
        if node.nlink(ino) >= LINK_COUNT_MAX {
            return Err(Error::TooManyLinks);
        }
        self.check_parent(parent)?;
        check_name(name)?;
        if self.ns.get(parent)?.dir()?.get(name).is_some() {
            return Err(Error::Exists);
        }
        let node = self.ns.get_mut(ino)?;
        node.add_link(parent, name);
        node.ctime = ctx.now;
        let p = self.ns.get_mut(parent)?;
        p.dir_mut()?.insert(name, ino);
        p.mtime = ctx.now;
        p.ctime = ctx.now;
        self.colls.resync(&mut self.ns, parent, ino);
        Ok((ino, None))
    }

    /// `unlink` (`want_dir == false`) and `rmdir` (`want_dir == true`).
    fn apply_unlink(&mut self, parent: Ino, name: &[u8], want_dir: bool, ctx: &Ctx) -> Result<Applied> {
        if want_dir && (name == b"." || name == b"..") {
            return Err(if name == b"." {
                Error::Invalid("cannot remove '.'")
            } else {
                Error::NotEmpty
            });
        }
        let ino = self.ns.lookup(parent, name)?;
        let node = self.ns.get(ino)?;
        let is_dir = node.kind == FileKind::Directory;
        match (want_dir, is_dir) {
            (false, true) => return Err(Error::IsDirectory),
            (true, false) => return Err(Error::NotDirectory),
            (true, true) if !node.dir()?.is_empty() => return Err(Error::NotEmpty),
            _ => {}
        }
        let p = self.ns.get_mut(parent)?;
        let pdir = p.dir_mut()?;
        pdir.remove(name);
        if is_dir {
            pdir.subdirs -= 1;
        }
        p.mtime = ctx.now;
        p.ctime = ctx.now;
        let node = self.ns.get_mut(ino)?;
        node.remove_link(parent, name);
        node.ctime = ctx.now;
        if is_dir {
            self.colls.remove(&mut self.ns, ino);
        } else {
            self.colls.resync(&mut self.ns, parent, ino);
        }
        let unlinked = self.ns.get(ino)?.is_unlinked(ino).then_some(ino);
        Ok((ino, unlinked))
    }

    fn apply_rename(
        &mut self,
        parent: Ino,
        name: &[u8],
        new_parent: Ino,
        new_name: &[u8],
        mode: RenameMode,
        ctx: &Ctx,
    ) -> Result<Applied> {
        for n in [name, new_name] {
            if n == b"." || n == b".." {
                return Err(Error::Invalid("cannot rename '.' or '..'"));
            }
        }
        let src = self.ns.lookup(parent, name)?;
        self.check_parent(new_parent)?;
        check_name(new_name)?;
        let dst = self.ns.get(new_parent)?.dir()?.get(new_name);
        match (mode, dst) {
            (RenameMode::Exchange, None) => return Err(Error::NotFound),
            (RenameMode::NoReplace, Some(_)) => return Err(Error::Exists),
            _ => {}
        }
        if dst == Some(src) {
            // Both names already refer to the same inode: POSIX says do nothing.
            return Ok((src, None));
        }
        let src_is_dir = self.ns.get(src)?.kind == FileKind::Directory;
        if src_is_dir && self.ns.is_ancestor(src, new_parent) {
            return Err(Error::Invalid("cannot move a directory into itself"));
        }
        let dst_is_dir = match dst {
            Some(d) => self.ns.get(d)?.kind == FileKind::Directory,
            None => false,
        };
        if mode == RenameMode::Exchange {
            let d = dst.ok_or(Error::NotFound)?;
            if dst_is_dir && self.ns.is_ancestor(d, parent) {
                return Err(Error::Invalid("cannot move a directory into itself"));
            }
            return self.exchange(
                parent, name, src, src_is_dir, new_parent, new_name, d, dst_is_dir, ctx,
            );
        }
        if let Some(d) = dst {
            match (src_is_dir, dst_is_dir) {
                (true, false) => return Err(Error::NotDirectory),
                (false, true) => return Err(Error::IsDirectory),
                (true, true) if !self.ns.get(d)?.dir()?.is_empty() => return Err(Error::NotEmpty),
                _ => {}
            }
        }
        let moves_dir_across = src_is_dir && parent != new_parent;
        if moves_dir_across && !dst_is_dir && self.ns.get(new_parent)?.nlink(new_parent) >= LINK_COUNT_MAX {
            return Err(Error::TooManyLinks);
        }

        // Validated: mutate. First the replaced target loses its name.
        if let Some(d) = dst {
            let dnode = self.ns.get_mut(d)?;
            dnode.remove_link(new_parent, new_name);
            dnode.ctime = ctx.now;
            if dst_is_dir {
                self.ns.get_mut(new_parent)?.dir_mut()?.subdirs -= 1;
                self.colls.remove(&mut self.ns, d);
            }
            self.ns.get_mut(new_parent)?.dir_mut()?.retarget(new_name, src);
        } else {
            let npdir = self.ns.get_mut(new_parent)?.dir_mut()?;
            npdir.insert(new_name, src);
        }
        let pdir = self.ns.get_mut(parent)?.dir_mut()?;
        pdir.remove(name);
        if moves_dir_across {
            pdir.subdirs -= 1;
            self.ns.get_mut(new_parent)?.dir_mut()?.subdirs += 1;
        }
        let snode = self.ns.get_mut(src)?;
        snode.remove_link(parent, name);
        snode.add_link(new_parent, new_name);
        snode.ctime = ctx.now;
        for dir in [parent, new_parent] {
            let p = self.ns.get_mut(dir)?;
            p.mtime = ctx.now;
            p.ctime = ctx.now;
        }
        self.colls.resync(&mut self.ns, parent, src);
        // Canary for the simulator: forget the target collection's index.
        #[cfg(not(feature = "canary-skip-rename-resync"))]
        self.colls.resync(&mut self.ns, new_parent, src);
        let mut unlinked = None;
        if let Some(d) = dst {
            if !dst_is_dir {
                self.colls.resync(&mut self.ns, new_parent, d);
            }
            unlinked = self.ns.get(d)?.is_unlinked(d).then_some(d);
        }
        Ok((src, unlinked))
    }

    #[allow(clippy::too_many_arguments)]
    fn exchange(
        &mut self,
        parent: Ino,
        name: &[u8],
        src: Ino,
        src_is_dir: bool,
        new_parent: Ino,
        new_name: &[u8],
        dst: Ino,
        dst_is_dir: bool,
        ctx: &Ctx,
    ) -> Result<Applied> {
        self.ns.get_mut(parent)?.dir_mut()?.retarget(name, dst);
        self.ns.get_mut(new_parent)?.dir_mut()?.retarget(new_name, src);
        if parent != new_parent && src_is_dir != dst_is_dir {
            // One directory moves each way: the parents' subdirectory counts shift.
            let (to_new, to_old) = if src_is_dir { (1i64, -1i64) } else { (-1, 1) };
            for (dir, delta) in [(new_parent, to_new), (parent, to_old)] {
                let d = self.ns.get_mut(dir)?.dir_mut()?;
                d.subdirs = (i64::from(d.subdirs) + delta) as u32;
            }
        }
        let (s, d) = self.ns.get2_mut(src, dst)?;
        s.remove_link(parent, name);
        s.add_link(new_parent, new_name);
        s.ctime = ctx.now;
        d.remove_link(new_parent, new_name);
        d.add_link(parent, name);
        d.ctime = ctx.now;
        for dir in [parent, new_parent] {
            let p = self.ns.get_mut(dir)?;
            p.mtime = ctx.now;
            p.ctime = ctx.now;
        }
        for (dir, ino) in [(parent, src), (new_parent, src), (parent, dst), (new_parent, dst)] {
            self.colls.resync(&mut self.ns, dir, ino);
        }
        Ok((src, None))
    }

    fn apply_setattr(
        &mut self,
        ino: Ino,
        a: &SetAttr,
        ctx: &Ctx,
        src: Option<&dyn BlockSource>,
    ) -> Result<Applied> {
        let node = self.ns.get_mut(ino)?;
        if let Some(size) = a.size {
            FileData::check_range(size, 0)?;
            // Resize first: it is the only part that can fail (reading a partly kept block).
            let f = node.file_mut()?;
            let before = f.unwritten_blocks();
            f.set_size(size, src)?;
            self.unwritten_blocks -= before - f.unwritten_blocks();
            node.mtime = ctx.now;
        }
        if a.uid.is_some() || a.gid.is_some() {
            if node.kind != FileKind::Directory {
                node.perm = killed_suid(node.perm);
            }
            node.uid = a.uid.unwrap_or(node.uid);
            node.gid = a.gid.unwrap_or(node.gid);
        }
        if let Some(perm) = a.perm {
            node.perm = perm & PERM_MASK;
        }
        let resolve = |t: SetTime| match t {
            SetTime::Now => ctx.now,
            SetTime::At(t) => t,
        };
        if let Some(t) = a.atime {
            node.atime = resolve(t);
        }
        if let Some(t) = a.mtime {
            node.mtime = resolve(t);
        }
        node.ctime = ctx.now;
        Ok((ino, None))
    }

    fn apply_setxattr(
        &mut self,
        ino: Ino,
        name: &[u8],
        value: &[u8],
        mode: XattrMode,
        ctx: &Ctx,
    ) -> Result<Applied> {
        let ns_kind = check_xattr_name(name)?;
        if value.len() > XATTR_VALUE_LEN_MAX {
            return Err(Error::ValueTooBig);
        }
        let node = self.ns.get(ino)?;
        if matches!(ns_kind, XattrNs::User) && !matches!(node.kind, FileKind::Regular | FileKind::Directory) {
            return Err(Error::NotPermitted);
        }
        let exists = node.xattrs.contains(name);
        match (mode, exists) {
            (XattrMode::Create, true) => return Err(Error::Exists),
            (XattrMode::Replace, false) => return Err(Error::NoAttribute),
            _ => {}
        }
        if !exists && node.xattrs.list_len() + name.len() + 1 > XATTR_LIST_LEN_MAX {
            return Err(Error::NoSpace);
        }
        let canonical;
        let mut stored = value;
        let mut config = None;
        if name == INDEX_XATTR {
            if node.kind != FileKind::Directory {
                return Err(Error::NotDirectory);
            }
            let cfg = IndexConfig::parse(value)?;
            if let Some(c) = self.colls.get(ino)
                && !c.config.same_index(&cfg)
                && !c.index.is_empty()
            {
                return Err(Error::Busy("collection holds vectors; only ef_search may change"));
            }
            canonical = cfg.to_string();
            stored = canonical.as_bytes();
            config = Some(cfg);
        } else if name == VECTOR_XATTR && node.kind == FileKind::Regular {
            self.colls.check_vector(&self.ns, ino, value)?;
        }
        let node = self.ns.get_mut(ino)?;
        node.xattrs.set(name, stored);
        node.ctime = ctx.now;
        if let Some(cfg) = config {
            self.colls.configure(&mut self.ns, ino, cfg, self.seed);
        } else if name == VECTOR_XATTR {
            self.colls.resync_all_parents(&mut self.ns, ino);
        }
        Ok((ino, None))
    }

    fn apply_removexattr(&mut self, ino: Ino, name: &[u8], ctx: &Ctx) -> Result<Applied> {
        check_xattr_name(name)?;
        let node = self.ns.get_mut(ino)?;
        if !node.xattrs.remove(name) {
            return Err(Error::NoAttribute);
        }
        node.ctime = ctx.now;
        if name == INDEX_XATTR {
            self.colls.remove(&mut self.ns, ino);
        } else if name == VECTOR_XATTR {
            self.colls.resync_all_parents(&mut self.ns, ino);
        }
        Ok((ino, None))
    }
}
