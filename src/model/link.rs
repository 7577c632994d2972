//! One requested link: Docker's `--link target[:alias]`, with an optional
//! scope before the target (`scope/target`), an optional `+convox` suffix
//! and an optional start policy (`?optional`, `?wait=10s`).

use std::fmt;
use std::time::Duration;

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

/// What a linker's create does when the link's target is not running.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StartPolicy {
    /// Fail the create (Docker's behaviour).
    #[default]
    Required,
    /// Start without it: no variables; its hosts line appears when it starts.
    Optional,
    /// Wait for it to register, at most this long (1 ms to [`MAX_WAIT`]),
    /// then go on, or fail the create at the bound.
    Wait(Duration),
}

/// The longest a link may wait for its target: under the precreate hook's
/// timeout in the packaged hooks file.
pub const MAX_WAIT: Duration = Duration::from_secs(60);

impl StartPolicy {
    /// `optional`, `required`, or `wait=N` with `N` in `ms` or `s` (seconds
    /// when bare), at most [`MAX_WAIT`].
    pub fn parse(text: &str) -> Result<StartPolicy, String> {
        match text {
            "required" => return Ok(StartPolicy::Required),
            "optional" => return Ok(StartPolicy::Optional),
            _ => {}
        }
        let Some(bound) = text.strip_prefix("wait=") else {
            return Err(format!(
                "unknown start policy ?{text} (one of ?required, ?optional, ?wait=10s)"
            ));
        };
        let (digits, unit_ms) = match bound.strip_suffix("ms") {
            Some(d) => (d, 1),
            None => (bound.strip_suffix('s').unwrap_or(bound), 1000),
        };
        let n: u64 = digits
            .parse()
            .ok()
            .filter(|_| digits.bytes().all(|b| b.is_ascii_digit()))
            .ok_or_else(|| {
                format!(
                    "?wait={bound}: the bound is a number of seconds (10s) or milliseconds (500ms)"
                )
            })?;
        let d = Duration::from_millis(n.saturating_mul(unit_ms));
        if d.is_zero() || d > MAX_WAIT {
            return Err(format!(
                "?wait={bound}: the bound is from 1ms to {}s",
                MAX_WAIT.as_secs()
            ));
        }
        Ok(StartPolicy::Wait(d))
    }
}

impl fmt::Display for StartPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StartPolicy::Required => f.write_str("required"),
            StartPolicy::Optional => f.write_str("optional"),
            StartPolicy::Wait(d) if d.subsec_millis() == 0 => write!(f, "wait={}s", d.as_secs()),
            StartPolicy::Wait(d) => write!(f, "wait={}ms", d.as_millis()),
        }
    }
}

/// One requested link. Stored (serde) in its written form,
/// `[scope/]target[:alias][+convox][?policy]`, and validated again when read.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct LinkRequest {
    /// The scope the target is looked up in, when not the linker's own.
    pub scope: Option<Name>,
    pub target: Name,
    pub alias: Name,
    pub family: Family,
    /// What its create does when the target is not running.
    pub policy: StartPolicy,
}

impl LinkRequest {
    /// Parse one entry, `[scope/]target[:alias][+convox][?policy]`; the
    /// error says why.
    pub fn parse(item: &str) -> Result<LinkRequest, String> {
        let (item, policy) = match item.split_once('?') {
            Some((l, p)) => (l, StartPolicy::parse(p)?),
            None => (item, StartPolicy::Required),
        };
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
            policy,
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
        if self.policy != StartPolicy::Required {
            write!(f, "?{}", self.policy)?;
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
            "db:data?optional",
            "db?wait=10s",
            "redis:cache+convox?wait=250ms",
            "team-a/db?wait=60s",
        ] {
            let l = LinkRequest::parse(text).unwrap();
            assert_eq!(l.to_string(), text);
            let json = serde_json::to_string(&l).unwrap();
            assert_eq!(json, format!("{text:?}"));
            assert_eq!(serde_json::from_str::<LinkRequest>(&json).unwrap(), l);
        }
        assert_eq!(LinkRequest::parse("db:db").unwrap().to_string(), "db");
        assert_eq!(
            LinkRequest::parse("db?required").unwrap().to_string(),
            "db",
            "the default is not written"
        );
        assert_eq!(
            LinkRequest::parse("db?wait=2000ms").unwrap().to_string(),
            "db?wait=2s"
        );
    }

    #[test]
    fn start_policies_and_their_bounds() {
        for (text, want) in [
            ("db", Ok(StartPolicy::Required)),
            ("db?optional", Ok(StartPolicy::Optional)),
            (
                "db?wait=20s",
                Ok(StartPolicy::Wait(Duration::from_secs(20))),
            ),
            ("db?wait=20", Ok(StartPolicy::Wait(Duration::from_secs(20)))),
            (
                "db?wait=1ms",
                Ok(StartPolicy::Wait(Duration::from_millis(1))),
            ),
            ("db?wait=60s", Ok(StartPolicy::Wait(MAX_WAIT))),
            ("db?wait=61s", Err("1ms to 60s")),
            ("db?wait=0s", Err("1ms to 60s")),
            ("db?wait=99999999999999999999", Err("number")),
            ("db?wait=18446744073709551615s", Err("1ms to 60s")),
            ("db?wait=-1s", Err("number")),
            ("db?wait=+1s", Err("number")),
            ("db?wait=1h", Err("number")),
            ("db?wait=", Err("number")),
            ("db?later", Err("unknown start policy")),
            ("db?optional?optional", Err("unknown start policy")),
        ] {
            match (LinkRequest::parse(text), want) {
                (Ok(l), Ok(p)) => assert_eq!(l.policy, p, "{text}"),
                (Err(e), Err(why)) => assert!(e.contains(why), "{text}: {e}"),
                (got, want) => panic!("{text}: got {got:?}, want {want:?}"),
            }
        }
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
