//! The `poststart` stage: register the container, with the addresses read
//! from its network namespace. Registering again is harmless.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context as _, bail};
use log::{debug, warn};

use crate::links::annotation;
use crate::model::ContainerId;
use crate::model::share::{self, Policy};
use crate::modify;
use crate::netns;
use crate::oci::{config::Config, state::State};
use crate::privilege;
use crate::registry::{self, Record};

/// Run the poststart stage on the state read from stdin; `policy` is the
/// host's `share_env`.
pub fn run(state_dir: &Path, persist_dir: &Path, policy: Policy) -> anyhow::Result<()> {
    let state =
        State::parse(&super::read_stdin()?).context("reading the container state from stdin")?;
    register(state_dir, persist_dir, policy, &state)
}

/// Register a container whose runtime is still running it, unless its
/// process has exited already (then nothing: whoever sees it out cleans
/// up). A registration that fails because it exited meanwhile (its network
/// namespace went with it) is no error.
pub fn register_unless_gone(
    state_dir: &Path,
    persist_dir: &Path,
    policy: Policy,
    state: &State,
    config: &Config,
) -> anyhow::Result<()> {
    if gone(state) {
        debug!("container {}: exited before it was registered", state.id);
        return Ok(());
    }
    match register_as(state_dir, persist_dir, policy, state, config) {
        Err(e) if exits_soon(state) => {
            debug!(
                "container {}: exited while being registered ({e:#})",
                state.id
            );
            Ok(())
        }
        other => other,
    }
}

/// Whether the process of `state` has exited, or does within 100 ms: one
/// on its way out has lost its namespaces before it is a zombie. Only for
/// a helper, off the start's path.
fn exits_soon(state: &State) -> bool {
    let exited = crate::links::wait::until_in(
        None,
        Duration::from_millis(100),
        Duration::from_millis(5),
        || Ok::<_, std::convert::Infallible>(gone(state).then_some(())),
    );
    matches!(exited, Ok(Some(())))
}

/// Whether the process of `state` has exited.
fn gone(state: &State) -> bool {
    state
        .pid
        .is_some_and(|pid| registry::pid_start_time(pid).is_none())
}

/// Register a container whose runtime is still running it (the wrapper's
/// foreground `run`) with its config as prepared, as
/// [`register_unless_gone`]; then, when its process has exited by now,
/// unregister it as its poststop does: that poststop may have run before
/// this registration and found nothing to remove.
pub fn register_racing_stop(
    state_dir: &Path,
    persist_dir: &Path,
    policy: Policy,
    state: &State,
    config: &Config,
) -> anyhow::Result<()> {
    register_unless_gone(state_dir, persist_dir, policy, state, config)?;
    if gone(state) {
        let token = config.annotations().get(modify::TOKEN).cloned();
        debug!("container {}: exited while being registered", state.id);
        super::poststop::stopped(state_dir, persist_dir, token.as_deref(), state)?;
    }
    Ok(())
}

/// Register the container `state` describes (its process running or, for
/// the wrapper's `create`, created), then refresh its linkers' hosts files.
/// The calling thread ends with no capability left.
pub fn register(
    state_dir: &Path,
    persist_dir: &Path,
    policy: Policy,
    state: &State,
) -> anyhow::Result<()> {
    // Checked before anything is read, stored or rendered: the id's short
    // form goes into other containers' hosts files.
    ContainerId::parse(&state.id)?;
    let Some(bundle) = &state.bundle else {
        bail!("container {}: the state names no bundle", state.id);
    };
    let config = Config::read(&bundle.join("config.json"))
        .with_context(|| format!("container {}", state.id))?;
    register_as(state_dir, persist_dir, policy, state, &config)
}

/// [`register`] with the container's config as prepared (the wrapper's
/// own copy: its bundle may be another container's by the time a late
/// registration runs).
pub fn register_as(
    state_dir: &Path,
    persist_dir: &Path,
    policy: Policy,
    state: &State,
    config: &Config,
) -> anyhow::Result<()> {
    ContainerId::parse(&state.id)?;
    // A container whose process has already exited (a `true`) has
    // nothing to register: no address, nobody to link to it.
    let exited = state
        .pid
        .filter(|_| config.netns_path().is_none())
        .is_some_and(|pid| registry::pid_start_time(pid).is_none());
    if exited {
        debug!(
            "container {}: exited before poststart, not registered",
            state.id
        );
        return Ok(());
    }
    // Entering the container's network namespace (a pod member's is its
    // infra container's `/proc/PID/ns/net`): see `privilege::netns_caps`.
    privilege::keep_only(privilege::netns_caps(config.netns_path().as_deref()))?;
    let record = record_of(state, config, policy)?;
    privilege::drop_all()?;
    crate::state_dir::ensure(state_dir)?;
    let mut reg = registry::open(state_dir)?;
    let token = config
        .annotations()
        .get(modify::TOKEN)
        .filter(|t| crate::state_dir::is_token(t))
        .cloned();
    let stored = reg
        .register(&record, token.as_deref())
        .with_context(|| format!("container {:?} ({})", record.name.as_str(), state.id))?;
    debug!(
        "container {:?} (id {}): registered at {:?}, {} env keys, {} links",
        stored.name.as_str(),
        stored.id,
        stored.addrs,
        stored.env.len(),
        stored.links.len()
    );
    // Only where it can happen, so a start never reads the whole registry:
    // slirp4netns' network (10.0.2.0/24 unless configured otherwise).
    let slirp = |a: &IpAddr| matches!(a, IpAddr::V4(v4) if v4.octets()[..3] == [10, 0, 2]);
    if let Some(all) = stored
        .addrs
        .iter()
        .any(slirp)
        .then(|| reg.list().ok())
        .flatten()
    {
        for (other, ip) in same_address(&all, &stored) {
            warn!(
                "{}",
                same_address_warning(&stored.name.to_string(), &other.name.to_string(), ip)
            );
        }
    }
    // Its linkers' hosts files follow it; their failure must not stop it.
    for e in crate::refresh::linkers_of(state_dir, Some(persist_dir), &mut *reg, &stored) {
        warn!("hosts refresh: {e}");
    }
    Ok(())
}

/// The other registered containers that have one of `rec`'s addresses,
/// with that address. Rootless podman's slirp4netns gives every container
/// 10.0.2.100: a link from one to another would reach the linker itself.
pub fn same_address<'a>(all: &'a [Record], rec: &Record) -> Vec<(&'a Record, IpAddr)> {
    all.iter()
        .filter(|o| o.id != rec.id)
        .filter_map(|o| {
            o.addrs
                .iter()
                .find(|a| rec.addrs.contains(a))
                .map(|a| (o, *a))
        })
        .collect()
}

/// What to say when containers `a` and `b` share the address `ip`.
pub fn same_address_warning(a: &str, b: &str, ip: IpAddr) -> String {
    format!(
        "containers {a:?} and {b:?} have the same address {ip}: a link between them reaches the linker itself \
         (rootless podman's default network, slirp4netns, gives every container 10.0.2.100): \
         put both on a podman network (`podman network create NET`, then `podman run --network NET`)"
    )
}

/// The registry record of a started container: of its environment, only
/// what it shares under the host's `policy`.
pub fn record_of(state: &State, config: &Config, policy: Policy) -> anyhow::Result<Record> {
    let annotations = config.annotations();
    let fallback = crate::prepare::fallback_name(config, &annotations, Some(&state.id));
    let request = annotation::parse_request(&annotations, fallback.as_deref())
        .with_context(|| format!("container {}", state.id))?;
    let netns = match (config.netns_path(), state.pid) {
        (Some(p), _) => p,
        (None, Some(pid)) => PathBuf::from(format!("/proc/{pid}/ns/net")),
        (None, None) => bail!(
            "container {:?}: no network namespace path and no pid",
            request.name.as_str()
        ),
    };
    let nets = netns::addresses(&netns)
        .with_context(|| format!("container {:?}", request.name.as_str()))?;
    // Another container's hosts line may carry it: only a valid one is kept.
    let hostname = config
        .hostname()
        .filter(|h| crate::model::valid_hostname(h));
    let (env, shared) = share::shared(own_env(config), &request.share_env, policy, |k, why| {
        warn!(
            "container {:?}: variable {k:?} is not shared: {why}",
            request.name.as_str()
        )
    });
    Ok(Record {
        id: ContainerId::parse(&state.id)?,
        scope: request.scope,
        name: request.name,
        admits: request.admits,
        service: request.service,
        index: None,
        hostname,
        addrs: nets.iter().map(|n| n.ip).collect(),
        nets,
        host_net: config.host_network(),
        ports: request.expose,
        env,
        shared,
        links: request.links,
        url: request.url,
        publish: request.publish,
        via: None,
        pid: state.pid,
        pid_start: state.pid.and_then(registry::pid_start_time),
        boot_id: registry::boot_id(),
        created: registry::now(),
    })
}

/// The container's own configured environment, without what linkshim added
/// (which variables it shares is `model::share`'s to decide).
pub fn own_env(config: &Config) -> Vec<(String, String)> {
    let added: std::collections::HashSet<String> = modify::added_keys(config).into_iter().collect();
    config
        .env()
        .iter()
        .filter_map(|kv| kv.split_once('='))
        .filter(|(k, _)| !added.contains(*k))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Name;

    fn rec(id: &str, name: &str, addrs: &[&str]) -> Record {
        let mut r = Record::new(
            ContainerId::parse(id).unwrap(),
            Name::parse("t", name).unwrap(),
        );
        r.addrs = addrs.iter().map(|a| a.parse().unwrap()).collect();
        r
    }

    #[test]
    fn containers_with_one_address_are_found_and_named() {
        let a = rec("aaaa", "a", &["10.0.2.100"]);
        let all = vec![
            a.clone(),
            rec("bbbb", "b", &["10.0.2.100"]),
            rec("cccc", "c", &["10.89.0.3"]),
            rec("dddd", "d", &["10.89.0.4", "10.0.2.100"]),
        ];
        let found: Vec<(&str, String)> = same_address(&all, &a)
            .into_iter()
            .map(|(r, ip)| (r.id.as_str(), ip.to_string()))
            .collect();
        assert_eq!(
            found,
            [
                ("bbbb", "10.0.2.100".to_string()),
                ("dddd", "10.0.2.100".to_string())
            ]
        );
        let c = rec("cccc", "c", &["10.89.0.3"]);
        assert!(
            same_address(&all, &c).is_empty(),
            "its own record is no other"
        );
        let w = same_address_warning("a", "b", "10.0.2.100".parse().unwrap());
        assert!(w.contains("podman network create"), "{w}");
        assert!(w.contains("\"a\" and \"b\""), "{w}");
    }
}
