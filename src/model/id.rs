//! Container ids, as the engine gave them.

use std::fmt;

/// A container's id. Whoever starts a container chooses it, so it is kept
/// as given and only ever shown (the short form goes into hosts lines).
#[derive(
    Debug,
    Clone,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    serde::Serialize,
    serde::Deserialize,
)]
#[serde(transparent)]
pub struct ContainerId(String);

impl ContainerId {
    pub fn new(id: impl Into<String>) -> ContainerId {
        ContainerId(id.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The first 12 characters, as Docker shows an id.
    pub fn short(&self) -> &str {
        short_id(&self.0)
    }
}

/// The first 12 characters of a container id.
pub fn short_id(id: &str) -> &str {
    match id.char_indices().nth(12) {
        Some((i, _)) => &id[..i],
        None => id,
    }
}

impl From<String> for ContainerId {
    fn from(s: String) -> ContainerId {
        ContainerId(s)
    }
}

impl From<&str> for ContainerId {
    fn from(s: &str) -> ContainerId {
        ContainerId(s.to_string())
    }
}

impl AsRef<str> for ContainerId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl PartialEq<str> for ContainerId {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<&str> for ContainerId {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

impl PartialEq<String> for ContainerId {
    fn eq(&self, other: &String) -> bool {
        &self.0 == other
    }
}

impl PartialEq<ContainerId> for &str {
    fn eq(&self, other: &ContainerId) -> bool {
        *self == other.0
    }
}

impl fmt::Display for ContainerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_form() {
        let id = ContainerId::new("330ef1855f71e4f4b1cbb2d1e1e6a8b7");
        assert_eq!(id.short(), "330ef1855f71");
        assert_eq!(ContainerId::new("tgt1").short(), "tgt1");
        assert_eq!(ContainerId::default().short(), "");
    }
}
