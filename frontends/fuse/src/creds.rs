//! The credentials of a request's caller, for what the server checks itself (searches, `like`,
//! the stats document): the kernel checks everything else (`default_permissions`).
//!
//! A FUSE request carries the caller's fsuid, fsgid and thread id. The supplementary groups
//! and capabilities are read from `/proc/<tid>/status` (`Groups:` and `CapEff:`; the thread's
//! own entry, since credentials are per thread), and used only if that entry's fsuid and fsgid
//! are the request's (so a thread id reused by another process is never believed). When the
//! entry cannot be read or does not match, the caller is checked with no supplementary groups
//! *and* as possibly being in any group ([`Creds::with_unknown_groups`]), and as privileged only
//! if its uid is 0: that can refuse what the kernel would allow, never the reverse for a user
//! other than root.
//!
//! Privilege is the kernel's: `CAP_DAC_OVERRIDE` or `CAP_DAC_READ_SEARCH` in the effective set
//! (either lets a process read every file and search every directory, which is all a search
//! does), whatever the uid, but only for a caller in the server's user namespace: capabilities
//! held inside another user namespace (a container's root) do not override the permissions of
//! files outside it, so such a caller is checked by its mode bits.

use fuser::Request;
use vexfs_core::Creds;

const CAP_DAC_OVERRIDE: u32 = 1;
const CAP_DAC_READ_SEARCH: u32 = 2;

/// What `/proc/<tid>/status` says about a thread's credentials.
#[derive(Debug, PartialEq, Eq)]
struct Status {
    fsuid: u32,
    fsgid: u32,
    groups: Vec<u32>,
    cap_eff: u64,
}

/// The 4th field of a `Uid:`/`Gid:` line (real, effective, saved, filesystem).
fn fs_id(rest: &str) -> Option<u32> {
    rest.split_whitespace().nth(3)?.parse().ok()
}

fn parse_status(text: &str) -> Option<Status> {
    let (mut fsuid, mut fsgid, mut groups, mut cap_eff) = (None, None, None, None);
    for line in text.lines() {
        let Some((key, rest)) = line.split_once(':') else {
            continue;
        };
        match key {
            "Uid" => fsuid = fs_id(rest),
            "Gid" => fsgid = fs_id(rest),
            "Groups" => {
                groups = rest
                    .split_whitespace()
                    .map(str::parse)
                    .collect::<Result<Vec<u32>, _>>()
                    .ok()
            }
            "CapEff" => cap_eff = u64::from_str_radix(rest.trim(), 16).ok(),
            _ => {}
        }
    }
    Some(Status {
        fsuid: fsuid?,
        fsgid: fsgid?,
        groups: groups?,
        cap_eff: cap_eff?,
    })
}

/// Credentials for `uid`/`gid` given what the caller's status entry said (if anything) and
/// whether it lives in the server's user namespace.
fn creds_from(uid: u32, gid: u32, status: Option<Status>, same_userns: bool) -> Creds {
    match status {
        Some(s) if s.fsuid == uid && s.fsgid == gid => {
            let caps = s.cap_eff & (1 << CAP_DAC_OVERRIDE | 1 << CAP_DAC_READ_SEARCH) != 0;
            let privileged = caps && same_userns;
            Creds::user(uid, gid)
                .with_groups(&s.groups)
                .with_privilege(privileged)
        }
        _ => Creds::user(uid, gid)
            .with_unknown_groups()
            .with_privilege(uid == 0),
    }
}

/// Whether thread `tid` is in this process's user namespace.
fn in_our_userns(tid: u32) -> bool {
    let theirs = std::fs::read_link(format!("/proc/{tid}/ns/user"));
    let ours = std::fs::read_link("/proc/self/ns/user");
    matches!((theirs, ours), (Ok(a), Ok(b)) if a == b)
}

/// The caller of `req`.
pub(crate) fn of(req: &Request) -> Creds {
    let tid = req.pid();
    let status = std::fs::read_to_string(format!("/proc/{tid}/status"))
        .ok()
        .and_then(|t| parse_status(&t));
    let same_userns = status.is_some() && in_our_userns(tid);
    creds_from(req.uid(), req.gid(), status, same_userns)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const SAMPLE: &str = "Name:\tcat\nUmask:\t0022\nState:\tR (running)\nTgid:\t7\nPid:\t7\n\
        Uid:\t1000\t1000\t1000\t1001\nGid:\t100\t100\t100\t101\nFDSize:\t64\n\
        Groups:\t4 24 27 \nCapInh:\t0000000000000000\nCapPrm:\t0000000000000000\n\
        CapEff:\t0000000000000004\n";

    #[test]
    fn status_lines() {
        let s = parse_status(SAMPLE).unwrap();
        assert_eq!((s.fsuid, s.fsgid), (1001, 101));
        assert_eq!(s.groups, [4, 24, 27]);
        assert_eq!(s.cap_eff, 4);
        assert_eq!(
            parse_status("Groups:\t\nUid:\t0 0 0 0\nGid:\t0 0 0 0\nCapEff:\t0\n")
                .unwrap()
                .groups,
            Vec::<u32>::new()
        );
        assert_eq!(parse_status("Uid:\t0 0 0 0\n"), None);
    }

    #[test]
    fn credentials_from_status() {
        let c = creds_from(1001, 101, parse_status(SAMPLE), true);
        assert_eq!(c.groups(), [4, 24, 27]);
        // CAP_DAC_READ_SEARCH: privileged although not root.
        assert!(c.is_privileged());
        // A status of another identity is not believed.
        let stranger = creds_from(5, 5, parse_status(SAMPLE), true);
        assert!(!stranger.is_privileged());
        assert_eq!(stranger.groups(), [] as [u32; 0]);
        // Unknown groups only restrict: group 9 may be the caller's, so 0o604 is refused.
        assert!(!stranger.permits(0o604, 0, 9, false, vexfs_core::namespace::perm::MAY_READ));
        assert!(creds_from(0, 0, None, false).is_privileged());
        // Capabilities of another user namespace do not count.
        assert!(!creds_from(1001, 101, parse_status(SAMPLE), false).is_privileged());
        // Root without the capabilities is an ordinary user.
        let s = SAMPLE
            .replace("1000\t1000\t1000\t1001", "0\t0\t0\t0")
            .replace("100\t100\t100\t101", "0\t0\t0\t0");
        let c = creds_from(
            0,
            0,
            parse_status(&s.replace("0000000000000004", "0000000000000000")),
            true,
        );
        assert!(!c.is_privileged());
    }

    #[test]
    fn this_process_reads_its_own_status() {
        let text = std::fs::read_to_string("/proc/thread-self/status").unwrap();
        let s = parse_status(&text).unwrap();
        // SAFETY: getters without arguments.
        let (uid, gid) = unsafe { (libc::geteuid(), libc::getegid()) };
        assert_eq!((s.fsuid, s.fsgid), (uid, gid));
        assert!(in_our_userns(std::process::id()));
    }
}
