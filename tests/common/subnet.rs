//! A /24 that a test owns, shared by the root-only suites
//! (`#[path = "../common/subnet.rs"] mod subnet;`); each suite picks its
//! own prefixes.

/// A /24 `10.A.B.0/24`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subnet {
    /// `10.A.B`
    pub prefix: String,
}

impl Subnet {
    pub fn cidr(&self) -> String {
        format!("{}.0/24", self.prefix)
    }

    pub fn gateway(&self) -> String {
        format!("{}.1", self.prefix)
    }

    /// `10.A.B.` (with the dot, so `10.1.1.` never matches `10.1.10.x`).
    pub fn dotted(&self) -> String {
        format!("{}.", self.prefix)
    }

    /// Whether `addr` (`a.b.c.d` or `a.b.c.d/len`) is in this subnet.
    pub fn contains(&self, addr: &str) -> bool {
        addr.starts_with(&self.dotted())
    }
}
