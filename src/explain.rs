//! What linkshim would do to a config, without doing it: prepare in its
//! dry-run mode (`prepare::Mode::DryRun`), then a line per resolved link
//! (target, address, ports, family), the hosts file it would mount, and a
//! unified diff of config.json (env, mount, hooks, annotations). Nothing
//! is written: no registry change, no reservation, no hosts file.
//!
//! Env values are masked unless asked for, but for the variables linkshim
//! generates that carry no secret (addresses, ports, names): a target's
//! cascaded env (`<P>_ENV_*`), `<P>_PASSWORD`, the container's own
//! variables and every URL's password are hidden.

use std::collections::HashSet;

use serde_json::Value;
use similar::TextDiff;

use crate::links::resolve::{Resolved, Target};
use crate::logging::mask_passwords;
use crate::mask::MASK;
use crate::model::Family;
use crate::oci::config::Config;
use crate::prepare::{self, Context, Mode, Plan};
use crate::registry::Record;

/// Explain what prepare would do to `config` in `ctx`, as text.
pub fn explain(
    config: &Config,
    ctx: &Context<'_>,
    show_env: bool,
) -> Result<String, prepare::Error> {
    let mut after = config.clone();
    let Some(plan) = prepare::prepare_in(&mut after, ctx, Mode::DryRun)? else {
        return Ok(
            "no io.linkshim.* annotation: linkshim leaves this config as it is\n".to_string(),
        );
    };
    let mut out = format!(
        "container {}: {} link(s), hosts token {}\n",
        plan.name,
        plan.links.len(),
        plan.token
    );
    for link in &plan.links {
        out.push_str(&link_line(link));
        out.push('\n');
    }
    if let Some((path, text)) = &plan.hosts {
        out.push_str(&format!(
            "\nhosts file {} (not written), mounted read-only at /etc/hosts:\n",
            path.display()
        ));
        for l in text.lines() {
            out.push_str(&format!("    {l}\n"));
        }
    }
    let (mut before_v, mut after_v) = (config.to_value(), after.to_value());
    if !show_env {
        let shown = shown_keys(&plan);
        mask_env(&mut before_v, &shown);
        mask_env(&mut after_v, &shown);
    }
    let pretty = |v: &Value| serde_json::to_string_pretty(v).unwrap_or_default() + "\n";
    let (a, b) = (pretty(&before_v), pretty(&after_v));
    let diff = TextDiff::from_lines(&a, &b)
        .unified_diff()
        .context_radius(3)
        .header("config.json", "config.json (as linkshim would leave it)")
        .to_string();
    out.push('\n');
    out.push_str(&diff);
    if !show_env {
        out = mask_passwords(&out);
    }
    Ok(out)
}

/// One line for a resolved link: target, address, ports, family.
fn link_line(link: &Resolved) -> String {
    let family = match link.request.family {
        Family::Docker => "docker variables",
        Family::Convox => "convox variables",
    };
    let at = |r: &Record| {
        let addr = r
            .primary_ip()
            .map_or("no address".to_string(), |ip| ip.to_string());
        let ports: Vec<String> = r.ports.iter().map(ToString::to_string).collect();
        let ports = if ports.is_empty() {
            "no ports".to_string()
        } else {
            ports.join(",")
        };
        format!("{addr} {ports}")
    };
    let target = match &link.target {
        Target::Container(r) => format!("container {} ({}) at {}", r.name, r.id.short(), at(r)),
        Target::Service { name, replicas } => format!(
            "service {name}, {} replica(s): {}",
            replicas.len(),
            replicas
                .iter()
                .map(|r| format!("{name}-{} {} at {}", r.index.unwrap_or(0), r.name, at(r)))
                .collect::<Vec<_>>()
                .join("; ")
        ),
        Target::Resource { resource, record } => {
            format!("resource {} at {}", resource.name, at(record))
        }
    };
    format!(
        "link {} as {}: {target}, {family}",
        link.request.target, link.request.alias
    )
}

/// The generated variables whose values are shown: all but cascaded env
/// and passwords (URLs are shown with their password masked).
fn shown_keys(plan: &Plan) -> HashSet<String> {
    plan.env
        .iter()
        .map(|(k, _)| k)
        .filter(|k| !k.contains("_ENV_") && !k.ends_with("_PASSWORD"))
        .cloned()
        .collect()
}

/// Replace the value of every `process.env` entry whose key is not in
/// `shown` with [`MASK`].
fn mask_env(config: &mut Value, shown: &HashSet<String>) {
    let Some(env) = config
        .pointer_mut("/process/env")
        .and_then(Value::as_array_mut)
    else {
        return;
    };
    for item in env {
        if let Some(kv) = item.as_str()
            && let Some((k, _)) = kv.split_once('=')
            && !shown.contains(k)
        {
            *item = Value::String(format!("{k}={MASK}"));
        }
    }
}
