//! One requested link: Docker's `--link target[:alias]`, with an optional
//! scope before the target (`scope/target`) and an optional `+convox` suffix.

use std::fmt;

use super::name::Name;

/// Which family of variables a link gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Family {
    /// Docker's link variables (`<P>_PORT=tcp://ip:port`), plus `<P>_PORTS`
    /// and, when the target declares a URL, the URL family without `<P>_PORT`.
    #[default]
    Docker,
    /// Convox's: `<P>_URL` and its parts, `<P>_PORT` a bare number.
    /// Asked for with a `+convox` suffix: `redis:cache+convox`.
    Convox,
}

/// One requested link. Stored (serde) in its written form,
/// `[scope/]target[:alias][+convox]`, and validated again when read.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct LinkRequest {
    /// The scope the target is looked up in, when not the linker's own.
    pub scope: Option<Name>,
    pub target: Name,
    pub alias: Name,
    pub family: Family,
}

impl LinkRequest {
    /// Parse one entry, `[scope/]target[:alias][+convox]`; the error says why.
    pub fn parse(item: &str) -> Result<LinkRequest, String> {
        let (link, family) = match item.split_once('+') {
            Some((l, "convox")) => (l, Family::Convox),
            Some((_, other)) => {
                return Err(format!(
                    "unknown link option +{other} (the one option is +convox)"
                ));
            }
            None => (item, Family::Docker),
        };
        let (target, alias) = link.split_once(':').unwrap_or((link, link));
        let why = |part: &str, e: super::NameError| format!("{part}: {:?}: {}", e.text, e.why);
        let (scope, target) = match target.split_once('/') {
            Some((scope, target)) => (
                Some(Name::parse("link", scope).map_err(|e| why("scope", e))?),
                target,
            ),
            None => (None, target),
        };
        // `scope/target` alone is aliased as the target.
        let alias = if link.contains(':') { alias } else { target };
        Ok(LinkRequest {
            scope,
            target: Name::parse("link", target).map_err(|e| why("target", e))?,
            alias: Name::parse("link", alias).map_err(|e| why("alias", e))?,
            family,
        })
    }
}

impl fmt::Display for LinkRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(scope) = &self.scope {
            write!(f, "{scope}/")?;
        }
        write!(f, "{}", self.target)?;
        if self.target != self.alias {
            write!(f, ":{}", self.alias)?;
        }
        if self.family == Family::Convox {
            f.write_str("+convox")?;
        }
        Ok(())
    }
}

impl TryFrom<String> for LinkRequest {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        LinkRequest::parse(&s).map_err(|why| format!("link {s:?}: {why}"))
    }
}

impl From<LinkRequest> for String {
    fn from(l: LinkRequest) -> String {
        l.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_form_round_trips() {
        for text in [
            "db",
            "mysql_server:db",
            "redis:cache+convox",
            "api+convox",
            "team-a/db",
            "team-a/db:data+convox",
        ] {
            let l = LinkRequest::parse(text).unwrap();
            assert_eq!(l.to_string(), text);
            let json = serde_json::to_string(&l).unwrap();
            assert_eq!(json, format!("{text:?}"));
            assert_eq!(serde_json::from_str::<LinkRequest>(&json).unwrap(), l);
        }
        assert_eq!(LinkRequest::parse("db:db").unwrap().to_string(), "db");
    }

    #[test]
    fn a_scope_before_the_target() {
        let l = LinkRequest::parse("team-a/db").unwrap();
        assert_eq!(l.scope.as_ref().map(Name::as_str), Some("team-a"));
        assert_eq!((l.target.as_str(), l.alias.as_str()), ("db", "db"));
        let l = LinkRequest::parse("b/db:data").unwrap();
        assert_eq!((l.target.as_str(), l.alias.as_str()), ("db", "data"));
        assert_eq!(LinkRequest::parse("db").unwrap().scope, None);
        for (bad, why) in [
            ("/db", "scope"),
            ("a/b/c", "target"),
            ("a/", "target"),
            ("-a/db", "scope"),
            ("a/db:x/y", "alias"),
        ] {
            let err = LinkRequest::parse(bad).expect_err(bad);
            assert!(err.contains(why), "{bad:?}: {err}");
        }
    }

    #[test]
    fn a_bad_stored_link_is_an_error() {
        let err = serde_json::from_str::<LinkRequest>("\"a:b c\"").unwrap_err();
        assert!(err.to_string().contains("alias"), "{err}");
        assert!(serde_json::from_str::<LinkRequest>("\"a+x\"").is_err());
    }
}
