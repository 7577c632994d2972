//! Fuzz the wrapper's scan of a runtime's command line: NUL-separated
//! arguments, as the kernel hands them over.

#![no_main]

use libfuzzer_sys::fuzz_target;
use linkshim::oci::args;

fuzz_target!(|data: &[u8]| {
    let argv: Vec<String> = data
        .split(|b| *b == 0)
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect();
    if let Ok(inv) = args::scan(&argv) {
        // Everything found was given: the scan invents no argument.
        let given = |v: &str| argv.iter().any(|a| a.contains(v));
        if let Some(s) = &inv.subcommand {
            assert!(argv.contains(s), "{s:?}");
        }
        if let Some(id) = &inv.id {
            assert!(argv.contains(id), "{id:?}");
        }
        for p in [&inv.bundle, &inv.config, &inv.log, &inv.root]
            .into_iter()
            .flatten()
        {
            assert!(given(&p.to_string_lossy()), "{p:?}");
        }
    }
});
