//! `linkshim install ENGINE [--dry-run] [--uninstall]`: make the engine's
//! plan, print it as a diff, write it (unless a dry run), print what to do
//! next.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context as _;

use crate::cli::{Engine, Install};
use crate::install::{Target, containerd, crio, docker, podman};

pub fn run(args: &Install, out: &mut dyn Write) -> anyhow::Result<()> {
    let bin = match &args.bin {
        Some(b) => b.clone(),
        None => std::env::current_exe().context("cannot find linkshim's own path (pass --bin)")?,
    };
    let target = Target::new(&args.root, &bin)?;
    let config = |default: &str| {
        args.config
            .clone()
            .unwrap_or_else(|| PathBuf::from(default))
    };
    let plan = match args.engine {
        Engine::Podman => {
            let scope = if args.user || !nix::unistd::geteuid().is_root() {
                podman::Scope::current_user()?
            } else {
                podman::Scope::System
            };
            podman::plan(
                &target,
                &podman::Options {
                    scope,
                    named_runtime: args.named_runtime,
                    uninstall: args.uninstall,
                },
            )?
        }
        Engine::Containerd => containerd::plan(
            &target,
            &containerd::Options {
                config: config(containerd::CONFIG),
                uninstall: args.uninstall,
            },
        )?,
        Engine::Crio => crio::plan(
            &target,
            &crio::Options {
                dir: config(crio::DROP_IN_DIR),
                uninstall: args.uninstall,
            },
        )?,
        Engine::Docker => docker::plan(
            &target,
            &docker::Options {
                config: config(docker::DAEMON_JSON),
                uninstall: args.uninstall,
            },
        )?,
    };
    let engine = format!("{:?}", args.engine).to_lowercase();
    let done = if args.uninstall {
        "uninstalled"
    } else {
        "installed"
    };
    if plan.changes.is_empty() {
        writeln!(out, "{engine}: nothing to change (already {done})")?;
    } else {
        write!(out, "{}", plan.diff())?;
        if args.dry_run {
            writeln!(out, "{engine}: dry run, nothing written")?;
        } else {
            plan.apply(&args.root)?;
            writeln!(
                out,
                "{engine}: {done} ({} file(s) changed)",
                plan.changes.len()
            )?;
        }
    }
    for note in &plan.notes {
        writeln!(out, "note: {note}")?;
    }
    Ok(())
}
