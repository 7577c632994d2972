//! Fuzz the annotation parsers: names, links, expose, URL templates, and a
//! whole request made of `key=value` lines.

#![no_main]

use std::collections::BTreeMap;

use libfuzzer_sys::fuzz_target;
use linkshim::links::annotation::{self, Name};
use linkshim::model::url::{self, Template};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(name) = Name::parse(annotation::NAME, text) {
        // A valid name is one hosts-file and env-key token.
        assert!(!name.as_str().contains(char::is_whitespace), "{name:?}");
    }
    if let Ok(links) = annotation::parse_links(text) {
        for l in &links {
            // Printed links parse back to themselves.
            let again = annotation::parse_links(&l.to_string()).expect("a printed link parses");
            assert_eq!(again.len(), 1, "{l}");
            assert_eq!(again[0].to_string(), l.to_string());
        }
    }
    let _ = annotation::parse_expose(text);
    if let Ok(t) = Template::parse(text) {
        let filled = t.fill(Some("10.0.0.2".parse().unwrap()), Some(5432));
        let _ = url::parts(&filled);
    }
    let annotations: BTreeMap<String, String> = text
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (format!("{}{k}", annotation::PREFIX), v.to_string()))
        .collect();
    let _ = annotation::parse_request(&annotations, Some("host"));
});
