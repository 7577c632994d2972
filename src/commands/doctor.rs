//! `linkshim doctor`: check the registry (who holds its lock, whether it
//! reads) and a container's links before it runs, one PASS/WARN/FAIL line
//! per check, as `convox doctor` did; with no container, the host too
//! ([`super::host`]).

use std::io::Write;
use std::path::Path;

use anyhow::Context as _;

use crate::links::annotation::{self, Family, LinkRequest, Name};
use crate::links::resolve::{self, Target};
use crate::oci::config::Config;
use crate::registry::{self, Record, Registry};

/// Check the registry's lock and, when neither `config` nor `links` is
/// given, its database; then the links named by `config` (a config.json
/// path, or `-` for stdin) or by `links` for a container called `name`.
/// Returns the number of failures.
pub fn run(
    state_dir: &Path,
    persist_dir: &Path,
    config: Option<&Path>,
    name: Option<&str>,
    links: Option<&str>,
    out: &mut dyn Write,
) -> anyhow::Result<usize> {
    let requests = match (config, links) {
        (Some(path), _) => {
            let config = if path == Path::new("-") {
                Config::parse(&crate::hook::read_stdin()?, Path::new("<stdin>"))?
            } else {
                Config::read(path)?
            };
            let annotations = config.annotations();
            let fallback = crate::prepare::fallback_name(&config, &annotations, None);
            let req = annotation::parse_request(&annotations, fallback.as_deref())?;
            Some((req.name, req.scope, req.links))
        }
        (None, Some(text)) => Some((
            Name::parse("--name", name.unwrap_or("doctor"))?,
            crate::model::default_scope(),
            annotation::parse_links(text)?,
        )),
        (None, None) => None,
    };
    let mut failures = 0;
    let mut line = |out: &mut dyn Write, verdict: &str, text: String| -> anyhow::Result<()> {
        if verdict == "FAIL" {
            failures += 1;
        }
        writeln!(out, "{verdict:<4}  {text}").context("writing the report")
    };
    let lock = Registry::lock_path(state_dir);
    match registry::holder_of(&lock) {
        Some(pid) => line(
            out,
            "WARN",
            format!(
                "registry lock {} is held by pid {pid} ({}): if it stays held, that process is stuck (starts fail after lock_timeout, stops give up); end it",
                lock.display(),
                command_of(pid)
            ),
        )?,
        None => line(
            out,
            "PASS",
            format!("registry lock {} is free", lock.display()),
        )?,
    }
    let Some((linker, scope, requests)) = requests else {
        if registry::exists(state_dir) {
            match registry::open(state_dir).and_then(|mut r| r.list()) {
                Ok(all) => line(
                    out,
                    "PASS",
                    format!("registry is readable ({} running containers)", all.len()),
                )?,
                Err(e) => line(out, "FAIL", format!("{e:#}"))?,
            }
        }
        // The host: the binary, the engines' configuration, the state dir.
        return Ok(failures + super::host::run(state_dir, out)?);
    };
    line(
        out,
        "PASS",
        format!(
            "annotations of \"{linker}\" are valid ({} links)",
            requests.len()
        ),
    )?;
    if super::existing_store(state_dir)?.is_none() {
        line(
            out,
            "WARN",
            format!(
                "no registry in {} yet: nothing has registered",
                state_dir.display()
            ),
        )?;
    }
    crate::state_dir::ensure(state_dir)?;
    let mut reg = registry::open(state_dir)?;
    let all = reg.list()?;
    for req in &requests {
        let what = format!("link {req}");
        match resolve::resolve(
            &mut *reg,
            &linker,
            &scope,
            std::slice::from_ref(req),
            Some(persist_dir),
        ) {
            Err(e @ resolve::Error::Missing { .. })
                if req.policy != crate::model::StartPolicy::Required =>
            {
                line(
                    out,
                    "WARN",
                    format!(
                        "{what}: {e} (it is ?{}: the container starts {})",
                        req.policy,
                        match req.policy {
                            crate::model::StartPolicy::Optional => "without it",
                            _ => "once it registers, or fails at the bound",
                        }
                    ),
                )?
            }
            Err(e) => line(out, "FAIL", format!("{what}: {e}"))?,
            Ok(found) => {
                for r in found {
                    check_target(out, &mut line, &what, req, &r.target, &all)?;
                }
            }
        }
    }
    Ok(failures)
}

/// A process's command line, for the operator to recognise it.
fn command_of(pid: i32) -> String {
    let raw = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let words: Vec<String> = raw
        .split(|b| *b == 0)
        .filter(|w| !w.is_empty())
        .map(|w| String::from_utf8_lossy(w).into_owned())
        .collect();
    if words.is_empty() {
        return "command unknown".into();
    }
    let text = words.join(" ");
    match text.char_indices().nth(120) {
        Some((at, _)) => format!("{}...", &text[..at]),
        None => text,
    }
}

type Line<'a> = dyn FnMut(&mut dyn Write, &str, String) -> anyhow::Result<()> + 'a;

fn check_target(
    out: &mut dyn Write,
    line: &mut Line<'_>,
    what: &str,
    req: &LinkRequest,
    target: &Target,
    all: &[Record],
) -> anyhow::Result<()> {
    let records: Vec<&Record> = match target {
        Target::Container(r) => {
            line(
                out,
                "PASS",
                format!("{what}: running container {} ({})", r.name, r.id.short()),
            )?;
            vec![r]
        }
        Target::Service { name, replicas } => {
            line(
                out,
                "PASS",
                format!(
                    "{what}: service {name} with {} live replicas",
                    replicas.len()
                ),
            )?;
            replicas.iter().collect()
        }
        Target::Resource { resource, record } => {
            line(
                out,
                "PASS",
                format!(
                    "{what}: resource {} at {}",
                    resource.name,
                    crate::logging::mask_passwords(&resource.url)
                ),
            )?;
            vec![record]
        }
    };
    for r in records {
        let who = if r.id.is_empty() {
            r.name.to_string()
        } else {
            format!("{} ({})", r.name, r.id.short())
        };
        match r.primary_ip() {
            Some(ip) => {
                line(out, "PASS", format!("{what}: {who} has address {ip}"))?;
                let shared = crate::hook::poststart::same_address(all, r);
                if let Some((other, ip)) = shared.first() {
                    let w = crate::hook::poststart::same_address_warning(
                        r.name.as_str(),
                        other.name.as_str(),
                        *ip,
                    );
                    line(out, "WARN", format!("{what}: {w}"))?;
                }
            }
            None => line(
                out,
                "FAIL",
                format!("{what}: {who} has no address: no hosts line, no port variables"),
            )?,
        }
        if r.ports.is_empty() {
            line(
                out,
                "WARN",
                format!(
                    "{what}: {who} exposes no ports: only {p}_NAME and {p}_ENV_* are set (add io.linkshim.expose)",
                    p = crate::model::prefix(req.alias.as_str())
                ),
            )?;
        } else {
            let ports: Vec<String> = r.ports.iter().map(ToString::to_string).collect();
            line(
                out,
                "PASS",
                format!("{what}: {who} exposes {}", ports.join(",")),
            )?;
        }
        if req.family == Family::Convox && r.url.is_none() && r.ports.is_empty() {
            line(
                out,
                "WARN",
                format!(
                    "{what}: {who} declares no io.linkshim.url and no port: {}_URL is bare",
                    crate::model::prefix(req.alias.as_str())
                ),
            )?;
        }
    }
    Ok(())
}
