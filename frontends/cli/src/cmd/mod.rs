//! One module per subcommand.

pub mod fsck;
pub mod mkfs;
pub mod stats;
