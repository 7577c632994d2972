//! `linkshim explain --config FILE|- | --bundle DIR`: what linkshim would
//! do to a config, without doing it (see `linkshim::explain`).

use std::io::Write;
use std::path::Path;

use crate::model::share::Policy;
use crate::oci::config::Config;
use crate::prepare::Context;

/// Print the explanation of the config at `config` (`-`: stdin) or in
/// `bundle` to `out`.
#[allow(clippy::too_many_arguments)]
pub fn run(
    state_dir: &Path,
    persist_dir: &Path,
    exe: &Path,
    share_env: Policy,
    config: Option<&Path>,
    bundle: Option<&Path>,
    show_env: bool,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let parsed = match (config, bundle) {
        (Some(p), _) if p == Path::new("-") => {
            Config::parse(&crate::hook::read_stdin()?, Path::new("<stdin>"))?
        }
        (Some(p), _) => Config::read(p)?,
        (None, Some(b)) => Config::read(&b.join("config.json"))?,
        (None, None) => {
            anyhow::bail!("name a config: --config FILE (or - for stdin) or --bundle DIR")
        }
    };
    let ctx = Context {
        state_dir,
        exe,
        bundle,
        id: None,
        persist_dir: Some(persist_dir),
        share_env,
        linker: None,
    };
    out.write_all(crate::explain::explain(&parsed, &ctx, show_env)?.as_bytes())?;
    Ok(())
}
