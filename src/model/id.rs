//! Container ids, as the engine gave them, validated as runc validates them.

use std::fmt;

/// The longest id linkshim accepts.
pub const MAX_ID_LEN: usize = 1024;

/// Why a container id was refused.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[error(
    "container id {} is not valid: {why} (only letters, digits, '_', '.', '+' and '-', at most {MAX_ID_LEN} characters, as runc requires: create it with another id)",
    escape(.id)
)]
pub struct IdError {
    pub id: String,
    pub why: &'static str,
}

/// A container's id. Whoever starts a container chooses it, so a new one
/// goes through [`ContainerId::parse`] (runc's rule, `^[\w+-\.]+$`) before
/// it is stored or rendered: its short form goes into other containers'
/// hosts lines. Ids read back from the registry are kept as stored and
/// shown through [`escape`].
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
    /// Validate an id from the engine: 1 to `MAX_ID_LEN` characters of
    /// `[A-Za-z0-9_.+-]`.
    pub fn parse(id: &str) -> Result<ContainerId, IdError> {
        let bad = |why| IdError {
            id: truncated(id),
            why,
        };
        if id.is_empty() {
            return Err(bad("it is empty"));
        }
        if id.len() > MAX_ID_LEN {
            return Err(bad("it is too long"));
        }
        if !is_valid(id) {
            return Err(bad("it holds a character outside [A-Za-z0-9_.+-]"));
        }
        Ok(ContainerId(id.to_string()))
    }

    /// True when this id passes [`ContainerId::parse`].
    pub fn is_valid(&self) -> bool {
        is_valid(&self.0)
    }

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

fn is_valid(id: &str) -> bool {
    (1..=MAX_ID_LEN).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'+' | b'-'))
}

/// The first 256 characters of `id`, for an error message.
fn truncated(id: &str) -> String {
    match id.char_indices().nth(256) {
        Some((i, _)) => format!("{}...", &id[..i]),
        None => id.to_string(),
    }
}

/// `id` quoted for a line of output: a valid id as it is, anything else
/// escaped (`"a\n6.6.6.6 db"`) so it can never break a line or a column.
pub fn escape(id: &str) -> String {
    if is_valid(id) {
        id.to_string()
    } else {
        format!("{:?}", truncated(id))
    }
}

/// The fewest characters a link names a target by id with.
pub const MIN_ID_REFERENCE: usize = 12;

/// Whether a link's target may name a container by its id, or a prefix of
/// one, when no container, service or resource has it as its name: at
/// least [`MIN_ID_REFERENCE`] lowercase hex digits, as Docker's and
/// podman's ids (and their 12-character short form) are. Whoever starts a
/// container chooses its id: were any string an id reference, a container
/// with the id `db` (or `db0...`) would take over every link to `db` the
/// moment the container named `db` stopped.
pub fn may_reference_id(target: &str) -> bool {
    target.len() >= MIN_ID_REFERENCE
        && target
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
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

    #[test]
    fn ids_as_runc_accepts_them() {
        for ok in ["a", "c0ffee", "A_b.c+d-e", "0", &"x".repeat(MAX_ID_LEN)] {
            let id = ContainerId::parse(ok).unwrap_or_else(|e| panic!("{ok:?}: {e}"));
            assert!(id.is_valid());
            assert_eq!(escape(ok), ok);
        }
        let cases: &[(&str, &str)] = &[
            ("", "empty"),
            ("a\n6.6.6.6 db", "outside"),
            ("a b", "outside"),
            ("a/b", "outside"),
            ("a:b", "outside"),
            ("caf\u{e9}", "outside"),
            ("a\0", "outside"),
            (&"x".repeat(MAX_ID_LEN + 1), "too long"),
        ];
        for (bad, why) in cases {
            let err = ContainerId::parse(bad).expect_err(bad);
            let text = err.to_string();
            assert!(text.contains(why), "{bad:?}: {text}");
            assert!(!text.contains('\n'), "the error is one line: {text:?}");
            assert!(!ContainerId::new(*bad).is_valid());
        }
        assert_eq!(escape("a\n6.6.6.6 db"), "\"a\\n6.6.6.6 db\"");
    }
}
