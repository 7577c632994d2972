//! Fuzz the hosts renderer: any base file, lines for valid names and ids.
//! Rendering keeps the base (without linkshim's block) and is idempotent.

#![no_main]

use libfuzzer_sys::fuzz_target;
use linkshim::links::annotation::Name;
use linkshim::render::hosts;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    // The first line names the links: `alias id name` triples; the rest is the base.
    let (head, base) = text.split_once('\n').unwrap_or((&text, ""));
    let words: Vec<&str> = head.split(' ').collect();
    let mut lines = Vec::new();
    for (n, w) in words.chunks(3).enumerate() {
        let [alias, id, name] = w else { continue };
        // Ids as runc accepts them; names as linkshim validates them.
        let id_ok = !id.is_empty()
            && id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "_.+-".contains(c));
        if !id_ok || Name::parse("alias", alias).is_err() || Name::parse("name", name).is_err() {
            continue;
        }
        let addrs = [
            std::net::IpAddr::from([10, 0, 0, n as u8]),
            "fd00::1".parse().unwrap(),
        ];
        lines.extend(hosts::link_lines(alias, hosts::host_name(id, None), name, &addrs));
    }
    let once = hosts::render(base, &lines);
    assert_eq!(
        hosts::strip_block(&once),
        hosts::strip_block(base),
        "the base is kept"
    );
    assert_eq!(
        hosts::render(&once, &lines),
        once,
        "rendering again changes nothing"
    );
    for l in &lines {
        let rendered = format!("{}\t{}\n", l.ip, l.names.join(" "));
        assert!(once.contains(&rendered), "{rendered:?} in {once:?}");
    }
});
