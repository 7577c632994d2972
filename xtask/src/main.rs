//! Build steps of linkshim's packages, from its own command line (clap):
//!
//! ```sh
//! cargo run -p xtask -- assets target/assets
//! ```
//!
//! writes `man/*.1`, one page per command and subcommand (`linkshim.1`,
//! `linkshim-ls.1`, `linkshim-resource-add.1`, ...), and `completions/`
//! for bash (`linkshim.bash`), zsh (`_linkshim`) and fish
//! (`linkshim.fish`). The Debian package (cargo-deb metadata in
//! Cargo.toml) and the RPM spec (`packaging/rpm/linkshim.spec`) install
//! them from there.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use clap::CommandFactory as _;
use clap_complete::Shell;
use linkshim::cli::Cli;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        ["assets", out] => assets(Path::new(out)),
        _ => bail!("usage: cargo run -p xtask -- assets OUT-DIR"),
    }
}

/// Man pages and completions under `out` (emptied first, so a removed
/// subcommand leaves no stale page behind).
fn assets(out: &Path) -> anyhow::Result<()> {
    let man = out.join("man");
    let completions = out.join("completions");
    for dir in [&man, &completions] {
        if dir.exists() {
            fs::remove_dir_all(dir).with_context(|| format!("{}", dir.display()))?;
        }
        fs::create_dir_all(dir).with_context(|| format!("{}", dir.display()))?;
    }
    let mut cli = Cli::command().disable_help_subcommand(true);
    cli.build();
    man_pages(&cli, &man).with_context(|| format!("man pages in {}", man.display()))?;
    let mut written: Vec<PathBuf> = Vec::new();
    for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
        let path = clap_complete::generate_to(shell, &mut Cli::command(), "linkshim", &completions)
            .with_context(|| format!("{shell} completions in {}", completions.display()))?;
        written.push(path);
    }
    let mut pages: Vec<_> = fs::read_dir(&man)?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()?;
    pages.sort();
    written.extend(pages);
    for path in written {
        println!("{}", path.display());
    }
    Ok(())
}

/// One page for `cmd` and one for each of its subcommands, all marked with
/// linkshim's version in the footer.
fn man_pages(cmd: &clap::Command, out: &Path) -> std::io::Result<()> {
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        man_pages(sub, out)?;
    }
    clap_mangen::Man::new(cmd.clone())
        .source(format!("linkshim {}", version()))
        .manual("linkshim manual")
        .generate_to(out)?;
    Ok(())
}

/// linkshim's version, without the commit `--version` adds.
fn version() -> &'static str {
    let v = linkshim::cli::VERSION;
    v.split_once(' ').map_or(v, |(version, _)| version)
}
