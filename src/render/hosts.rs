//! Pure: resolved links -> /etc/hosts lines, inside a marked block.
//!
//! The linker's hosts file starts from what the engine would have mounted
//! (podman writes its own) or from the usual localhost lines, and gains one
//! block between `BEGIN` and `END` that linkshim alone owns. Rendering the
//! block again replaces it, so edits are idempotent.

use std::net::IpAddr;

pub const BEGIN: &str = "# BEGIN linkshim links";
pub const END: &str = "# END linkshim links";

/// The base of a hosts file when the engine mounts none.
pub fn default_base(hostname: Option<&str>) -> String {
    let mut s = String::from("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n");
    let valid = |h: &&str| crate::model::Name::parse("hostname", h).is_ok();
    if let Some(h) = hostname.filter(valid) {
        s.push_str(&format!("127.0.1.1\t{h}\n"));
    }
    s
}

/// `text` without linkshim's block, ending in a newline when not empty.
/// Every other line is kept byte for byte (a `\r` too), so stripping what
/// was stripped changes nothing.
pub fn strip_block(text: &str) -> String {
    let mut out = String::new();
    let mut inside = false;
    for line in text.split_inclusive('\n') {
        match line.trim_end() {
            BEGIN => inside = true,
            END if inside => inside = false,
            _ if !inside => out.push_str(line),
            _ => {}
        }
    }
    if !out.is_empty() && !out.ends_with('\n') {
        out.push('\n');
    }
    out
}

/// One hosts line: an address and the names it answers to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    pub ip: IpAddr,
    pub names: Vec<String>,
}

impl Line {
    fn render(&self) -> String {
        format!("{}\t{}", self.ip, self.names.join(" "))
    }
}

/// The name a hosts line gives a target after its alias, as Docker did:
/// its configured hostname (which Docker defaulted to the short id), else
/// its short id. A hostname that is no valid one (a record no linkshim
/// wrote) is not used.
pub fn host_name<'a>(id: &'a str, hostname: Option<&'a str>) -> &'a str {
    hostname
        .filter(|h| crate::model::valid_hostname(h))
        .unwrap_or_else(|| crate::model::short_id(id))
}

/// Docker's line for a link: `<ip>\t<alias> <host> <name>`, `host` being
/// the target's hostname or short id ([`host_name`]), a name left out when
/// it repeats an earlier one. One line for the first IPv4 address and one
/// for the first global IPv6 address.
pub fn link_lines(alias: &str, host: &str, name: &str, addrs: &[IpAddr]) -> Vec<Line> {
    let mut names = vec![alias.to_string()];
    if !host.is_empty() && host != alias {
        names.push(host.to_string());
    }
    if !names.iter().any(|n| n == name) {
        names.push(name.to_string());
    }
    let v4 = addrs.iter().find(|a| a.is_ipv4());
    let v6 = addrs.iter().find(|a| a.is_ipv6());
    [v4, v6]
        .into_iter()
        .flatten()
        .map(|ip| Line {
            ip: *ip,
            names: names.clone(),
        })
        .collect()
}

/// `base` (its old linkshim block removed) followed by a block of `lines`.
pub fn render(base: &str, lines: &[Line]) -> String {
    let mut out = strip_block(base);
    if lines.is_empty() {
        return out;
    }
    out.push_str(BEGIN);
    out.push('\n');
    for l in lines {
        out.push_str(&l.render());
        out.push('\n');
    }
    out.push_str(END);
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "330ef1855f7165c9ff8ace36d91382d88d54b581afe23684a73782590ab3dc59";

    #[test]
    fn the_host_name_is_the_hostname_else_the_short_id() {
        assert_eq!(host_name(ID, Some("fred")), "fred");
        assert_eq!(host_name(ID, None), "330ef1855f71");
        assert_eq!(host_name(ID, Some("")), "330ef1855f71");
        assert_eq!(
            host_name(ID, Some("x\n6.6.6.6 db")),
            "330ef1855f71",
            "a hostname that could break a line is not used"
        );
        assert_eq!(host_name("", None), "");
    }

    #[test]
    fn docker_line_format() {
        let lines = |alias, hostname, name, addrs: &[&str]| -> Vec<String> {
            let addrs: Vec<IpAddr> = addrs.iter().map(|a| a.parse().unwrap()).collect();
            link_lines(alias, host_name(ID, hostname), name, &addrs)
                .iter()
                .map(Line::render)
                .collect()
        };
        assert_eq!(
            lines("db", Some("fred"), "mysql_server", &["172.17.0.2"]),
            ["172.17.0.2\tdb fred mysql_server"],
            "Docker: alias, hostname, name"
        );
        assert_eq!(
            lines("fred", Some("fred"), "mysql_server", &["172.17.0.2"]),
            ["172.17.0.2\tfred mysql_server"]
        );
        assert_eq!(
            lines("db", Some("db1"), "db1", &["172.17.0.2"]),
            ["172.17.0.2\tdb db1"],
            "a name equal to the hostname once"
        );
        let cases: &[(&str, &str, &[&str], &[&str])] = &[
            (
                "db",
                "mysql_server",
                &["172.17.0.2"],
                &["172.17.0.2\tdb 330ef1855f71 mysql_server"],
            ),
            (
                "db",
                "db",
                &["172.17.0.2"],
                &["172.17.0.2\tdb 330ef1855f71"],
            ),
            (
                "db",
                "mysql",
                &["10.0.0.2", "fd00::2"],
                &[
                    "10.0.0.2\tdb 330ef1855f71 mysql",
                    "fd00::2\tdb 330ef1855f71 mysql",
                ],
            ),
            ("db", "mysql", &[], &[]),
            (
                "web-1",
                "330ef1855f71",
                &["10.0.0.3"],
                &["10.0.0.3\tweb-1 330ef1855f71"],
            ),
        ];
        for (alias, name, addrs, want) in cases {
            let addrs: Vec<IpAddr> = addrs.iter().map(|a| a.parse().unwrap()).collect();
            let got: Vec<String> = link_lines(alias, host_name(ID, None), name, &addrs)
                .iter()
                .map(Line::render)
                .collect();
            assert_eq!(&got, want, "{alias} -> {name}");
        }
    }

    #[test]
    fn block_is_replaced_not_stacked() {
        let base = "127.0.0.1\tlocalhost\n10.88.0.9\tme\n";
        let lines = link_lines(
            "db",
            host_name(ID, None),
            "mysql",
            &["10.0.0.2".parse().unwrap()],
        );
        let once = render(base, &lines);
        let twice = render(&once, &lines);
        assert_eq!(once, twice);
        assert!(once.starts_with(base));
        assert_eq!(once.matches(BEGIN).count(), 1);
        let none = render(&once, &[]);
        assert_eq!(none, base);
    }

    #[test]
    fn default_base_names_the_container() {
        let b = default_base(Some("webapp"));
        assert!(b.contains("127.0.0.1\tlocalhost\n"));
        assert!(b.contains("127.0.1.1\twebapp\n"));
        assert!(!default_base(None).contains("127.0.1.1"));
        assert!(
            !default_base(Some("x\n1.2.3.4 db")).contains("db"),
            "a bad hostname is left out"
        );
    }

    /// Found by the hosts fuzz target: a base ending in a lone `\r` lost
    /// it on the second render, so rendering was not idempotent.
    #[test]
    fn rendering_again_changes_nothing_whatever_the_line_endings() {
        let lines = link_lines("db", ID, "mysql_server", &["10.0.0.2".parse().unwrap()]);
        for base in [
            " c\r",
            "a\r\r\nb\n",
            "a\r\n# BEGIN linkshim links\r\nx\n# END linkshim links\r\nb",
            "",
            "\n\r",
        ] {
            let once = render(base, &lines);
            assert_eq!(render(&once, &lines), once, "{base:?}");
            assert_eq!(strip_block(&once), strip_block(base), "{base:?}");
            assert_eq!(
                strip_block(&strip_block(base)),
                strip_block(base),
                "{base:?}"
            );
        }
        assert_eq!(
            strip_block("a\r\nb"),
            "a\r\nb\n",
            "lines are kept as they are"
        );
    }
}
