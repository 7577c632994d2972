//! What a generated variable may be: a well-formed key and value, and a
//! key that does not shadow a variable the linker's loader, shell or
//! interpreter reads (`LD_PRELOAD`, `NODE_PATH`, `DOCKER_HOST`, ...).

/// Well-known variables a generated key may never be.
pub const DENIED: &[&str] = &[
    "PATH",
    "HOME",
    "USER",
    "SHELL",
    "HOSTNAME",
    "TERM",
    "TMPDIR",
    "NODE_PATH",
    "NODE_OPTIONS",
    "DOCKER_HOST",
    "DOCKER_CONFIG",
    "DOCKER_CERT_PATH",
    "DOCKER_TLS_VERIFY",
    "DOCKER_CONTEXT",
    "PYTHONPATH",
    "PYTHONHOME",
    "PYTHONSTARTUP",
    "PERL5LIB",
    "PERL5OPT",
    "RUBYLIB",
    "RUBYOPT",
    "GEM_PATH",
    "GEM_HOME",
    "CLASSPATH",
    "JAVA_TOOL_OPTIONS",
    "_JAVA_OPTIONS",
    "JDK_JAVA_OPTIONS",
    "BASH_ENV",
    "ENV",
    "IFS",
    "PS4",
    "GCONV_PATH",
    "GETCONF_DIR",
    "HOSTALIASES",
    "LOCALDOMAIN",
    "RES_OPTIONS",
    "NLSPATH",
    "GLIBC_TUNABLES",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
];

/// Prefixes no generated key may start with: the dynamic loader's, the
/// C library's allocator's, and linkshim's own.
pub const DENIED_PREFIXES: &[&str] = &["LD_", "MALLOC_", "LINKSHIM_"];

/// Proxy variables, denied whatever their case (`http_proxy` is the one
/// most clients read).
pub const DENIED_ANY_CASE: &[&str] = &[
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "FTP_PROXY",
    "NO_PROXY",
    "ALL_PROXY",
];

/// The suffixes every link of a family may produce after `<P>_`, whatever
/// its target: what the alias alone decides.
pub const FIXED_SUFFIXES: &[&str] = &[
    "NAME", "PORT", "PORTS", "URL", "URLS", "SCHEME", "HOST", "PATH", "USERNAME", "PASSWORD",
];

/// Why `key` may not be generated, when it may not.
pub fn denied(key: &str) -> Option<&'static str> {
    if let Some(p) = DENIED_PREFIXES.iter().find(|p| key.starts_with(*p)) {
        return Some(match *p {
            "LD_" => "the dynamic loader reads LD_*",
            "MALLOC_" => "the C library reads MALLOC_*",
            _ => "LINKSHIM_* is linkshim's own",
        });
    }
    if DENIED.contains(&key) {
        return Some("it is a well-known variable a program or library reads");
    }
    if DENIED_ANY_CASE.iter().any(|d| d.eq_ignore_ascii_case(key)) {
        return Some("it is a proxy variable");
    }
    None
}

/// The first key the variable prefix `prefix` gives every link, whatever
/// its target, that [`denied`] refuses, with the reason.
pub fn denied_for_prefix(prefix: &str) -> Option<(String, &'static str)> {
    let stem = format!("{prefix}_");
    if let Some(why) = denied(&stem) {
        return Some((format!("{stem}*"), why));
    }
    FIXED_SUFFIXES.iter().find_map(|s| {
        let key = format!("{prefix}_{s}");
        denied(&key).map(|why| (key, why))
    })
}

/// Why `key` cannot name a variable, when it cannot: empty, or holding
/// `=`, NUL or another control character.
pub fn check_key(key: &str) -> Result<(), &'static str> {
    if key.is_empty() {
        return Err("it is empty");
    }
    if key.contains('=') {
        return Err("it holds '='");
    }
    if key.chars().any(char::is_control) {
        return Err("it holds a NUL, a newline or another control character");
    }
    Ok(())
}

/// Why `KEY=VALUE` cannot be passed to a process, when it cannot: a bad
/// key, or a NUL in the value (runc refuses it, crun cuts the value there).
pub fn check_pair(key: &str, value: &str) -> Result<(), &'static str> {
    check_key(key)?;
    if value.contains('\0') {
        return Err("its value holds a NUL byte");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deny_table() {
        for (key, denied_) in [
            ("LD_LIBRARY_PATH", true),
            ("LD_PRELOAD", true),
            ("MALLOC_CHECK_", true),
            ("LINKSHIM_NAME", true),
            ("NODE_PATH", true),
            ("DOCKER_HOST", true),
            ("GEM_PATH", true),
            ("http_proxy", true),
            ("Https_Proxy", true),
            ("PATH", true),
            ("DOCKER_PORT", false),
            ("NODE_URL", false),
            ("DB_PORT", false),
            ("HOLD_PATH", false),
            ("DB_ENV_LD_PRELOAD", false),
            ("path", false),
        ] {
            assert_eq!(denied(key).is_some(), denied_, "{key}");
        }
    }

    #[test]
    fn prefixes_the_alias_alone_makes_unsafe() {
        for (prefix, want) in [
            ("NODE", Some("NODE_PATH")),
            ("DOCKER", Some("DOCKER_HOST")),
            ("LD_LIBRARY", Some("LD_LIBRARY_*")),
            ("LD", Some("LD_*")),
            ("MALLOC", Some("MALLOC_*")),
            ("GEM", Some("GEM_PATH")),
            ("DOCKER_CERT", Some("DOCKER_CERT_PATH")),
            ("DB", None),
            ("WEB_1", None),
            ("NODES", None),
        ] {
            assert_eq!(
                denied_for_prefix(prefix).map(|(k, _)| k).as_deref(),
                want,
                "{prefix}"
            );
        }
    }

    #[test]
    fn keys_and_values() {
        assert!(check_pair("A", "x=y").is_ok());
        assert!(check_pair("a.b-c", "").is_ok());
        for (k, v) in [
            ("", "x"),
            ("A=B", "x"),
            ("A\nB", "x"),
            ("A\0", "x"),
            ("A", "a\0b"),
        ] {
            assert!(check_pair(k, v).is_err(), "{k:?}={v:?}");
        }
    }
}
