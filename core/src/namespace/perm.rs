//! Caller credentials and the POSIX permission check, for the reads the core performs on a
//! caller's behalf (search, `like`, filters, stats).
//!
//! A FUSE mount leaves ordinary permission checks to the kernel (`default_permissions`), but
//! a search resolves paths, reads vectors and evaluates filters inside the server, where the
//! kernel cannot check anything. This module owns the check the server does instead, and it is
//! the kernel's `generic_permission` without ACLs:
//! - the *class* of the caller is chosen first: owner when the caller's uid owns the inode,
//!   else group when the inode's group is the caller's gid or one of its supplementary groups,
//!   else other; only that class's three bits count (an owner denied by the owner bits is
//!   denied even when the other bits would allow);
//! - a privileged caller ([`Creds::privileged`], the kernel's `CAP_DAC_OVERRIDE`) may read and
//!   write anything and search every directory; executing a non-directory still needs one of
//!   its three x bits.
//!
//! Invariants: a [`Creds`] never allocates (its supplementary groups are a fixed inline array of
//! [`CREDS_GROUPS_MAX`]); when a caller has more groups than that, the ones left out can only
//! make the check stricter (see [`Creds::with_groups`]), never grant what the kernel would
//! refuse.

use super::{Inode, Namespace};
use crate::error::{Error, Result};
use crate::limits::CREDS_GROUPS_MAX;
use crate::types::{FileKind, Ino, ROOT_INO};

/// Read permission (the `r` bit of a class).
pub const MAY_READ: u32 = 4;
/// Write permission (the `w` bit).
pub const MAY_WRITE: u32 = 2;
/// Execute permission, search permission on a directory (the `x` bit).
pub const MAY_EXEC: u32 = 1;

/// Who is asking: user, primary group, supplementary groups and whether the caller bypasses
/// permission bits. `Copy` and allocation-free, so checks on the search path cost nothing.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Creds {
    uid: u32,
    gid: u32,
    groups: [u32; CREDS_GROUPS_MAX],
    n_groups: u8,
    /// More supplementary groups than fit: the inode's group may be among the missing ones.
    groups_truncated: bool,
    privileged: bool,
}

const _: () = assert!(CREDS_GROUPS_MAX <= u8::MAX as usize);

impl std::fmt::Debug for Creds {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Creds")
            .field("uid", &self.uid)
            .field("gid", &self.gid)
            .field("groups", &self.groups())
            .field("groups_truncated", &self.groups_truncated)
            .field("privileged", &self.privileged)
            .finish()
    }
}

impl Creds {
    /// **Trusted** credentials: uid 0, every permission check passes (privileged). The
    /// in-process API (crate `vexfs`), the Python module and the CLI's image commands run with
    /// these: whoever can open the image file can read all of it anyway, so there is nothing
    /// to protect from them. A frontend serving other users (the FUSE mount) must never use
    /// them for a request; it builds the caller's credentials with [`Creds::user`].
    pub const ROOT: Creds = Creds {
        uid: 0,
        gid: 0,
        groups: [0; CREDS_GROUPS_MAX],
        n_groups: 0,
        groups_truncated: false,
        privileged: true,
    };

    /// An unprivileged caller with uid `uid`, primary group `gid` and no supplementary groups.
    /// Add groups with [`Creds::with_groups`] and privilege with [`Creds::with_privilege`].
    pub const fn user(uid: u32, gid: u32) -> Self {
        Creds {
            uid,
            gid,
            groups: [0; CREDS_GROUPS_MAX],
            n_groups: 0,
            groups_truncated: false,
            privileged: false,
        }
    }

    /// These credentials with supplementary `groups` (replacing earlier ones). At most
    /// [`CREDS_GROUPS_MAX`] are kept; when there are more, the check treats the caller as
    /// possibly in any group it cannot rule out: a non-owner whose group list does not show
    /// the inode's group gets only the bits both the group and the other class allow. That
    /// can refuse what the kernel would allow, never the reverse.
    pub fn with_groups(mut self, groups: &[u32]) -> Self {
        let n = groups.len().min(CREDS_GROUPS_MAX);
        self.groups[..n].copy_from_slice(&groups[..n]);
        self.n_groups = n as u8;
        self.groups_truncated = groups.len() > CREDS_GROUPS_MAX;
        self
    }

    /// These credentials, marked as possibly in groups not listed (a frontend that could not
    /// learn the caller's supplementary groups): checked as [`Creds::with_groups`] checks a
    /// truncated list.
    pub const fn with_unknown_groups(mut self) -> Self {
        self.groups_truncated = true;
        self
    }

    /// These credentials, privileged or not (the kernel's `CAP_DAC_OVERRIDE`).
    pub const fn with_privilege(mut self, privileged: bool) -> Self {
        self.privileged = privileged;
        self
    }

    /// The user id.
    pub const fn uid(&self) -> u32 {
        self.uid
    }

    /// The primary group id.
    pub const fn gid(&self) -> u32 {
        self.gid
    }

    /// The supplementary groups kept.
    pub fn groups(&self) -> &[u32] {
        &self.groups[..self.n_groups as usize]
    }

    /// Whether permission bits are bypassed.
    pub const fn is_privileged(&self) -> bool {
        self.privileged
    }

    /// Whether the caller is in group `gid` (primary or supplementary).
    pub fn in_group(&self, gid: u32) -> bool {
        self.gid == gid || self.groups().contains(&gid)
    }

    /// Whether an inode with permission bits `perm`, owner `uid`, group `gid`, which is a
    /// directory or not, grants every access in `mask` (a combination of [`MAY_READ`],
    /// [`MAY_WRITE`], [`MAY_EXEC`]).
    pub fn permits(&self, perm: u32, uid: u32, gid: u32, is_dir: bool, mask: u32) -> bool {
        let mask = mask & 7;
        if self.privileged {
            // CAP_DAC_OVERRIDE: everything but executing a file that nobody may execute.
            return mask & MAY_EXEC == 0 || is_dir || perm & 0o111 != 0;
        }
        let bits = if self.uid == uid {
            perm >> 6
        } else if self.in_group(gid) {
            perm >> 3
        } else if self.groups_truncated {
            (perm >> 3) & perm
        } else {
            perm
        } & 7;
        mask & !bits == 0
    }

    /// [`Creds::permits`] for an inode.
    pub fn may(&self, node: &Inode, mask: u32) -> bool {
        self.permits(
            node.perm,
            node.uid,
            node.gid,
            node.kind == FileKind::Directory,
            mask,
        )
    }
}

impl Namespace {
    /// Whether `creds` may `mask` inode `ino` (false for a missing inode).
    pub fn may(&self, ino: Ino, creds: &Creds, mask: u32) -> bool {
        self.get(ino).is_ok_and(|n| creds.may(n, mask))
    }

    /// Whether `creds` can reach directory `dir` by its path: search (x) permission on every
    /// directory above it, from the root down to its parent. The root is always reachable;
    /// a directory without a name (removed while open) never is, except to a privileged
    /// caller.
    pub fn reachable(&self, dir: Ino, creds: &Creds) -> bool {
        if creds.is_privileged() {
            return true;
        }
        let mut cur = dir;
        // Directories have one parent each: the walk up is bounded by the inode count.
        for _ in 0..=self.len() {
            if cur == ROOT_INO {
                return true;
            }
            let Ok(node) = self.get(cur) else {
                return false;
            };
            let Some(link) = node.links.first() else {
                return false;
            };
            cur = link.parent;
            if !self.may(cur, creds, MAY_EXEC) {
                return false;
            }
        }
        false
    }

    /// Whether `creds` may list directory `dir` the way `ls -l` does: reach it, and read and
    /// search it.
    pub fn listable(&self, dir: Ino, creds: &Creds) -> bool {
        self.may(dir, creds, MAY_READ | MAY_EXEC) && self.reachable(dir, creds)
    }

    /// [`Namespace::resolve`] with the kernel's path-walk permission check: search (x)
    /// permission on each directory before a component (including `.` and `..`) is looked up
    /// in it. The first directory the caller may not search ends the walk with
    /// [`Error::Access`], whatever the rest of the path names, so a missing and an existing
    /// file behind it are indistinguishable, exactly as for `stat`.
    pub fn resolve_as(&self, path: &[u8], follow_last: bool, creds: &Creds) -> Result<Ino> {
        self.resolve_checked(path, follow_last, &mut |ns: &Namespace, dir: Ino| {
            if ns.may(dir, creds, MAY_EXEC) {
                Ok(())
            } else {
                Err(Error::Access)
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn class_is_chosen_before_bits() {
        let owner = Creds::user(10, 20);
        // The owner is refused by the owner bits even though other may read.
        assert!(!owner.permits(0o044, 10, 20, false, MAY_READ));
        assert!(owner.permits(0o400, 10, 99, false, MAY_READ));
        // A member of the group is refused by the group bits though other may read.
        let member = Creds::user(11, 5).with_groups(&[20]);
        assert!(!member.permits(0o604, 10, 20, false, MAY_READ));
        assert!(member.permits(0o040, 10, 20, false, MAY_READ));
        assert!(Creds::user(11, 20).permits(0o040, 10, 20, false, MAY_READ));
        let other = Creds::user(12, 30);
        assert!(other.permits(0o004, 10, 20, false, MAY_READ));
        assert!(!other.permits(0o770, 10, 20, false, MAY_READ));
        assert!(!other.permits(0o006, 10, 20, true, MAY_READ | MAY_EXEC));
        assert!(other.permits(0o005, 10, 20, true, MAY_READ | MAY_EXEC));
    }

    #[test]
    fn privilege_bypasses_all_but_exec_of_files() {
        let r = Creds::ROOT;
        assert!(r.permits(0, 10, 20, false, MAY_READ | MAY_WRITE));
        assert!(r.permits(0, 10, 20, true, MAY_READ | MAY_EXEC));
        assert!(!r.permits(0o600, 10, 20, false, MAY_EXEC));
        assert!(r.permits(0o001, 10, 20, false, MAY_EXEC));
        // uid 0 without privilege is an ordinary user.
        assert!(!Creds::user(0, 0).permits(0o700, 10, 20, false, MAY_READ));
    }

    #[test]
    fn truncated_groups_only_restrict() {
        let many: Vec<u32> = (100..100 + CREDS_GROUPS_MAX as u32 + 5).collect();
        let c = Creds::user(1, 1).with_groups(&many);
        assert_eq!(c.groups().len(), CREDS_GROUPS_MAX);
        // Group 7 is not among the kept groups: it might be among the lost ones, so only
        // bits both group and other grant count.
        assert!(!c.permits(0o604, 0, 7, false, MAY_READ));
        assert!(!c.permits(0o040, 0, 7, false, MAY_READ));
        assert!(c.permits(0o644, 0, 7, false, MAY_READ));
        // A kept group decides as usual.
        assert!(c.permits(0o040, 0, 100, false, MAY_READ));
    }
}
