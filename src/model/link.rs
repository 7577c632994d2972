//! One requested link: Docker's `--link target[:alias]`, with an optional
//! `+convox` suffix.

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
/// `target[:alias][+convox]`, and validated again when read.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct LinkRequest {
    pub target: Name,
    pub alias: Name,
    pub family: Family,
}

impl LinkRequest {
    /// Parse one entry, `target[:alias][+convox]`; the error says why.
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
        Ok(LinkRequest {
            target: Name::parse("link", target).map_err(|e| why("target", e))?,
            alias: Name::parse("link", alias).map_err(|e| why("alias", e))?,
            family,
        })
    }
}

impl fmt::Display for LinkRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
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
        for text in ["db", "mysql_server:db", "redis:cache+convox", "api+convox"] {
            let l = LinkRequest::parse(text).unwrap();
            assert_eq!(l.to_string(), text);
            let json = serde_json::to_string(&l).unwrap();
            assert_eq!(json, format!("{text:?}"));
            assert_eq!(serde_json::from_str::<LinkRequest>(&json).unwrap(), l);
        }
        assert_eq!(LinkRequest::parse("db:db").unwrap().to_string(), "db");
    }

    #[test]
    fn a_bad_stored_link_is_an_error() {
        let err = serde_json::from_str::<LinkRequest>("\"a:b c\"").unwrap_err();
        assert!(err.to_string().contains("alias"), "{err}");
        assert!(serde_json::from_str::<LinkRequest>("\"a+x\"").is_err());
    }
}
