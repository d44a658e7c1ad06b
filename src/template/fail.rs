//! An error inside one template string, before it gets its JSON path.

/// An error at a byte offset of the template string.
pub(super) struct Fail {
    pos: usize,
    msg: String,
}

impl Fail {
    pub(super) fn new(pos: usize, msg: impl Into<String>) -> Self {
        Fail {
            pos,
            msg: msg.into(),
        }
    }

    /// `template KIND error at column N: MSG`, N the 1-based character column.
    pub(super) fn reason(&self, src: &str, kind: &str) -> String {
        // Counts characters; never slices, so never panics.
        let col = src
            .char_indices()
            .take_while(|(i, _)| *i < self.pos)
            .count()
            + 1;
        format!("template {kind} error at column {col}: {}", self.msg)
    }
}
