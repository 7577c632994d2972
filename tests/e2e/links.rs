//! The link scenario, one for every engine linkshim works with.
//!
//! A target `mysql_server` (expose `3306 33060/udp 7000-7002`, its own env
//! `MYSQL_ROOT_PASSWORD` and `DSN`) serving httpd on 3306; a linker `webapp`
//! with `io.linkshim.links=mysql_server:db` that prints its env and
//! /etc/hosts and fetches the target's page through the alias `db`; a
//! linker `orphan` whose target does not exist; then the target stops and
//! the registry is empty. What differs between engines (how a container
//! starts and stops, its id, the base of its hosts file, where the error of
//! a failed start shows) lives behind [`Rig`].

use std::ffi::OsStr;
use std::fs;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use serde_json::{Value, json};
use testkit::*;

const T: Duration = Duration::from_secs(30);

/// The target's own configured env.
const OWN_ENV: &[(&str, &str)] = &[("MYSQL_ROOT_PASSWORD", "secret"), ("DSN", "user=a;pw=b")];

/// What the failed start of the orphan must say, in linkshim.log and, where
/// the engine shows it, on stderr.
const ORPHAN_REASON: [&str; 3] = [
    "link \"nosuch:db\"",
    "container \"orphan\"",
    "could not get container for nosuch",
];

/// Each way a container reaches linkshim.
#[derive(Clone, Copy, Debug)]
pub enum Engine {
    /// `linkshim runtime --runtime runc`, on bundles in test network namespaces.
    RuncWrapper,
    /// The same with crun.
    CrunWrapper,
    /// podman with the package's hooks.d file (precreate stage).
    PodmanHooksD,
    /// podman with the wrapper as `--runtime` (over crun).
    PodmanRuntime,
    /// A private containerd, `ctr run --runc-binary linkshim-runtime`.
    Containerd,
}

impl Engine {
    pub const ALL: [Engine; 5] = [
        Engine::RuncWrapper,
        Engine::CrunWrapper,
        Engine::PodmanHooksD,
        Engine::PodmanRuntime,
        Engine::Containerd,
    ];

    /// The case's name in the test list.
    pub fn case(self) -> &'static str {
        match self {
            Engine::RuncWrapper => "links::runc_wrapper",
            Engine::CrunWrapper => "links::crun_wrapper",
            Engine::PodmanHooksD => "links::podman_hooks_d",
            Engine::PodmanRuntime => "links::podman_runtime_wrapper",
            Engine::Containerd => "links::containerd_wrapper",
        }
    }

    /// Tools the case needs on PATH (besides root).
    pub fn needs(self) -> &'static [&'static str] {
        match self {
            // runc makes the bundles (`runc spec`) for crun too.
            Engine::RuncWrapper => &["runc", "ip"],
            Engine::CrunWrapper => &["crun", "runc", "ip"],
            Engine::PodmanHooksD | Engine::PodmanRuntime => &["podman", "crun"],
            Engine::Containerd => &["containerd", "ctr", "runc", "podman", "tar", "ip"],
        }
    }

    /// The target's own env: [`OWN_ENV`], in its order in the record. podman
    /// orders `-e` variables its own way, so it gets only the first.
    fn own_env(self) -> &'static [(&'static str, &'static str)] {
        match self {
            Engine::PodmanHooksD | Engine::PodmanRuntime => &OWN_ENV[..1],
            _ => OWN_ENV,
        }
    }

    /// The target's `io.linkshim.expose`: both list syntaxes are covered.
    fn expose(self) -> String {
        match self {
            Engine::RuncWrapper | Engine::PodmanHooksD => TARGET_EXPOSE.to_string(),
            _ => TARGET_EXPOSE.replace(' ', ","),
        }
    }

    fn up(self, tmp: &Path, rootfs: &Path, state: &Path) -> Box<dyn Rig> {
        match self {
            Engine::RuncWrapper => Box::new(OciRig::new("runc", tmp, rootfs, state)),
            Engine::CrunWrapper => {
                prepare_cgroups();
                Box::new(OciRig::new("crun", tmp, rootfs, state))
            }
            Engine::PodmanHooksD => Box::new(PodmanRig::new(false, tmp, rootfs, state)),
            Engine::PodmanRuntime => Box::new(PodmanRig::new(true, tmp, rootfs, state)),
            Engine::Containerd => Box::new(ContainerdRig::new(tmp, rootfs, state)),
        }
    }
}

/// The hostname the runc, crun and podman targets are configured with.
const TARGET_HOSTNAME: &str = "mysql-host";

/// A started engine with linkshim in its path, and the checks only it can
/// make. Dropping it removes every container it started.
trait Rig {
    /// Starts the target in the background with `annotations`, `env` added
    /// to its process env, running `args`; checks what this engine promises
    /// about the start and returns the target's id and IPv4 address.
    fn start_target(
        &mut self,
        annotations: &[(&str, &str)],
        env: &[(&str, &str)],
        args: &[&str],
    ) -> (String, String);

    /// Runs a container called `name` in the foreground with `annotations`
    /// until it exits and is removed; returns its engine name and output.
    fn run_fg(
        &mut self,
        name: &str,
        annotations: &[(&str, &str)],
        args: &[&str],
    ) -> (String, Output);

    /// Checks the part of a linker's /etc/hosts the engine wrote itself.
    fn check_hosts_base(&self, hosts: &str, linker: &str);

    /// True when the engine shows a failed start's reason on its stderr.
    fn shows_failure_reason(&self) -> bool;

    /// Checks that the failed start of container `name` left nothing behind
    /// in the engine.
    fn check_failed_start(&self, name: &str);

    /// Stops (and where that is how it goes, deletes) the target `id`.
    /// Returns true when its record must be gone at once, false when the
    /// engine unregisters it a little later.
    fn stop_target(&mut self, id: &str) -> bool;

    /// The name a linker's hosts line gives target `id` after its alias:
    /// its configured hostname (Docker's `alias hostname name`), else its
    /// short id. The runc, crun and podman targets are started with the
    /// hostname [`TARGET_HOSTNAME`]; `ctr run` sets none.
    fn target_host(&self, id: &str) -> String {
        short_id(id).to_string()
    }

    /// What to show when something went wrong (engine logs).
    fn diagnostics(&self) -> String {
        String::new()
    }
}

/// The scenario on `engine`.
pub fn scenario(engine: Engine) {
    let tmp = tempfile::tempdir().unwrap();
    let rootfs = busybox_rootfs(tmp.path());
    let state = tmp.path().join("state");
    let mut rig = engine.up(tmp.path(), &rootfs, &state);

    // The target.
    let expose = engine.expose();
    let own_env = engine.own_env();
    let (id, ip) = rig.start_target(
        &[
            ("io.linkshim.name", "mysql_server"),
            ("io.linkshim.expose", &expose),
        ],
        own_env,
        &httpd("3306"),
    );
    let rec = ls_record(&state, "mysql_server").unwrap_or_else(|| {
        panic!(
            "target not registered once started: {:#?}\nlinkshim.log: {}\n{}",
            linkshim_ls(&state),
            linkshim_log(&state),
            rig.diagnostics()
        )
    });
    assert_target_record(&rec, "mysql_server", &id, &ip, own_env);

    // The linker.
    let (linker, out) = rig.run_fg(
        "webapp",
        &[
            ("io.linkshim.name", "webapp"),
            ("io.linkshim.links", "mysql_server:db"),
        ],
        &["sh", "-c", &linker_script("db", 3306)],
    );
    let seen = LinkerOutput::of_run(&out, &rig.diagnostics());
    let (want, ports) = docker_link_env("DB", "webapp", "db", &ip, own_env);
    seen.assert_link_env("DB", &want, &ports);
    seen.assert_hosts_line(&ip, &format!("db {} mysql_server", rig.target_host(&id)));
    rig.check_hosts_base(&seen.hosts, &linker);
    assert_eq!(seen.fetched, "linkshim-ok\n", "wget through the alias `db`");
    // The linker's hosts file goes when it stops (poststop).
    assert!(
        wait_until(Duration::from_secs(10), || hosts_files(&state).is_empty()),
        "hosts files left after the linker was removed: {:?}",
        hosts_files(&state)
    );

    // A link to a missing target fails the start and says why.
    let (orphan, out) = rig.run_fg(
        "orphan",
        &[
            ("io.linkshim.name", "orphan"),
            ("io.linkshim.links", "nosuch:db"),
        ],
        &["sh", "-c", "echo STARTED"],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && !stdout.contains("STARTED"),
        "a link to a missing target must fail the start: {}\nstdout: {stdout}\nstderr: {stderr}",
        out.status
    );
    let log = linkshim_log(&state);
    for n in ORPHAN_REASON {
        assert!(
            log.contains(n),
            "{n:?} not in {}:\n{log}",
            state.join("linkshim.log").display()
        );
        if rig.shows_failure_reason() {
            assert!(
                stderr.contains(n),
                "{n:?} not in the engine's stderr:\n{stderr}"
            );
        }
    }
    rig.check_failed_start(&orphan);
    assert!(
        ls_record(&state, "orphan").is_none(),
        "the orphan registered: {:#?}",
        linkshim_ls(&state)
    );

    // Stopping the target takes it out of the registry.
    let at_once = rig.stop_target(&id);
    let gone = || ls_record(&state, "mysql_server").is_none();
    assert!(
        if at_once {
            gone()
        } else {
            wait_until(Duration::from_secs(10), gone)
        },
        "stopped target still listed: {:#?}",
        linkshim_ls(&state)
    );
    assert_eq!(linkshim_ls(&state), Vec::<Value>::new());
    drop(rig);
}

// ---------------------------------------------------------------------------
// runc and crun through the wrapper
// ---------------------------------------------------------------------------

/// runc or crun called through `linkshim runtime`, on bundles whose
/// network namespaces the test makes: the target in one, linkers in another.
struct OciRig {
    /// Declared first: deleted before their network namespaces go.
    containers: Vec<OciContainer>,
    runtime: &'static str,
    real: PathBuf,
    tmp: PathBuf,
    rootfs: PathBuf,
    state: PathBuf,
    tgt_ns: NetNs,
    lnk_ns: NetNs,
    /// The bundle of each container run in the foreground, by name, with
    /// its config.json as it was before the run.
    bundles: Vec<(String, PathBuf, Vec<u8>)>,
}

impl OciRig {
    fn new(runtime: &'static str, tmp: &Path, rootfs: &Path, state: &Path) -> OciRig {
        OciRig {
            containers: Vec::new(),
            runtime,
            real: which(runtime).unwrap_or_else(|| panic!("{runtime} on PATH")),
            tmp: tmp.to_path_buf(),
            rootfs: rootfs.to_path_buf(),
            state: state.to_path_buf(),
            tgt_ns: NetNs::new("tgt"),
            lnk_ns: NetNs::new("lnk"),
            bundles: Vec::new(),
        }
    }

    /// Ids listed by `<runtime> list`.
    fn listed(&self) -> Vec<String> {
        run_ok(Command::new(&self.real).arg("list"), T)
            .lines()
            .skip(1)
            .filter_map(|l| l.split_whitespace().next().map(str::to_string))
            .collect()
    }

    fn bundle(&self, name: &str, args: &[&str], ann: &[(&str, &str)], ns: &NetNs) -> PathBuf {
        runc_bundle(
            &self.tmp.join(name),
            &self.rootfs,
            args,
            ann,
            Some(&ns.path()),
        )
    }
}

impl Rig for OciRig {
    fn start_target(
        &mut self,
        annotations: &[(&str, &str)],
        env: &[(&str, &str)],
        args: &[&str],
    ) -> (String, String) {
        let bundle = self.bundle("mysql", args, annotations, &self.tgt_ns);
        // Its env also holds what a runtime sets and no link passes on;
        // and fields linkshim does not know, which must survive its edit.
        let mut cfg = read_config(&bundle);
        let process_env = cfg["process"]["env"].as_array_mut().unwrap();
        for (k, v) in env {
            process_env.push(json!(format!("{k}={v}")));
        }
        for kv in ["HOME=/root", "HOSTNAME=mysql", "container=oci"] {
            process_env.push(json!(kv));
        }
        cfg["hostname"] = json!(TARGET_HOSTNAME);
        cfg["org.example.unknown"] = json!({"keep": [1, "two", {"three": null}]});
        cfg["process"]["x-unknown"] = json!("kept");
        cfg["linux"]["x-unknown"] = json!(true);
        write_config(&bundle, &cfg);
        let before = cfg;

        let tgt = OciContainer::wrapped(&self.state, &self.real, &short_unique_id());
        tgt.run_detached(&bundle);
        let id = tgt.id.clone();
        self.containers.push(tgt);
        assert!(id.len() < 12, "{id}: an id that hosts lines carry whole");

        // Its config.json was edited (hooks added) and kept everything else.
        let after = read_config(&bundle);
        assert_eq!(after["org.example.unknown"], before["org.example.unknown"]);
        assert_eq!(after["process"]["x-unknown"], "kept");
        assert_eq!(after["linux"]["x-unknown"], true);
        for key in ["ociVersion", "root", "mounts", "hostname"] {
            assert_eq!(after[key], before[key], "{key} changed");
        }
        for (k, v) in before["linux"].as_object().unwrap() {
            assert_eq!(&after["linux"][k], v, "linux.{k} changed");
        }
        let after_env = after["process"]["env"].as_array().unwrap();
        for kv in before["process"]["env"].as_array().unwrap() {
            assert!(after_env.contains(kv), "process.env lost {kv}");
        }
        // A `run` is registered by the wrapper itself (no `poststart`
        // process); it leaves the registry through its `poststop` hook.
        for (stage, want) in [("poststart", false), ("poststop", true)] {
            let hooks = after["hooks"][stage]
                .as_array()
                .map(Vec::as_slice)
                .unwrap_or_default();
            assert_eq!(
                hooks.iter().any(|h| h["path"] == json!(linkshim_bin())),
                want,
                "linkshim {stage} hook (wanted: {want}) in {:#}",
                after["hooks"]
            );
        }
        (id, self.tgt_ns.ipv4().to_string())
    }

    fn run_fg(
        &mut self,
        name: &str,
        annotations: &[(&str, &str)],
        args: &[&str],
    ) -> (String, Output) {
        let bundle = self.bundle(name, args, annotations, &self.lnk_ns);
        let before = fs::read(bundle.join("config.json")).unwrap();
        let c = OciContainer::wrapped(&self.state, &self.real, &short_unique_id());
        let out = c
            .run_fg(&bundle, T)
            .unwrap_or_else(|| panic!("{name} timed out"));
        let id = c.id.clone();
        self.bundles.push((id.clone(), bundle, before));
        self.containers.push(c);
        (id, out)
    }

    fn target_host(&self, _id: &str) -> String {
        TARGET_HOSTNAME.to_string()
    }

    fn check_hosts_base(&self, hosts: &str, _linker: &str) {
        assert!(
            hosts.lines().next() == Some("127.0.0.1\tlocalhost"),
            "hosts base:\n{hosts}"
        );
    }

    fn shows_failure_reason(&self) -> bool {
        true
    }

    fn check_failed_start(&self, id: &str) {
        let (_, bundle, before) = self
            .bundles
            .iter()
            .find(|(c, _, _)| c == id)
            .expect("a bundle run in the foreground");
        assert_eq!(
            &fs::read(bundle.join("config.json")).unwrap(),
            before,
            "config.json of a failed create changed"
        );
        assert!(
            !self.listed().contains(&id.to_string()),
            "{} knows the orphan: the runtime ran",
            self.runtime
        );
    }

    fn stop_target(&mut self, id: &str) -> bool {
        let real = self.real.clone();
        run_ok(Command::new(&real).args(["kill", id, "KILL"]), T);
        assert!(
            wait_until(Duration::from_secs(10), || {
                run_quiet(Command::new(&real).args(["delete", id]), T)
            }),
            "{} delete {id} did not succeed",
            self.runtime
        );
        assert!(!self.listed().contains(&id.to_string()));
        true
    }
}

// ---------------------------------------------------------------------------
// podman: hooks.d, or the wrapper as --runtime
// ---------------------------------------------------------------------------

/// A private podman, linkshim reached through the package's hooks.d file or
/// through the wrapper given as `--runtime`.
///
/// Why the wrapper is reached through a small script rather than the bare
/// `linkshim-runtime` symlink: podman (4.3) and conmon call the runtime with
/// an environment of their own (PATH, HOME, XDG_RUNTIME_DIR, CONTAINERS_CONF,
/// a few `_CONTAINERS_*`/`_OCI_*` variables), so neither LINKSHIM_STATE_DIR,
/// LINKSHIM_RUNTIME nor LINKSHIM_CONFIG set on the podman command reaches
/// it; only the machine-wide config file would, which a test must not
/// write. The script passes `--state-dir` and `--runtime` as flags.
struct PodmanRig {
    /// Declared first: dropped (its containers removed) before the podman.
    runtime: Option<PathBuf>,
    podman: Podman,
    rootfs: String,
    target: Option<String>,
}

impl PodmanRig {
    fn new(wrapper: bool, tmp: &Path, rootfs: &Path, state: &Path) -> PodmanRig {
        let podman = Podman::new();
        let runtime = if wrapper {
            Some(wrapper_script(tmp, state))
        } else {
            install_hooks_d(&podman.hooks_dir(), state);
            None
        };
        PodmanRig {
            runtime,
            podman,
            rootfs: rootfs.to_str().unwrap().to_string(),
            target: None,
        }
    }

    fn cmd(&self) -> Command {
        let mut c = self.podman.cmd();
        if let Some(r) = &self.runtime {
            c.arg("--runtime").arg(r);
        }
        c
    }

    /// `--annotation K=V` each. podman 4.3 splits `--annotation` values at
    /// commas unless the value is quoted as CSV: a value with a comma is.
    fn annotate(c: &mut Command, annotations: &[(&str, &str)]) {
        for (k, v) in annotations {
            let a = if v.contains(',') {
                format!("\"{k}={v}\"")
            } else {
                format!("{k}={v}")
            };
            c.arg("--annotation").arg(a);
        }
    }
}

/// `<dir>/linkshim-runtime`: a shell script running the wrapper with this
/// case's state dir and crun (podman's own default runtime here).
fn wrapper_script(dir: &Path, state: &Path) -> PathBuf {
    let crun = which("crun").expect("crun on PATH");
    let path = dir.join("linkshim-runtime");
    fs::write(
        &path,
        format!(
            "#!/bin/sh\nLINKSHIM_CONFIG={NO_CONFIG} exec {} --state-dir {} runtime --runtime {} -- \"$@\"\n",
            linkshim_bin().display(),
            state.display(),
            crun.display()
        ),
    )
    .unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
    path
}

impl Rig for PodmanRig {
    fn start_target(
        &mut self,
        annotations: &[(&str, &str)],
        env: &[(&str, &str)],
        args: &[&str],
    ) -> (String, String) {
        let name = unique_name("lsh-mysql");
        let mut c = self.cmd();
        c.args(["run", "-d", "--name", &name, "--hostname", TARGET_HOSTNAME]);
        Self::annotate(&mut c, annotations);
        for (k, v) in env {
            c.arg("-e").arg(format!("{k}={v}"));
        }
        c.args(["--rootfs", &self.rootfs]).args(args);
        let id = run_ok(&mut c, T).trim().to_string();
        assert!(
            id.len() == 64 && id.bytes().all(|b| b.is_ascii_hexdigit()),
            "podman run -d printed {id:?}"
        );
        let ip = run_ok(
            self.cmd()
                .args(["inspect", "-f", "{{.NetworkSettings.IPAddress}}", &name]),
            T,
        )
        .trim()
        .to_string();
        assert!(ip.starts_with("10.88."), "podman address {ip:?}");
        self.target = Some(name);
        (id, ip)
    }

    fn run_fg(
        &mut self,
        name: &str,
        annotations: &[(&str, &str)],
        args: &[&str],
    ) -> (String, Output) {
        let name = unique_name(&format!("lsh-{name}"));
        let mut c = self.cmd();
        c.args(["run", "--rm", "--name", &name]);
        Self::annotate(&mut c, annotations);
        c.args(["--rootfs", &self.rootfs]).args(args);
        let out = output_within(&mut c, T).unwrap_or_else(|| panic!("podman run {name} timed out"));
        (name, out)
    }

    fn target_host(&self, _id: &str) -> String {
        TARGET_HOSTNAME.to_string()
    }

    fn check_hosts_base(&self, hosts: &str, linker: &str) {
        // podman's own hosts file is the base: its lines are kept.
        assert!(
            hosts
                .lines()
                .any(|l| l.ends_with("host.containers.internal"))
                && hosts.contains(linker),
            "podman's hosts lines lost:\n{hosts}"
        );
    }

    fn shows_failure_reason(&self) -> bool {
        // podman throws a hook's stderr away; the wrapper's reaches it.
        self.runtime.is_some()
    }

    fn check_failed_start(&self, _name: &str) {}

    fn stop_target(&mut self, _id: &str) -> bool {
        let name = self.target.clone().expect("a target started");
        run_ok(self.cmd().args(["stop", "-t", "0", &name]), T);
        false
    }
}

impl Drop for PodmanRig {
    fn drop(&mut self) {
        run_quiet(
            self.cmd().args(["rm", "-af", "-t", "0"]),
            Duration::from_secs(60),
        );
    }
}

// ---------------------------------------------------------------------------
// containerd
// ---------------------------------------------------------------------------

/// A private containerd, `ctr run --runc-binary` pointing at linkshim's
/// wrapper reached as a bare `linkshim-runtime` symlink (how a containerd
/// `BinaryName` calls it), in network namespaces the test makes
/// (`--with-ns network:/run/netns/X`).
///
/// The wrapper's settings travel in containerd's environment
/// (LINKSHIM_STATE_DIR, LINKSHIM_RUNTIME, LINKSHIM_CONFIG): containerd
/// passes its environment to the runc shim, and the shim to the runtime.
struct ContainerdRig {
    ctrd: Containerd,
    image: String,
    wrapper: PathBuf,
    tgt_ns: NetNs,
    lnk_ns: NetNs,
}

const NS: &str = "lsh";

impl ContainerdRig {
    fn new(tmp: &Path, rootfs: &Path, state: &Path) -> ContainerdRig {
        let runc = which("runc").unwrap();
        let bin = tmp.join("bin");
        fs::create_dir_all(&bin).unwrap();
        let wrapper = bin.join("linkshim-runtime");
        symlink(linkshim_bin(), &wrapper).unwrap();
        let ctrd = Containerd::start_with_env(&[
            ("LINKSHIM_STATE_DIR", state.as_os_str()),
            ("LINKSHIM_RUNTIME", runc.as_os_str()),
            ("LINKSHIM_CONFIG", OsStr::new(NO_CONFIG)),
        ]);
        let image = ctrd.import_busybox(rootfs, NS);
        ContainerdRig {
            ctrd,
            image,
            wrapper,
            tgt_ns: NetNs::new("ctgt"),
            lnk_ns: NetNs::new("clnk"),
        }
    }

    /// `ctr run --runc-binary <wrapper> [--rm|-d] --with-ns network:<ns>`,
    /// `--annotation` (ctr passes values whole: commas are fine) and
    /// `--env` each, the image, the id and the command.
    fn run(
        &self,
        mode: &str,
        ns: &NetNs,
        id: &str,
        annotations: &[(&str, &str)],
        env: &[(&str, &str)],
        args: &[&str],
    ) -> Command {
        let mut c = self.ctrd.ctr();
        c.args(["-n", NS, "run", "--runc-binary"])
            .arg(&self.wrapper)
            .arg(mode)
            .arg("--with-ns")
            .arg(format!("network:{}", ns.path().display()));
        for (k, v) in annotations {
            c.arg("--annotation").arg(format!("{k}={v}"));
        }
        for (k, v) in env {
            c.arg("--env").arg(format!("{k}={v}"));
        }
        c.arg(&self.image).arg(id).args(args);
        c
    }
}

impl Rig for ContainerdRig {
    fn start_target(
        &mut self,
        annotations: &[(&str, &str)],
        env: &[(&str, &str)],
        args: &[&str],
    ) -> (String, String) {
        let id = unique_name("lsh-ctgt");
        run_ok(
            &mut self.run("-d", &self.tgt_ns, &id, annotations, env, args),
            T,
        );
        assert!(id.len() > 12, "the id {id} is cut to 12 characters");
        (id, self.tgt_ns.ipv4().to_string())
    }

    fn run_fg(
        &mut self,
        name: &str,
        annotations: &[(&str, &str)],
        args: &[&str],
    ) -> (String, Output) {
        let id = unique_name(&format!("lsh-c{name}"));
        let out = output_within(
            &mut self.run("--rm", &self.lnk_ns, &id, annotations, &[], args),
            T,
        )
        .unwrap_or_else(|| panic!("ctr run {id} timed out"));
        (id, out)
    }

    fn check_hosts_base(&self, _hosts: &str, _linker: &str) {}

    fn shows_failure_reason(&self) -> bool {
        true
    }

    fn check_failed_start(&self, _name: &str) {}

    fn stop_target(&mut self, id: &str) -> bool {
        run_ok(
            self.ctrd
                .ctr()
                .args(["-n", NS, "tasks", "kill", "-s", "SIGKILL", id]),
            T,
        );
        assert!(
            wait_until(Duration::from_secs(10), || {
                run_quiet(self.ctrd.ctr().args(["-n", NS, "tasks", "delete", id]), T)
            }),
            "ctr tasks delete {id} did not succeed"
        );
        false
    }

    fn diagnostics(&self) -> String {
        format!("containerd log:\n{}", self.ctrd.log())
    }
}

/// A target started with a foreground `run` through the wrapper (on
/// `runtime`): registered by the wrapper's helper while it runs, with no
/// `poststart` or `poststop` hook in its config; a linker links to it; when
/// it is killed the helper takes it out of the registry.
pub fn foreground_target(runtime: &'static str) {
    if runtime == "crun" {
        prepare_cgroups();
    }
    let tmp = tempfile::tempdir().unwrap();
    let rootfs = busybox_rootfs(tmp.path());
    let state = tmp.path().join("state");
    let mut rig = OciRig::new(runtime, tmp.path(), &rootfs, &state);
    let bundle = rig.bundle(
        "fg-target",
        &httpd("3306"),
        &[
            ("io.linkshim.name", "fg_server"),
            ("io.linkshim.expose", "3306"),
        ],
        &rig.tgt_ns,
    );
    let tgt = OciContainer::wrapped(&state, &rig.real, &short_unique_id());
    let mut running = tgt
        .command()
        .args(["run", "--bundle"])
        .arg(&bundle)
        .arg(&tgt.id)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let id = tgt.id.clone();
    rig.containers.push(tgt);
    let registered = wait_until(Duration::from_secs(20), || {
        ls_record(&state, "fg_server").is_some()
    });
    assert!(
        registered,
        "the foreground target was never registered: {:#?}\nlinkshim.log: {}",
        linkshim_ls(&state),
        linkshim_log(&state)
    );
    let rec = ls_record(&state, "fg_server").unwrap();
    assert_eq!(rec["id"], json!(id));
    let ip = rig.tgt_ns.ipv4().to_string();
    assert_eq!(rec["addrs"], json!([ip]), "{rec:#}");
    let hooks = &read_config(&bundle)["hooks"];
    let own = |stage: &str| {
        hooks[stage]
            .as_array()
            .is_some_and(|h| h.iter().any(|h| h["path"] == json!(linkshim_bin())))
    };
    // The helper sees it out too: neither hook.
    assert!(!own("poststart") && !own("poststop"), "{hooks:#}");
    // Its row, read from the registry itself (`ls` hides a dead one).
    let rows = |id: &str| -> i64 {
        let db = rusqlite::Connection::open_with_flags(
            state.join("registry.db"),
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        )
        .unwrap();
        db.query_row("SELECT count(*) FROM containers WHERE id = ?1", [id], |r| {
            r.get(0)
        })
        .unwrap()
    };
    assert_eq!(rows(&id), 1);

    let (_, out) = rig.run_fg(
        "fg-linker",
        &[
            ("io.linkshim.name", "fg_linker"),
            ("io.linkshim.links", "fg_server:db"),
        ],
        &["sh", "-c", &linker_script("db", 3306)],
    );
    let seen = LinkerOutput::of_run(&out, &rig.diagnostics());
    // runc_bundle gives the target its bundle's name as hostname.
    seen.assert_hosts_line(&ip, "db fg-target fg_server");
    assert_eq!(seen.fetched, "linkshim-ok\n", "wget through the alias `db`");

    run_ok(Command::new(&rig.real).args(["kill", &id, "KILL"]), T);
    let ended = wait_until(Duration::from_secs(20), || {
        running.try_wait().is_ok_and(|s| s.is_some())
    });
    assert!(
        ended,
        "the foreground run did not end once its container was killed"
    );
    assert!(
        wait_until(Duration::from_secs(20), || {
            // Not through `ls`, which clears a dead row in passing.
            rows(&id) == 0
        }),
        "still registered after its run ended: {:#?}\n{}",
        linkshim_ls(&state),
        linkshim_log(&state)
    );
    assert!(
        !fs::read_dir(&state).unwrap().any(|e| e
            .unwrap()
            .file_name()
            .to_string_lossy()
            .starts_with(".run-")),
        "the wrapper's pid file stays in {}",
        state.display()
    );
}
