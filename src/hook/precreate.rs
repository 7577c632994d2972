//! podman's hooks.d `precreate` stage: the proposed config on stdin, the
//! config to use on stdout. Only JSON is ever printed on stdout, and only
//! once everything has succeeded.

use std::io::Write;
use std::path::Path;

use anyhow::Context as _;

use crate::model::share::Policy;
use crate::oci::config::Config;
use crate::prepare::{self, Context};

/// Run the precreate stage; `share_env` is the host's policy.
pub fn run(
    state_dir: &Path,
    persist_dir: &Path,
    exe: &Path,
    share_env: Policy,
) -> anyhow::Result<()> {
    let text = super::read_stdin().context("reading the config from stdin")?;
    let mut config = Config::parse(&text, Path::new("<stdin>"))?;
    // Where the linker stands on the network is read first, with only what
    // entering its network namespace needs; the registry and hosts files
    // are root's own: nothing after needs a capability.
    if let Some(path) = config.netns_path() {
        crate::privilege::keep_only(crate::privilege::netns_caps(Some(&path)))?;
    }
    let linker = prepare::vantage(&config, "<precreate>");
    crate::privilege::drop_all()?;
    let ctx = Context {
        linker: Some(&linker),
        state_dir,
        exe,
        bundle: None,
        id: None,
        persist_dir: Some(persist_dir),
        share_env,
    };
    let out = match prepare::prepare(&mut config, &ctx)? {
        prepare::Outcome::Untouched => text.into_bytes(),
        prepare::Outcome::Prepared { .. } => config.to_vec(),
    };
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(&out)
        .context("writing the config to stdout")?;
    stdout.flush().context("writing the config to stdout")?;
    Ok(())
}
