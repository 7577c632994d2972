//! Names of containers, services, aliases and resources.

use std::fmt;

/// Why a text is not a valid name.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[error("annotation {annotation}: {text:?} is not a valid name: {why}")]
pub struct NameError {
    /// Where the text came from (an annotation, a flag), named in the error.
    pub annotation: String,
    pub text: String,
    pub why: &'static str,
}

/// A container, service or alias name: Docker's rule, `[a-zA-Z0-9][a-zA-Z0-9_.-]*`,
/// at most 128 characters. Safe in a hosts line, a SQL value and a log line.
#[derive(
    Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(try_from = "String", into = "String")]
pub struct Name(String);

impl Name {
    /// Validate `text` as a name; `annotation` is named in the error.
    pub fn parse(annotation: &str, text: &str) -> Result<Name, NameError> {
        let bad = |why| NameError {
            annotation: annotation.to_string(),
            text: text.to_string(),
            why,
        };
        let mut chars = text.chars();
        match chars.next() {
            None => return Err(bad("it is empty")),
            Some(c) if !c.is_ascii_alphanumeric() => {
                return Err(bad("it must start with a letter or a digit"));
            }
            _ => {}
        }
        if text.len() > 128 {
            return Err(bad("it is longer than 128 characters"));
        }
        if !chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')) {
            return Err(bad("only letters, digits, '_', '.' and '-' are allowed"));
        }
        Ok(Name(text.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Name {
    type Error = NameError;
    fn try_from(s: String) -> Result<Self, NameError> {
        Name::parse("name", &s)
    }
}

impl From<Name> for String {
    fn from(n: Name) -> String {
        n.0
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
