//! End-to-end tests: linkshim with real runc, crun, podman and containerd
//! on this machine, one test binary (`cargo test --test e2e`, as root).
//!
//! Cases:
//! - `links::*`: one link scenario ([`links::scenario`]) on each engine:
//!   runc and crun through the wrapper, podman with the hooks.d file and
//!   with the wrapper as `--runtime`, containerd with `ctr run
//!   --runc-binary`; and a target run in the foreground through the
//!   wrapper (runc, crun), registered by the wrapper's helper;
//! - `bare_wrapper::*`: podman with a bare `linkshim-runtime` symlink and
//!   no config file, through a container's whole life;
//! - `install::*`: what `linkshim install containerd` writes, read back by
//!   containerd itself;
//! - `package::*`: the Debian package built, installed with `dpkg -i`,
//!   used by podman through its default hooks dirs, purged; it holds the
//!   machine alone ([`system_wide`]) from install to purge;
//! - `services::*`: service, URL and resource links, refresh of a running
//!   linker's hosts file, a linker in a user namespace (podman);
//! - `lifecycle::*`: a running linker through the wrapper on podman:
//!   `podman exec` gets the link variables; a linker started before its
//!   target, `?wait` and `?optional`; `linkshim link` and `unlink` on a
//!   running linker (hooks.d);
//! - `rootless::*`: two users made by the test, each with rootless podman
//!   and a private registry; links on a podman network, none across users;
//! - `parity::*`: what Docker's link tests expect (hostname in hosts
//!   lines, link by id prefix, port order, one alias per link), on podman;
//! - `pods::*`: `kube play` of two linked pods, members named by podman;
//! - `networks::*`: a target on two networks, on the host's network,
//!   and moved with `podman network connect`/`disconnect` (podman);
//! - `compose::*`: a Docker Compose file's `links:` and `expose:`
//!   through `linkshim compose` and podman-compose;
//! - `hostile::*`: a link into another scope without permission, and an
//!   id with a newline, refused on runc and crun through the wrapper;
//! - `graph::*`: `linkshim graph` and `inspect` of a running topology (podman);
//! - `hosts::*`: a link across two simulated hosts on a real etcd
//!   cluster (runc through the wrapper), with a member killed, a host
//!   rebooted and the whole cluster stopped;
//! - `harness::*`: smoke tests of the test kit itself.
//!
//! A case whose prerequisites (root, tools on PATH) are missing is reported
//! as ignored with the reason; with `LINKSHIM_E2E=required` (CI) it fails.
//! The usual test arguments work (`cargo test --test e2e -- links::`,
//! `--list`, `--test-threads N`). Each case prints `TIME <case>: <s>` to
//! stderr.

mod bare_wrapper;
mod compose;
mod graph;
mod harness;
mod hostile;
mod hosts;
mod install;
mod lifecycle;
mod links;
mod networks;
mod package;
mod parity;
mod pods;
mod rootless;
mod services;

use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Instant;

use libtest_mimic::{Arguments, Completion, Failed, Trial};
use testkit::{e2e_required, missing_prerequisites, timed};

use links::Engine;

/// One case: its name, the tools it needs, what it runs (panics on failure).
struct Case {
    name: &'static str,
    needs: &'static [&'static str],
    run: Box<dyn FnOnce() + Send>,
    /// It takes [`system_wide`] itself: it changes the machine (installs a
    /// package), so no other case may run meanwhile.
    system_wide: bool,
}

fn case(name: &'static str, needs: &'static [&'static str], run: fn()) -> Case {
    Case {
        name,
        needs,
        run: Box::new(run),
        system_wide: false,
    }
}

/// Every case runs under a shared hold of this lock, except one that
/// changes the machine, which takes it alone ([`system_wide`]).
static MACHINE: RwLock<()> = RwLock::new(());

/// The machine to this case alone, until the guard drops: for a case that
/// installs into the system (the package), after its own preparation.
pub fn system_wide() -> RwLockWriteGuard<'static, ()> {
    MACHINE.write().unwrap_or_else(|e| e.into_inner())
}

/// A shared hold of the machine: any number of ordinary cases at once.
fn shared() -> RwLockReadGuard<'static, ()> {
    MACHINE.read().unwrap_or_else(|e| e.into_inner())
}

fn cases() -> Vec<Case> {
    let mut v: Vec<Case> = Engine::ALL
        .into_iter()
        .map(|e| Case {
            name: e.case(),
            needs: e.needs(),
            run: Box::new(move || links::scenario(e)),
            system_wide: false,
        })
        .collect();
    for (name, runtime, needs) in [
        (
            "links::a_foreground_run_target_on_runc",
            "runc",
            &["runc", "ip"][..],
        ),
        (
            "links::a_foreground_run_target_on_crun",
            "crun",
            &["crun", "runc", "ip"][..],
        ),
    ] {
        v.push(Case {
            name,
            needs,
            run: Box::new(move || links::foreground_target(runtime)),
            system_wide: false,
        });
    }
    let podman = &["podman"];
    v.push(Case {
        system_wide: true,
        ..case(
            "package::deb_links_two_containers_with_podmans_default_hooks_and_purges_clean",
            &[
                "cargo",
                "cargo-deb",
                "dpkg",
                "dpkg-query",
                "apt-get",
                "man",
                "podman",
                "crun",
            ],
            package::deb_links_two_containers_with_podmans_default_hooks_and_purges_clean,
        )
    });
    v.extend([
        case(
            "install::containerd_reads_what_install_wrote",
            &["containerd"],
            install::containerd_reads_what_install_wrote,
        ),
        case(
            "package::rpm_holds_what_the_deb_holds",
            &["cargo", "rpmbuild", "rpm"],
            package::rpm_holds_what_the_deb_holds,
        ),
        case(
            "bare_wrapper::podman_with_a_bare_symlink_runs_stops_restarts_and_removes",
            &["podman", "runc"],
            bare_wrapper::podman_with_a_bare_symlink_runs_stops_restarts_and_removes,
        ),
        case(
            "services::three_replicas_of_a_service_and_a_proxy",
            podman,
            services::three_replicas_of_a_service_and_a_proxy,
        ),
        case(
            "services::a_url_target_and_a_resource_linked_from_one_container",
            podman,
            services::a_url_target_and_a_resource_linked_from_one_container,
        ),
        case(
            "services::a_linkers_hosts_file_follows_its_targets",
            podman,
            services::a_linkers_hosts_file_follows_its_targets,
        ),
        case(
            "services::a_linker_in_a_user_namespace_gets_its_hosts_file",
            podman,
            services::a_linker_in_a_user_namespace_gets_its_hosts_file,
        ),
        case(
            "lifecycle::exec_in_a_linker_sees_its_link_variables",
            &["podman", "crun"],
            lifecycle::exec_in_a_linker_sees_its_link_variables,
        ),
        case(
            "lifecycle::a_linker_started_first_waits_for_its_target_or_starts_without_it",
            &["podman"],
            lifecycle::a_linker_started_first_waits_for_its_target_or_starts_without_it,
        ),
        case(
            "lifecycle::link_and_unlink_change_a_running_linkers_hosts_file",
            &["podman"],
            lifecycle::link_and_unlink_change_a_running_linkers_hosts_file,
        ),
        case(
            "rootless::two_users_with_private_registries_link_on_a_user_network",
            &["podman", "useradd", "runuser", "newuidmap", "slirp4netns"],
            rootless::two_users_with_private_registries_link_on_a_user_network,
        ),
        case(
            "parity::hostname_id_prefix_and_port_order",
            podman,
            parity::hostname_id_prefix_and_port_order,
        ),
        case(
            "pods::kube_play_two_pods_linked_by_their_members_names",
            &["podman", "tar"],
            pods::kube_play_two_pods_linked_by_their_members_names,
        ),
        case(
            "networks::the_shared_network_host_networking_and_network_connect",
            podman,
            networks::the_shared_network_host_networking_and_network_connect,
        ),
        case(
            "compose::links_and_expose_of_a_compose_file_on_podman_compose",
            &["podman", "podman-compose", "tar"],
            compose::links_and_expose_of_a_compose_file_on_podman_compose,
        ),
        case(
            "hostile::a_cross_scope_link_is_refused_on_runc",
            &["runc", "ip"],
            hostile::a_cross_scope_link_is_refused_on_runc,
        ),
        case(
            "hostile::an_id_with_a_newline_is_refused_on_crun",
            &["crun", "runc"],
            hostile::an_id_with_a_newline_is_refused_on_crun,
        ),
        case(
            "hosts::a_link_across_two_hosts_on_etcd",
            &["runc", "ip", "iptables", "etcd", "etcdctl"],
            hosts::a_link_across_two_hosts_on_etcd,
        ),
        case(
            "graph::a_running_topology_with_a_broken_link",
            podman,
            graph::a_running_topology_with_a_broken_link,
        ),
        case(
            "harness::podman_runs_busybox",
            podman,
            harness::podman_runs_busybox,
        ),
        case(
            "harness::podman_two_containers_http_by_ip",
            podman,
            harness::podman_two_containers_http_by_ip,
        ),
        case(
            "harness::runc_netns_hosts_alias",
            &["runc", "ip"],
            harness::runc_netns_hosts_alias,
        ),
        case(
            "harness::crun_netns_hosts_alias",
            &["crun", "runc", "ip"],
            harness::crun_netns_hosts_alias,
        ),
        case(
            "harness::containerd_runs_busybox",
            &["containerd", "ctr", "podman", "tar"],
            harness::containerd_runs_busybox,
        ),
    ]);
    v
}

/// The case as a trial: ignored with the reason when a prerequisite is
/// missing (a failure under `LINKSHIM_E2E=required`), else run and timed.
fn trial(c: Case) -> Trial {
    Trial::ignorable_test(c.name, move || {
        let missing = missing_prerequisites(c.needs);
        if !missing.is_empty() {
            let reason = format!("missing {}", missing.join(", "));
            if e2e_required() {
                return Err(Failed::from(format!("LINKSHIM_E2E=required but {reason}")));
            }
            return Ok(Completion::ignored_with(reason));
        }
        let _shared = (!c.system_wide).then(shared);
        let start = Instant::now();
        (c.run)();
        timed(c.name, start);
        Ok(Completion::Completed)
    })
}

fn main() {
    testkit::set_linkshim_bin(env!("CARGO_BIN_EXE_linkshim"));
    let args = Arguments::from_args();
    libtest_mimic::run(&args, cases().into_iter().map(trial).collect()).exit();
}
