//! The CLI's error: a one-line message and the exit status it implies.

use std::fmt;

/// A failed command.
#[derive(Debug)]
pub struct CliError {
    /// One line saying what failed and why.
    pub message: String,
    /// Exit status (1 for ordinary failures; fsck uses 2 for an unusable image).
    pub code: u8,
}

impl CliError {
    /// A failure with exit status 1.
    pub fn new(message: impl Into<String>) -> Self {
        CliError {
            message: message.into(),
            code: 1,
        }
    }

    /// A failure with an explicit exit status.
    pub fn with_code(message: impl Into<String>, code: u8) -> Self {
        CliError {
            message: message.into(),
            code,
        }
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Keep it to one line whatever the source said.
        f.write_str(&self.message.replace('\n', "; "))
    }
}

/// Adds what the command was doing to an error: `context(path, e)` → "PATH: error".
pub fn context(what: impl fmt::Display, e: impl fmt::Display) -> CliError {
    CliError::new(format!("{what}: {e}"))
}

/// Result of a command.
pub type CliResult<T> = Result<T, CliError>;
