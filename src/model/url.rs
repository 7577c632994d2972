//! URL links: a target's `io.linkshim.url` template (host and port may be
//! left empty, to be filled with the target's address and first port) and
//! the parts a linker gets, percent-decoded.

use std::net::IpAddr;

use percent_encoding::percent_decode_str;

/// A URL whose host and port may be empty: `redis://:password@:6379/0`.
/// Stored (serde) as written, and validated again when read.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Template {
    scheme: String,
    userinfo: Option<String>,
    host: Option<String>,
    port: Option<u16>,
    /// Path, query and fragment, as written.
    rest: String,
}

impl Template {
    /// Parse a template; the scheme defaults to `tcp`.
    pub fn parse(text: &str) -> Result<Template, String> {
        if text.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err("it contains white space or a control character".into());
        }
        let (scheme, rest) = match text.split_once("://") {
            Some((s, r)) => (s.to_ascii_lowercase(), r),
            None => ("tcp".to_string(), text.strip_prefix("//").unwrap_or(text)),
        };
        let scheme_ok = scheme.starts_with(|c: char| c.is_ascii_alphabetic())
            && scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
        if !scheme_ok {
            return Err(format!("bad scheme {scheme:?}"));
        }
        let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let (authority, tail) = rest.split_at(end);
        let (userinfo, hostport) = match authority.rsplit_once('@') {
            Some((u, h)) => (Some(u.to_string()), h),
            None => (None, authority),
        };
        let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
            let (h, after) = v6.split_once(']').ok_or("an IPv6 host lacks its ']'")?;
            (h, after.strip_prefix(':').unwrap_or(after))
        } else {
            match hostport.rsplit_once(':') {
                Some((h, p)) => (h, p),
                None => (hostport, ""),
            }
        };
        let port = match port {
            "" => None,
            p => match p.parse::<u16>() {
                Ok(n) if n > 0 && p.bytes().all(|b| b.is_ascii_digit()) => Some(n),
                _ => return Err(format!("bad port {p:?}")),
            },
        };
        let t = Template {
            scheme,
            userinfo,
            host: (!host.is_empty()).then(|| host.to_string()),
            port,
            rest: tail.to_string(),
        };
        // What it gives once filled must be a valid URL.
        let probe = t.fill(Some("192.0.2.1".parse().expect("a valid address")), Some(1));
        url::Url::parse(&probe).map_err(|e| e.to_string())?;
        Ok(t)
    }

    /// True when the template names its own host (a resource's URL does).
    pub fn has_host(&self) -> bool {
        self.host.is_some()
    }

    /// The host as written, without IPv6 brackets.
    pub fn host(&self) -> Option<&str> {
        self.host.as_deref()
    }

    /// The port as written.
    pub fn port(&self) -> Option<u16> {
        self.port
    }

    /// The URL with an empty host filled with `ip` and an empty port with `port`.
    pub fn fill(&self, ip: Option<IpAddr>, port: Option<u16>) -> String {
        let host = match (&self.host, ip) {
            (Some(h), _) if h.contains(':') => format!("[{h}]"),
            (Some(h), _) => h.clone(),
            (None, Some(IpAddr::V6(v6))) => format!("[{v6}]"),
            (None, Some(ip)) => ip.to_string(),
            (None, None) => String::new(),
        };
        let mut s = format!("{}://", self.scheme);
        if let Some(u) = &self.userinfo {
            s.push_str(u);
            s.push('@');
        }
        s.push_str(&host);
        if let Some(p) = self.port.or(port) {
            s.push_str(&format!(":{p}"));
        }
        s.push_str(&self.rest);
        s
    }
}

impl std::fmt::Display for Template {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.fill(None, None))
    }
}

impl TryFrom<String> for Template {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        Template::parse(&s).map_err(|why| format!("URL {s:?}: {why}"))
    }
}

impl From<Template> for String {
    fn from(t: Template) -> String {
        t.to_string()
    }
}

/// True when a percent-decoded part of `text` would hold a NUL byte
/// (`p%00w`): no process can receive it in a variable.
pub fn has_encoded_nul(text: &str) -> bool {
    text.contains('\0') || percent_decode_str(text).any(|b| b == 0)
}

/// A filled URL and its parts, percent-decoded: what a linker gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parts {
    pub url: String,
    pub scheme: String,
    pub host: String,
    pub port: Option<u16>,
    pub path: String,
    pub username: String,
    pub password: String,
}

/// Split a filled URL into its parts.
pub fn parts(filled: &str) -> Result<Parts, String> {
    let u = url::Url::parse(filled).map_err(|e| e.to_string())?;
    let decode = |s: &str| percent_decode_str(s).decode_utf8_lossy().into_owned();
    let host = match u.host() {
        Some(url::Host::Ipv6(v6)) => v6.to_string(),
        Some(h) => h.to_string(),
        None => String::new(),
    };
    Ok(Parts {
        url: filled.to_string(),
        scheme: u.scheme().to_string(),
        host,
        port: u.port_or_known_default(),
        path: decode(u.path()),
        username: decode(u.username()),
        password: decode(u.password().unwrap_or("")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_fill_and_split() {
        struct Case {
            desc: &'static str,
            template: &'static str,
            port: Option<u16>,
            url: &'static str,
            parts: (
                &'static str,
                &'static str,
                Option<u16>,
                &'static str,
                &'static str,
                &'static str,
            ),
        }
        let ip: IpAddr = "172.17.0.2".parse().unwrap();
        let cases = [
            Case {
                desc: "Convox's redis example",
                template: "redis://:password@:6379/0",
                port: Some(1),
                url: "redis://:password@172.17.0.2:6379/0",
                parts: ("redis", "172.17.0.2", Some(6379), "/0", "", "password"),
            },
            Case {
                desc: "empty port: the first exposed one",
                template: "postgres://app:s3cret@/appdb",
                port: Some(5432),
                url: "postgres://app:s3cret@172.17.0.2:5432/appdb",
                parts: (
                    "postgres",
                    "172.17.0.2",
                    Some(5432),
                    "/appdb",
                    "app",
                    "s3cret",
                ),
            },
            Case {
                desc: "no scheme: tcp",
                template: ":9000",
                port: None,
                url: "tcp://172.17.0.2:9000",
                parts: ("tcp", "172.17.0.2", Some(9000), "", "", ""),
            },
            Case {
                desc: "percent-encoded user, password and path are decoded",
                template: "amqp://us%40er:p%3Ass%2Fw@:5672/%2Fvhost",
                port: None,
                url: "amqp://us%40er:p%3Ass%2Fw@172.17.0.2:5672/%2Fvhost",
                parts: (
                    "amqp",
                    "172.17.0.2",
                    Some(5672),
                    "//vhost",
                    "us@er",
                    "p:ss/w",
                ),
            },
            Case {
                desc: "http keeps its known default port",
                template: "http://",
                port: None,
                url: "http://172.17.0.2",
                parts: ("http", "172.17.0.2", Some(80), "/", "", ""),
            },
        ];
        for c in cases {
            let t = Template::parse(c.template).unwrap_or_else(|e| panic!("{}: {e}", c.desc));
            let filled = t.fill(Some(ip), c.port);
            assert_eq!(filled, c.url, "{}", c.desc);
            let p = parts(&filled).unwrap();
            assert_eq!(
                (
                    p.scheme.as_str(),
                    p.host.as_str(),
                    p.port,
                    p.path.as_str(),
                    p.username.as_str(),
                    p.password.as_str()
                ),
                c.parts,
                "{}",
                c.desc
            );
        }
    }

    #[test]
    fn ipv6_hosts() {
        let t = Template::parse("redis://:6379").unwrap();
        let filled = t.fill(Some("fd00::5".parse().unwrap()), None);
        assert_eq!(filled, "redis://[fd00::5]:6379");
        assert_eq!(parts(&filled).unwrap().host, "fd00::5");
        let own = Template::parse("pg://[fd00::9]:5432/db").unwrap();
        assert_eq!(own.host(), Some("fd00::9"));
        assert_eq!(own.fill(None, None), "pg://[fd00::9]:5432/db");
    }

    #[test]
    fn stored_form_round_trips() {
        for text in [
            "redis://:pw@:6379/0",
            "tcp://:9000",
            "pg://[fd00::9]:5432/db",
        ] {
            let t = Template::parse(text).unwrap();
            let json = serde_json::to_string(&t).unwrap();
            assert_eq!(json, format!("{text:?}"));
            assert_eq!(serde_json::from_str::<Template>(&json).unwrap(), t);
        }
        assert!(serde_json::from_str::<Template>("\"redis://:0\"").is_err());
    }

    #[test]
    fn bad_templates() {
        for (text, why) in [
            ("redis://:0/", "bad port"),
            ("redis://:99999", "bad port"),
            ("1x://h", "bad scheme"),
            ("redis://h :1", "white space"),
            ("redis://[fd00::1:1", "']'"),
        ] {
            let err = Template::parse(text).expect_err(text);
            assert!(err.contains(why), "{text}: {err}");
        }
    }
}
