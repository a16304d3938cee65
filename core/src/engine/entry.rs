//! [`EntryPoint`]: the list of everything a frontend may call; `stack-audit` must have a case
//! for each.
//!
//! The stack audit (`stack-audit/`) runs every entry point in its worst-case shape on a painted,
//! guarded stack, measures the peak stack bytes and the heap allocations of the call, and fails CI
//! when one exceeds [`STACK_BUDGET_BYTES`](crate::limits::STACK_BUDGET_BYTES) or when a warmed-up
//! search allocates. Its table of cases is an exhaustive `match` on this enum, so adding an entry
//! point here, or an operation to [`OpKind`], does not compile until the audit has a case for it.
//!
//! Coverage is complete by construction:
//! - [`EntryPoint::Op`] and [`EntryPoint::Replay`] are built from [`OpKind::ALL`], so every
//!   operation is audited both when it is executed and when recovery replays its log record;
//! - every other variant and [`EntryPoint::ALL`] are generated from one list by a macro, so a
//!   variant cannot be added without also being in `ALL`.
//!
//! Accessors that only return a field or an iterator over one (`namespace`, `collection`,
//! `seed`, `is_pinned`, `orphans`, `op_counts`, `journal_stats`, `image_bytes`, ...) are not entry
//! points: they do no work whose stack or allocations could vary with the input.

use super::OpKind;
use std::fmt;

macro_rules! entry_points {
    ($($(#[doc = $doc:literal])+ $name:ident => $label:literal,)+) => {
        /// Everything a frontend may call on the core. See the [module documentation](self).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum EntryPoint {
            /// [`Engine::execute`](super::Engine::execute) of one operation of this kind,
            /// through its typed wrapper where there is one (`mknod`, `write`, `setxattr`,
            /// ...), with the journal appending its record.
            Op(OpKind),
            /// [`Engine::open_image`](super::Engine::open_image) of an image whose log holds
            /// records of this kind: recovery decodes and re-executes them.
            Replay(OpKind),
            $($(#[doc = $doc])+ $name,)+
        }

        impl EntryPoint {
            /// The entry points that are not per operation kind, in declaration order.
            const CALLS: [EntryPoint; [$($label),+].len()] = [$(EntryPoint::$name),+];

            /// Name of an entry point that is not per operation kind.
            const fn call_name(self) -> &'static str {
                match self {
                    EntryPoint::Op(_) | EntryPoint::Replay(_) => "",
                    $(EntryPoint::$name => $label,)+
                }
            }
        }
    };
}

entry_points! {
    /// `Engine::setxattr(dir, INDEX_XATTR, ..)` on a directory that already holds vector
    /// files: creates the collection and builds its index.
    CollectionCreate => "collection_create",
    /// `Engine::setxattr(dir, INDEX_XATTR, ..)` changing `ef_search` of a populated collection.
    CollectionChange => "collection_change",
    /// `Engine::removexattr(dir, INDEX_XATTR)`: drops a populated collection's index.
    CollectionRemove => "collection_remove",
    /// `Engine::setxattr(file, VECTOR_XATTR, ..)` on a member without a vector: index insert.
    VectorSet => "vector_set",
    /// `Engine::setxattr(file, VECTOR_XATTR, ..)` on a member with a vector: index replace.
    VectorReplace => "vector_replace",
    /// `Engine::removexattr(file, VECTOR_XATTR)`: index removal with neighbour repair.
    VectorRemove => "vector_remove",
    /// `Engine::pin`.
    Pin => "pin",
    /// `Engine::unpin` dropping the last reference (frees an unlinked inode).
    Unpin => "unpin",
    /// `Engine::lookup`.
    Lookup => "lookup",
    /// `Engine::getattr`.
    GetAttr => "getattr",
    /// `Engine::readlink`.
    ReadLink => "readlink",
    /// `Engine::read`.
    Read => "read",
    /// `Engine::read_view` (bytes lent from a memory-mapped image).
    ReadView => "read_view",
    /// `Engine::lseek` (`SEEK_DATA`, `SEEK_HOLE`).
    Lseek => "lseek",
    /// `Engine::readdir`.
    ReadDir => "readdir",
    /// `Engine::getxattr`.
    GetXattr => "getxattr",
    /// `Engine::listxattr`.
    ListXattr => "listxattr",
    /// `Engine::statfs`.
    StatFs => "statfs",
    /// `Engine::stats`.
    Stats => "stats",
    /// `Engine::resolve` (path walk with symbolic links).
    Resolve => "resolve",
    /// `Engine::resolve_as` (path walk with symbolic links and a permission check per
    /// directory).
    ResolveAs => "resolve_as",
    /// `vector::encode_values`: a query's numbers in the collection's element type.
    EncodeVector => "encode_vector",
    /// `Engine::search`, approximate (HNSW graph).
    SearchGraph => "search_graph",
    /// `Engine::search` with `exact`.
    SearchExact => "search_exact",
    /// `Engine::search`, approximate, with a filter.
    SearchFiltered => "search_filtered",
    /// `Engine::search` with `exact` and a filter.
    SearchFilteredExact => "search_filtered_exact",
    /// `Engine::search` on behalf of an unprivileged caller (a full supplementary group list,
    /// a quarter of the members unreadable), approximate: the permission gate in the walk.
    SearchAs => "search_as",
    /// `Engine::search` on behalf of an unprivileged caller, exact, with a filter.
    SearchAsFilteredExact => "search_as_filtered_exact",
    /// `Engine::hit_path`.
    HitPath => "hit_path",
    /// `Engine::write_hits_json`.
    WriteHitsJson => "write_hits_json",
    /// `query::parse_query`: the JSON query parser.
    ParseQuery => "parse_query",
    /// `query::Filter::parse`: the filter language parser.
    ParseFilter => "parse_filter",
    /// `check::check`: every invariant of an engine.
    Check => "check",
    /// `Engine::new`: an empty in-memory engine.
    NewEngine => "new_engine",
    /// `Engine::create_image`: a new image on a storage.
    CreateImage => "create_image",
    /// `Engine::open_image` of a cleanly closed image: checkpoint load, empty log.
    OpenImage => "open_image",
    /// `Engine::sync`.
    Sync => "sync",
    /// `Engine::checkpoint`.
    Checkpoint => "checkpoint",
    /// `Engine::close` with changes since the last checkpoint.
    Close => "close",
    /// `Engine::rebuild_indexes`.
    RebuildIndexes => "rebuild_indexes",
    /// `engine::fsck`.
    Fsck => "fsck",
}

impl EntryPoint {
    /// The list of everything a frontend may call; `stack-audit` must have a case for each.
    /// First every [`OpKind`] executed, then every [`OpKind`] replayed, then the other calls.
    pub const ALL: [EntryPoint; 2 * OpKind::ALL.len() + Self::CALLS.len()] = {
        let mut all = [EntryPoint::Pin; 2 * OpKind::ALL.len() + Self::CALLS.len()];
        let ops = OpKind::ALL.len();
        let mut i = 0;
        while i < ops {
            all[i] = EntryPoint::Op(OpKind::ALL[i]);
            all[ops + i] = EntryPoint::Replay(OpKind::ALL[i]);
            i += 1;
        }
        let mut j = 0;
        while j < Self::CALLS.len() {
            all[2 * ops + j] = Self::CALLS[j];
            j += 1;
        }
        all
    };

    /// Position in [`EntryPoint::ALL`].
    pub fn index(self) -> usize {
        let ops = OpKind::ALL.len();
        match self {
            EntryPoint::Op(k) => k as usize,
            EntryPoint::Replay(k) => ops + k as usize,
            call => {
                2 * ops
                    + Self::CALLS
                        .iter()
                        .position(|&c| c == call)
                        .expect("every call is in CALLS (generated from one list)")
            }
        }
    }
}

// `ALL` holds each operation kind twice (executed and replayed) plus every other call, and the
// operation kinds are listed in discriminant order, so `k as usize` indexes them.
const _: () = assert!(EntryPoint::ALL.len() == 2 * OpKind::ALL.len() + EntryPoint::CALLS.len());
const _: () = {
    let mut i = 0;
    while i < OpKind::ALL.len() {
        assert!(OpKind::ALL[i] as usize == i);
        i += 1;
    }
};

impl fmt::Display for EntryPoint {
    /// `op:mknod`, `replay:write`, or the call's name (`search_graph`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EntryPoint::Op(k) => write!(f, "op:{}", k.name()),
            EntryPoint::Replay(k) => write!(f, "replay:{}", k.name()),
            call => f.write_str(call.call_name()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_lists_every_entry_point_once_in_index_order() {
        for (i, e) in EntryPoint::ALL.iter().enumerate() {
            assert_eq!(e.index(), i, "{e}");
        }
        let mut names: Vec<String> = EntryPoint::ALL.iter().map(|e| e.to_string()).collect();
        assert!(names.iter().all(|n| !n.is_empty()));
        names.sort();
        names.dedup();
        assert_eq!(names.len(), EntryPoint::ALL.len(), "names are unique");
        for k in OpKind::ALL {
            assert!(EntryPoint::ALL.contains(&EntryPoint::Op(k)));
            assert!(EntryPoint::ALL.contains(&EntryPoint::Replay(k)));
        }
    }
}
