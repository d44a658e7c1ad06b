//! The CNI error object: one type every layer returns, with the spec's
//! well-known codes and meta-cni's own 100+ codes.

use std::fmt;

/// Error codes. 1–99 are the CNI specification's; 100 and up are meta-cni's
/// own (documented in the README's error table).
pub mod code {
    /// Incompatible or unsupported CNI version.
    pub const INCOMPATIBLE_VERSION: u32 = 1;
    /// A required environment variable is missing or malformed.
    pub const INVALID_ENV: u32 = 4;
    /// Reading or writing a file (state, log) failed.
    pub const IO_FAILURE: u32 = 5;
    /// JSON that does not decode (config, delegate output).
    pub const DECODE: u32 = 6;
    /// The network configuration is invalid.
    pub const INVALID_CONFIG: u32 = 7;
    /// STATUS: the plugin is not available (cannot service ADD).
    pub const PLUGIN_NOT_AVAILABLE: u32 = 50;
    /// Try again later (another operation holds the attachment's lock).
    pub const TRY_AGAIN: u32 = 11;
    /// A delegate binary was not found in `CNI_PATH`, or could not be started.
    pub const DELEGATE_NOT_FOUND: u32 = 100;
    /// A delegate exited non-zero or was killed without printing a CNI error.
    pub const DELEGATE_FAILED: u32 = 101;
    /// A delegate did not finish within its time limit and was killed.
    pub const DELEGATE_TIMEOUT: u32 = 102;
    /// A bug in meta-cni (a caught panic). Please report it.
    pub const INTERNAL: u32 = 110;
}

/// A CNI error object (`{"code", "msg", "details"}`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CniError {
    pub code: u32,
    pub msg: String,
    pub details: String,
}

impl CniError {
    pub fn new(code: u32, msg: impl Into<String>) -> Self {
        CniError {
            code,
            msg: msg.into(),
            details: String::new(),
        }
    }

    pub fn with_details(mut self, details: impl Into<String>) -> Self {
        self.details = details.into();
        self
    }

    pub fn config(msg: impl Into<String>) -> Self {
        Self::new(code::INVALID_CONFIG, msg)
    }

    pub fn decode(msg: impl Into<String>) -> Self {
        Self::new(code::DECODE, msg)
    }

    pub fn env(msg: impl Into<String>) -> Self {
        Self::new(code::INVALID_ENV, msg)
    }

    pub fn version(msg: impl Into<String>) -> Self {
        Self::new(code::INCOMPATIBLE_VERSION, msg)
    }

    pub fn io(msg: impl Into<String>) -> Self {
        Self::new(code::IO_FAILURE, msg)
    }

    /// Prefix the message with where it happened (`pipeline "x" delegate "y"`).
    pub fn context(mut self, ctx: impl fmt::Display) -> Self {
        self.msg = format!("{ctx}: {}", self.msg);
        self
    }

    /// Append a line to `details` (used for rollback failures).
    pub fn add_detail(&mut self, line: impl AsRef<str>) {
        if !self.details.is_empty() {
            self.details.push('\n');
        }
        self.details.push_str(line.as_ref());
    }

    /// The error object as the CNI spec prints it. `msg` and `details` are
    /// cut at [`MAX_TEXT`] bytes each: messages quote input values (a
    /// 10 MB network name, 300,000 config problems) and the runtime keeps
    /// what we print in its logs and events.
    pub fn to_json(&self, cni_version: &str) -> serde_json::Value {
        let mut m = serde_json::Map::new();
        m.insert("cniVersion".into(), cni_version.into());
        m.insert("code".into(), self.code.into());
        m.insert("msg".into(), capped(&self.msg).into());
        if !self.details.is_empty() {
            m.insert("details".into(), capped(&self.details).into());
        }
        serde_json::Value::Object(m)
    }
}

/// Longest `msg` or `details` printed in an error object, in bytes.
pub(crate) const MAX_TEXT: usize = 64 * 1024;

/// `s`, or its first [`MAX_TEXT`] bytes (on a character boundary) and a
/// note of how much was left out.
fn capped(s: &str) -> String {
    if s.len() <= MAX_TEXT {
        return s.to_string();
    }
    let mut end = MAX_TEXT;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}... ({} more bytes not shown)", &s[..end], s.len() - end)
}

impl fmt::Display for CniError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{}] {}", self.code, self.msg)?;
        if !self.details.is_empty() {
            write!(f, " ({})", self.details)?;
        }
        Ok(())
    }
}

impl std::error::Error for CniError {}

pub type Result<T, E = CniError> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printed_text_is_capped_on_a_char_boundary() {
        let short = CniError::new(7, "short").with_details("d");
        assert_eq!(short.to_json("1.0.0")["msg"], "short");
        assert_eq!(short.to_json("1.0.0")["details"], "d");
        let long = "é".repeat(MAX_TEXT); // 2 bytes each
        let e = CniError::new(7, long.clone()).with_details(long.clone());
        let v = e.to_json("1.0.0");
        for key in ["msg", "details"] {
            let text = v[key].as_str().unwrap_or_default();
            assert!(text.len() < MAX_TEXT + 64, "{key}: {}", text.len());
            assert!(text.starts_with("éé"));
            assert!(text.ends_with(&format!("({} more bytes not shown)", MAX_TEXT)));
        }
        // The error itself keeps everything (for the log).
        assert_eq!(e.msg, long);
    }
}
