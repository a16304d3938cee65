//! Every bound VexFS enforces, in one place.
//!
//! Each limit is a `const` with its unit last in the name. The `const` assertions at the bottom
//! tie limits together (a vector of the largest dimension must fit in an attribute value, the
//! largest `k` must fit in the largest `ef`, ...), so changing one limit cannot silently break
//! another. Nothing else in the workspace may hard-code these numbers.

/// Longest file name, in bytes (POSIX `NAME_MAX`). Past it: `ENAMETOOLONG`.
pub const NAME_LEN_MAX: usize = 255;
/// Longest symbolic link target and longest path accepted by the API, in bytes (`PATH_MAX`).
pub const PATH_LEN_MAX: usize = 4096;
/// Most symbolic links followed while resolving one path. Past it: `ELOOP`.
pub const SYMLINK_HOPS_MAX: u32 = 40;
/// Most hard links to one inode (ext4's figure). Past it: `EMLINK`.
pub const LINK_COUNT_MAX: u32 = 65_000;
/// Largest file size, in bytes (16 TiB, ext4's figure for 4 KiB blocks). Past it: `EFBIG`.
pub const FILE_SIZE_MAX: u64 = 1 << 44;
/// File data is stored and cached in blocks of this many bytes.
pub const BLOCK_SIZE: usize = 4096;
/// Most bytes one write operation (and its log record) carries; larger writes are split.
pub const WRITE_OP_BYTES_MAX: usize = 1024 * 1024;
/// Most blocks allocated by `fallocate` but never written, in the whole image (64 GiB worth).
/// They take no space in the image, only memory, so they are bounded like memory. Past it:
/// `ENOSPC`.
pub const UNWRITTEN_BLOCKS_MAX: u64 = 1 << 24;
/// Most inodes an image can hold; inode numbers are dense `u32` indexes plus one.
pub const INODE_COUNT_MAX: u64 = (u32::MAX as u64) - 1;

/// Longest extended attribute name including its namespace prefix, in bytes. Past it: `ERANGE`.
pub const XATTR_NAME_LEN_MAX: usize = 255;
/// Largest extended attribute value, in bytes. Past it: `E2BIG`.
pub const XATTR_VALUE_LEN_MAX: usize = 64 * 1024;
/// Largest `listxattr` result (names plus their NUL terminators) per inode, in bytes: the
/// kernel's `XATTR_LIST_MAX`. Adding a name past it: `ENOSPC`, as ext4 does.
pub const XATTR_LIST_LEN_MAX: usize = 64 * 1024;

/// Largest vector dimension for `f32`, `f16`, `i8` and `i16` collections. Past it: `EINVAL`.
pub const DIM_MAX: u32 = 4096;
/// Largest dimension, in bits, for `bin` collections (must also be a multiple of 8).
pub const BIN_DIM_MAX: u32 = 65_536;
/// Smallest and largest HNSW `m` (links per node on upper levels; level 0 has `2 * m`).
pub const HNSW_M_MIN: u32 = 2;
/// See [`HNSW_M_MIN`].
pub const HNSW_M_MAX: u32 = 64;
/// Live vectors an sq8 index needs before it trains its ranges (until then its searches walk
/// the exact vectors; see `index::sq8`).
pub const SQ8_TRAIN_MIN: u64 = 32;
/// Default `rerank` of a quantized collection (measured: recall@10 at the default ef equals
/// the uncompressed collection's on real-minilm-20k and gauss100k with 16, 32 and 64).
pub const RERANK_DEFAULT: u32 = 32;
/// Smallest stored vector (bytes) of an `f32`/`f16` index under `l2`, `cosine` or `dot` whose
/// nodes carry 1-bit sketches that let the walk skip reading vectors (`index::sketch`). A
/// sketch saves reading a vector but adds its own line and a second wait for memory per
/// expansion, which only pays when vectors are many lines: 384-d `f32` (1,536 bytes) gained
/// 25-35 % queries/s on `real-minilm-100k`, 128-d `f32` (512 bytes) lost 15-18 % on
/// `gauss100k` (between the two was not measured).
pub const SKETCH_VECTOR_BYTES_MIN: usize = 1024;
/// Largest `rerank` of a quantized collection (the candidates re-scored exactly).
pub const RERANK_MAX: u32 = 4096;
/// Largest `ef_construction` and `ef_search` a collection may be configured with, and the
/// largest `ef` a query may ask for.
pub const EF_MAX: u32 = 4096;
/// Highest HNSW level a node can be drawn at (levels are `0..=HNSW_LEVEL_MAX`).
pub const HNSW_LEVEL_MAX: u8 = 16;
/// A collection is compacted (rebuilt without tombstones) once deleted nodes exceed this
/// share of its nodes, in percent, and number at least [`TOMBSTONE_COMPACT_MIN`].
pub const TOMBSTONE_COMPACT_PERCENT: u64 = 25;
/// See [`TOMBSTONE_COMPACT_PERCENT`].
pub const TOMBSTONE_COMPACT_MIN: u64 = 64;
/// Cache lines of one vector (or sq8 code) that the HNSW walk prefetches ahead of scoring it:
/// 128 lines (8 KiB) cover a whole 2048-d f32 vector. Capped at 16 lines (1 KiB) a 768-d vector
/// was two-thirds unfetched: lifting the cap gave 19-38 % more queries/s on `real-mpnet-20k` and
/// 27-39 % on 20,000 x 1536 Gaussian vectors (`vexfs-bench ann --index`, builds alternated).
pub const PREFETCH_LINES_MAX: usize = 128;
/// Evaluations of a search's filter during the HNSW walk before its match rate is trusted (the
/// walk is not abandoned for a low rate before this many).
pub const FILTER_SAMPLE_MIN: u32 = 64;
/// A filtered HNSW walk is abandoned for an exact filtered scan when, after
/// [`FILTER_SAMPLE_MIN`] evaluations, fewer than one in this many evaluated nodes pass.
pub const FILTER_RATE_MIN_INV: u32 = 32;

/// Most results one search returns. Past it: `EINVAL`.
pub const K_MAX: u32 = 1000;
/// Results returned when a query does not say `k`.
pub const K_DEFAULT: u32 = 10;
/// Longest query (or batch of queries) accepted through `/.vexfs/search` or the API's JSON
/// entry, in bytes.
pub const QUERY_LEN_MAX: usize = 1024 * 1024;
/// Most queries one batch (a JSON array written to `/.vexfs/search`) may hold. Past it: `EINVAL`.
pub const BATCH_QUERIES_MAX: usize = 1000;
/// Most metadata keys one query's `include` may name (`"metadata.KEY"`). Past it: `EINVAL`.
pub const INCLUDE_ATTRS_MAX: usize = 64;
/// Deepest parenthesis (and `not`) nesting in a filter expression. Past it: `EINVAL`.
pub const FILTER_DEPTH_MAX: usize = 16;
/// Most terms (comparisons, `has`, `in` lists and operators) in one filter expression.
pub const FILTER_TERMS_MAX: usize = 256;
/// Most values in one `in (...)` list.
pub const FILTER_IN_VALUES_MAX: usize = 256;

/// Most supplementary groups a caller's credentials carry (`Creds`, inline, no allocation).
/// A caller in more groups is checked as if it might be in any group not listed, which can
/// only refuse more (see `Creds::with_groups`).
pub const CREDS_GROUPS_MAX: usize = 64;

/// Default memory budget of a mount's open `/.vexfs/search` files, in MiB (`--search-memory-mib`):
/// what their query and result buffers and a fixed charge per open file may hold in all.
/// Past it, opening `search` fails with `ENFILE` and a query with `ENOBUFS`.
pub const SEARCH_MEMORY_MIB_DEFAULT: u32 = 256;
/// One user other than root may hold at most this fraction (1 / N) of the search memory budget.
pub const SEARCH_MEMORY_USER_SHARE_INV: usize = 4;
/// Bytes charged to the budget for each open `search` file besides its buffers (its state,
/// handle table entry and an error line).
pub const SEARCH_HANDLE_BYTES: usize = 1024;
/// Search scratch memories (visited tags and heaps, sized to the largest collection) a mount
/// keeps for reuse between queries; a query borrows one only while it runs.
pub const SEARCH_SCRATCH_POOL_MAX: usize = 8;
/// Search scratch memories the in-process frontends (Python) keep for reuse: one per thread
/// searching at once is enough, and each is sized to the largest collection.
pub const API_SCRATCH_POOL_MAX: usize = 64;

/// Blocks per log segment unless the image is opened with another size (1 MiB). A record that
/// does not fit (a 1 MiB write) gets a segment of its own, as long as it needs.
pub const LOG_SEGMENT_BLOCKS_DEFAULT: u32 = 256;
/// Fewest blocks per log segment: one for records, one for the record that names the next
/// segment.
pub const LOG_SEGMENT_BLOCKS_MIN: u32 = 2;

/// Most records (operations, paddings, next-segment links) one log may hold, from one
/// checkpoint to the next: past half of it a checkpoint is due, at it changes fail with
/// `ENOSPC` until one is written. (Checkpoints come far sooner, when the log's size reaches
/// the last checkpoint's.) It bounds the LSNs that a session lost in a crash can have used
/// after the checkpoint it started from, so that the next session's log starts past all of
/// them (docs/format.md §4.4).
pub const LOG_RECORDS_MAX: u64 = 1 << 28;

/// Blocks of room kept, when the medium is nearly full, for operations that free space (their
/// log records): writes and creates fail with `ENOSPC` before this reserve is touched, so
/// deleting always works (512 KiB).
pub const SPACE_RESERVE_BLOCKS: u64 = 128;

/// The log writer flushes its buffer once it holds this many bytes (1 MiB).
pub const LOG_FLUSH_BYTES: usize = 1024 * 1024;

/// The log since the last checkpoint may grow to at least this many bytes (counting an
/// estimate of the file blocks the logged operations made resident) before a checkpoint; after
/// that, to the size of the last checkpoint, so checkpoint cost stays proportional to logging.
pub const CHECKPOINT_FOOTPRINT_MIN: u64 = 64 * 1024 * 1024;

/// Blocks of file data the read cache holds (64 MiB).
pub const CACHE_BLOCKS: usize = 16 * 1024;

/// Most problems one `check::check` reports.
pub const PROBLEMS_MAX: usize = 100;

const _: () = assert!(LOG_FLUSH_BYTES >= BLOCK_SIZE && CACHE_BLOCKS > 0 && PROBLEMS_MAX > 0);

/// Peak stack, in bytes, that any core entry point may use in a release build. Measured and
/// enforced by `stack-audit`.
pub const STACK_BUDGET_BYTES: usize = 6144;

// The largest vector of every element type fits in one attribute value.
const _: () = assert!(DIM_MAX as usize * 4 <= XATTR_VALUE_LEN_MAX);
const _: () = assert!((BIN_DIM_MAX / 8) as usize <= XATTR_VALUE_LEN_MAX);
const _: () = assert!(BIN_DIM_MAX.is_multiple_of(8));
// A search can always be widened to return `k` results.
const _: () = assert!(K_MAX <= EF_MAX);
const _: () = assert!(K_DEFAULT <= K_MAX);
// The largest query vector (4096 f32 values written as JSON numbers) fits in one query.
const _: () = assert!(DIM_MAX as usize * 32 <= QUERY_LEN_MAX);
const _: () = assert!(HNSW_M_MIN >= 2 && HNSW_M_MAX <= 256);
const _: () = assert!(NAME_LEN_MAX < PATH_LEN_MAX);
const _: () = assert!(XATTR_NAME_LEN_MAX <= XATTR_LIST_LEN_MAX);
const _: () = assert!(FILTER_DEPTH_MAX <= 64);
const _: () = assert!(BLOCK_SIZE.is_power_of_two());
const _: () = assert!(FILE_SIZE_MAX.is_multiple_of(BLOCK_SIZE as u64));
const _: () = assert!(LOG_SEGMENT_BLOCKS_MIN >= 2 && LOG_SEGMENT_BLOCKS_DEFAULT >= LOG_SEGMENT_BLOCKS_MIN);
