//! Fuzz the engine behind precreate: config.json bytes in, the prepared
//! config out, against a private state dir holding one running target.
//! On error the config is unchanged; on success it is still JSON that
//! keeps every top-level field it had.

#![no_main]

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use linkshim::links::annotation::{Name, parse_expose};
use linkshim::model::Vantage;
use linkshim::model::share::Policy;
use linkshim::oci::config::Config;
use linkshim::prepare::{self, Context};
use linkshim::registry::{Record, Registry};

/// The state dir (kept for the whole run) with `db` registered.
fn state() -> &'static (tempfile::TempDir, PathBuf) {
    static STATE: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    STATE.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state");
        linkshim::state_dir::ensure(&state).unwrap();
        let rec = Record {
            addrs: vec!["10.0.0.2".parse().unwrap()],
            ports: parse_expose("5432 53/udp").unwrap(),
            env: vec![("PGUSER".into(), "app".into())],
            ..Record::new("c0ffee", Name::parse("fuzz", "db").unwrap())
                .owned_by(std::process::id() as i32)
        };
        Registry::open(&state)
            .unwrap()
            .register(&rec, None)
            .unwrap();
        (dir, state)
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(mut config) = Config::parse(text, Path::new("<fuzz>")) else {
        return;
    };
    let (dir, state) = state();
    let before = config.clone();
    let ctx = Context {
        state_dir: state,
        exe: Path::new("/usr/bin/linkshim"),
        bundle: None,
        id: None,
        persist_dir: Some(dir.path()),
        // The host policy that lets the most through.
        share_env: Policy::All,
        // No network namespace is read: the config names any path.
        linker: Some(&Vantage::default()),
    };
    match prepare::prepare(&mut config, &ctx) {
        Err(_) | Ok(prepare::Outcome::Untouched) => {
            assert!(config == before, "the config changed on error or untouched")
        }
        Ok(prepare::Outcome::Prepared { .. }) => {
            let out: serde_json::Map<String, serde_json::Value> =
                serde_json::from_slice(&config.to_vec())
                    .expect("prepared configs are JSON objects");
            let was: serde_json::Map<String, serde_json::Value> =
                serde_json::from_str(text).expect("it parsed");
            for k in was.keys() {
                assert!(out.contains_key(k), "field {k:?} kept");
            }
        }
    }
    // Keep the state dir small over a long run: hosts files are per call.
    if let Ok(entries) = std::fs::read_dir(linkshim::state_dir::hosts_dir(state)) {
        for e in entries.flatten() {
            let _ = std::fs::remove_file(e.path());
        }
    }
});
