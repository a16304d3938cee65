//! One module per subcommand.

pub mod collections;
pub mod fsck;
pub mod import;
pub mod index;
pub mod mkfs;
pub mod mount;
pub mod mounted;
pub mod search;
pub mod stats;
pub mod vector;
