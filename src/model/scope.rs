//! Scopes: the name spaces containers are registered and linked in, and
//! which other scopes a target admits.

use std::fmt;

use super::name::Name;

/// The scope of a container that names none (outside Kubernetes).
pub const DEFAULT_SCOPE: &str = "default";

/// The scope named `default`.
pub fn default_scope() -> Name {
    Name::parse("scope", DEFAULT_SCOPE).expect("a valid name")
}

/// Which scopes other than its own may link to a target
/// (`io.linkshim.allow-scopes`). Stored as a JSON list of scope names,
/// `["*"]` for any.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "Vec<String>", into = "Vec<String>")]
pub enum Admits {
    /// Its own scope only.
    #[default]
    Own,
    /// Its own and these.
    Scopes(Vec<Name>),
    /// Every scope (`*`).
    Any,
}

impl Admits {
    /// Parse the entries of `io.linkshim.allow-scopes`: scope names, or `*`.
    pub fn parse<'a>(
        annotation: &str,
        entries: impl IntoIterator<Item = &'a str>,
    ) -> Result<Admits, super::NameError> {
        let mut scopes = Vec::new();
        for e in entries {
            if e == "*" {
                return Ok(Admits::Any);
            }
            let name = Name::parse(annotation, e)?;
            if !scopes.contains(&name) {
                scopes.push(name);
            }
        }
        Ok(if scopes.is_empty() {
            Admits::Own
        } else {
            Admits::Scopes(scopes)
        })
    }

    /// True when a container in scope `from` may link to a target in
    /// scope `own` that admits this.
    pub fn admits(&self, own: &Name, from: &Name) -> bool {
        own == from
            || match self {
                Admits::Own => false,
                Admits::Scopes(s) => s.contains(from),
                Admits::Any => true,
            }
    }
}

impl TryFrom<Vec<String>> for Admits {
    type Error = super::NameError;
    fn try_from(v: Vec<String>) -> Result<Self, Self::Error> {
        Admits::parse("allow-scopes", v.iter().map(String::as_str))
    }
}

impl From<Admits> for Vec<String> {
    fn from(a: Admits) -> Vec<String> {
        match a {
            Admits::Own => vec![],
            Admits::Scopes(s) => s.into_iter().map(String::from).collect(),
            Admits::Any => vec!["*".to_string()],
        }
    }
}

impl fmt::Display for Admits {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let list: Vec<String> = self.clone().into();
        f.write_str(&list.join(" "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(s: &str) -> Name {
        Name::parse("t", s).unwrap()
    }

    #[test]
    fn admission_table() {
        let (a, b, c) = (n("a"), n("b"), n("c"));
        let cases: &[(&[&str], &Name, &Name, bool)] = &[
            (&[], &a, &a, true),
            (&[], &a, &b, false),
            (&["b"], &a, &b, true),
            (&["b"], &a, &c, false),
            (&["b", "c"], &a, &c, true),
            (&["*"], &a, &c, true),
            (&["b", "*"], &a, &c, true),
        ];
        for (list, own, from, want) in cases {
            let admits = Admits::parse("t", list.iter().copied()).unwrap();
            assert_eq!(admits.admits(own, from), *want, "{list:?} {own} <- {from}");
        }
    }

    #[test]
    fn stored_form_round_trips_and_is_validated() {
        for list in [vec![], vec!["b", "c"], vec!["*"]] {
            let a = Admits::parse("t", list.iter().copied()).unwrap();
            let json = serde_json::to_string(&a).unwrap();
            assert_eq!(serde_json::from_str::<Admits>(&json).unwrap(), a);
            let back: Vec<String> = a.into();
            assert_eq!(back, list);
        }
        assert!(serde_json::from_str::<Admits>("[\"a b\"]").is_err());
        assert!(Admits::parse("io.linkshim.allow-scopes", ["x/y"]).is_err());
    }
}
