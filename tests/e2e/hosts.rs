//! Links across hosts: the registry on a real three-member etcd cluster
//! (on loopback ports), two simulated hosts on this machine.
//!
//! Each host is a network namespace with its own bridge and containers
//! (runc through linkshim's wrapper, with the host's own state directory
//! and config file: `registry = "etcd"`, its host id, boot id file and
//! `advertise_address`). The hosts are joined by a veth "wire" that
//! carries only their own addresses (192.0.2.1 and .2): host A's
//! containers (10.201.0.0/24) are masqueraded behind A's address, and no
//! host has a route to the other's containers. Host B publishes its
//! target's port 80 as 18080 with a DNAT rule, as an engine's `-p` would.
//!
//! The case: a linker on A gets the env and hosts line of a target on B
//! and fetches a page through the alias and the published port (while the
//! target's own address is unreachable from A); with one etcd member
//! killed, links still resolve and containers still register; B's
//! containers die without their poststop, B "reboots" (a new boot id) and
//! its `gc` clears its stale records while A's stay; with the whole
//! cluster stopped, a linked create fails within the timeout with a clear
//! message and a container without links starts as before. (Two hosts
//! racing for one name: `tests/etcd_store.rs`, on the same real cluster.)

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use testkit::*;

const T: Duration = Duration::from_secs(60);

/// `ip ARGS`, which must succeed.
fn ip(args: &[&str]) {
    run_ok(&mut cmd("ip", args), Duration::from_secs(10));
}

/// `ip netns exec NS ARGS`, which must succeed.
fn in_ns(ns: &str, args: &[&str]) {
    let mut all = vec!["netns", "exec", ns];
    all.extend_from_slice(args);
    ip(&all);
}

/// Network namespaces deleted on drop (their veths go with them).
struct Namespaces(Vec<String>);

impl Namespaces {
    fn add(&mut self, hint: &str) -> String {
        let name = unique_name(&format!("lsx-{hint}"));
        ip(&["netns", "add", &name]);
        self.0.push(name.clone());
        in_ns(&name, &["ip", "link", "set", "lo", "up"]);
        name
    }
}

impl Drop for Namespaces {
    fn drop(&mut self) {
        for ns in self.0.iter().rev() {
            run_quiet(
                &mut cmd("ip", &["netns", "del", ns]),
                Duration::from_secs(10),
            );
        }
    }
}

/// One simulated host: its namespace, bridge subnet, state, config file.
struct Host {
    id: &'static str,
    ns: String,
    /// Its address on the wire.
    addr: &'static str,
    /// Its containers' subnet, `10.20x.0`.
    subnet: &'static str,
    state: PathBuf,
    persist: PathBuf,
    conf: PathBuf,
    boot: PathBuf,
    veths: usize,
}

impl Host {
    fn new(
        nss: &mut Namespaces,
        dir: &Path,
        id: &'static str,
        addr: &'static str,
        subnet: &'static str,
    ) -> Host {
        let ns = nss.add(id);
        in_ns(&ns, &["ip", "link", "add", "br0", "type", "bridge"]);
        in_ns(
            &ns,
            &["ip", "addr", "add", &format!("{subnet}.1/24"), "dev", "br0"],
        );
        in_ns(&ns, &["ip", "link", "set", "br0", "up"]);
        in_ns(&ns, &["sysctl", "-q", "-w", "net.ipv4.ip_forward=1"]);
        let state = dir.join(id).join("state");
        let persist = dir.join(id).join("persist");
        fs::create_dir_all(&persist).unwrap();
        let boot = dir.join(id).join("boot_id");
        fs::write(&boot, format!("{id}-boot-1\n")).unwrap();
        Host {
            id,
            ns,
            addr,
            subnet,
            state,
            persist,
            conf: dir.join(id).join("linkshim.toml"),
            boot,
            veths: 0,
        }
    }

    /// Write this host's config file for a cluster at `endpoints`.
    fn configure(&self, endpoints: &[String], prefix: &str) {
        let eps: Vec<String> = endpoints.iter().map(|e| format!("{e:?}")).collect();
        fs::write(
            &self.conf,
            format!(
                "registry = \"etcd\"\netcd_endpoints = [{}]\netcd_prefix = {prefix:?}\netcd_timeout = \"1s\"\n\
                 host_id = {:?}\nboot_id_file = {:?}\nadvertise_address = {:?}\n",
                eps.join(", "),
                self.id,
                self.boot.display().to_string(),
                self.addr
            ),
        )
        .unwrap();
    }

    /// A container namespace on this host's bridge at `.<n>`, default
    /// route through the host.
    fn container_ns(&mut self, nss: &mut Namespaces, n: u8) -> String {
        let ns = nss.add(&format!("{}c", self.id));
        self.veths += 1;
        let veth = format!("lsx{}{}", &self.id[5..], self.veths);
        ip(&[
            "link", "add", &veth, "netns", &self.ns, "type", "veth", "peer", "name", "eth0",
            "netns", &ns,
        ]);
        in_ns(
            &self.ns,
            &["ip", "link", "set", &veth, "master", "br0", "up"],
        );
        let subnet = self.subnet;
        in_ns(
            &ns,
            &[
                "ip",
                "addr",
                "add",
                &format!("{subnet}.{n}/24"),
                "dev",
                "eth0",
            ],
        );
        in_ns(&ns, &["ip", "link", "set", "eth0", "up"]);
        in_ns(
            &ns,
            &[
                "ip",
                "route",
                "add",
                "default",
                "via",
                &format!("{subnet}.1"),
            ],
        );
        ns
    }

    /// `linkshim` as this host runs it (its config file, its directories).
    fn linkshim(&self) -> Command {
        let mut c = Command::new(linkshim_bin());
        c.arg("--state-dir")
            .arg(&self.state)
            .arg("--persist-dir")
            .arg(&self.persist)
            .env("LINKSHIM_CONFIG", &self.conf)
            .env_remove("LINKSHIM_STATE_DIR")
            .env_remove("LINKSHIM_RUNTIME");
        c
    }

    /// A guard for container `id` run through this host's wrapper.
    fn container(&self, real: &Path, id: &str) -> HostContainer {
        HostContainer {
            host_cmd: self.linkshim(),
            real: real.to_path_buf(),
            id: id.to_string(),
            conf: self.conf.clone(),
            state: self.state.clone(),
            persist: self.persist.clone(),
        }
    }

    /// `linkshim ls --json` on this host: every host's containers.
    fn ls(&self) -> Vec<Value> {
        let out = run_ok(self.linkshim().args(["ls", "--json"]), T);
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("ls --json: {e}: {out}"))
    }
}

/// A container run by one host's wrapper; `delete --force` on drop.
struct HostContainer {
    host_cmd: Command,
    real: PathBuf,
    id: String,
    conf: PathBuf,
    state: PathBuf,
    persist: PathBuf,
}

impl HostContainer {
    fn wrapper(&self) -> Command {
        let mut c = Command::new(self.host_cmd.get_program());
        c.arg("--state-dir")
            .arg(&self.state)
            .arg("--persist-dir")
            .arg(&self.persist)
            .arg("runtime")
            .arg("--runtime")
            .arg(&self.real)
            .arg("--")
            .env("LINKSHIM_CONFIG", &self.conf)
            .env_remove("LINKSHIM_STATE_DIR")
            .env_remove("LINKSHIM_RUNTIME");
        c
    }

    fn run_detached(&self, bundle: &Path) {
        // stdout and stdin null: a detached container inherits them, and a
        // pipe would keep this waiting; stderr to a file, for the message.
        let err = bundle.join("run.stderr");
        let st = self
            .wrapper()
            .args(["run", "-d", "--bundle"])
            .arg(bundle)
            .arg(&self.id)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(fs::File::create(&err).unwrap())
            .status()
            .unwrap();
        assert!(
            st.success(),
            "run -d {}: {st}: {}",
            self.id,
            fs::read_to_string(&err).unwrap_or_default()
        );
    }

    fn run_fg(&self, bundle: &Path) -> Output {
        output_within(
            self.wrapper()
                .args(["run", "--bundle"])
                .arg(bundle)
                .arg(&self.id),
            T,
        )
        .unwrap_or_else(|| panic!("{} did not finish within {T:?}", self.id))
    }
}

impl Drop for HostContainer {
    fn drop(&mut self) {
        run_quiet(
            self.wrapper().args(["delete", "--force", &self.id]),
            Duration::from_secs(20),
        );
    }
}

fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

fn names(records: &[Value]) -> Vec<String> {
    records
        .iter()
        .filter_map(|r| r["name"].as_str().map(str::to_string))
        .collect()
}

pub fn a_link_across_two_hosts_on_etcd() {
    let real = which("runc").expect("runc on PATH");
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let rootfs = busybox_rootfs(dir);
    let mut cluster = EtcdCluster::start(3);
    let prefix = format!("/e2e-{}", short_unique_id());
    let mut nss = Namespaces(Vec::new());
    let mut a = Host::new(&mut nss, dir, "host-a", "192.0.2.1", "10.201.0");
    let mut b = Host::new(&mut nss, dir, "host-b", "192.0.2.2", "10.202.0");
    a.configure(&cluster.endpoints(), &prefix);
    b.configure(&cluster.endpoints(), &prefix);
    // The wire: the hosts' own addresses only.
    ip(&[
        "link", "add", "lsxwa", "netns", &a.ns, "type", "veth", "peer", "name", "lsxwb", "netns",
        &b.ns,
    ]);
    in_ns(
        &a.ns,
        &["ip", "addr", "add", "192.0.2.1/24", "dev", "lsxwa"],
    );
    in_ns(&a.ns, &["ip", "link", "set", "lsxwa", "up"]);
    in_ns(
        &b.ns,
        &["ip", "addr", "add", "192.0.2.2/24", "dev", "lsxwb"],
    );
    in_ns(&b.ns, &["ip", "link", "set", "lsxwb", "up"]);
    // A's containers leave A as A; B publishes its target's port 80 as 18080.
    in_ns(
        &a.ns,
        &[
            "iptables",
            "-t",
            "nat",
            "-A",
            "POSTROUTING",
            "-s",
            "10.201.0.0/24",
            "-o",
            "lsxwa",
            "-j",
            "MASQUERADE",
        ],
    );
    in_ns(
        &b.ns,
        &[
            "iptables",
            "-t",
            "nat",
            "-A",
            "PREROUTING",
            "-d",
            "192.0.2.2",
            "-p",
            "tcp",
            "--dport",
            "18080",
            "-j",
            "DNAT",
            "--to-destination",
            "10.202.0.2:80",
        ],
    );

    // The target, on B: a page on port 80, published as 18080.
    let www = dir.join("www");
    fs::create_dir_all(&www).unwrap();
    fs::write(www.join("index.html"), "hello from host b\n").unwrap();
    let web_ns = b.container_ns(&mut nss, 2);
    let web_bundle = runc_bundle(
        &dir.join("web"),
        &rootfs,
        &httpd("80"),
        &[
            ("io.linkshim.name", "web"),
            ("io.linkshim.expose", "80"),
            ("io.linkshim.publish", "18080:80"),
        ],
        Some(&Path::new("/run/netns").join(&web_ns)),
    );
    bundle_add_bind(&web_bundle, &www, "/www", true);
    let web = b.container(&real, &short_unique_id());
    web.run_detached(&web_bundle);
    let seen = a.ls();
    let rec = seen
        .iter()
        .find(|r| r["name"] == "web")
        .unwrap_or_else(|| panic!("host A does not see B's target: {seen:#?}"));
    assert_eq!(rec["addrs"][0], "10.202.0.2", "{rec}");

    // The linker, on A.
    let client_ns = a.container_ns(&mut nss, 2);
    let client_bundle = |name: &str, links: &str, args: &[&str]| {
        let mut ann = vec![("io.linkshim.name", name)];
        if !links.is_empty() {
            ann.push(("io.linkshim.links", links));
        }
        runc_bundle(
            &dir.join(name),
            &rootfs,
            args,
            &ann,
            Some(&Path::new("/run/netns").join(&client_ns)),
        )
    };
    // (busybox's wget -T crashes here: its time limits come from `timeout`.)
    let fetch = "env; echo ===; cat /etc/hosts; echo ===; timeout 10 wget -q -O- http://web:18080/ 2>&1; \
                 echo ===; timeout 5 wget -q -O- http://10.202.0.2/ 2>/dev/null || echo unreachable";
    let linker = a.container(&real, &short_unique_id());
    let out = linker.run_fg(&client_bundle("client", "web", &["sh", "-c", fetch]));
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    let parts: Vec<&str> = stdout.split("===\n").collect();
    assert_eq!(parts.len(), 4, "{stdout}");
    for want in [
        "WEB_PORT=tcp://192.0.2.2:18080",
        "WEB_PORT_80_TCP=tcp://192.0.2.2:18080",
        "WEB_PORT_80_TCP_ADDR=192.0.2.2",
        "WEB_PORT_80_TCP_PORT=18080",
        "WEB_NAME=/client/web",
    ] {
        assert!(
            parts[0].lines().any(|l| l == want),
            "{want} in {}",
            parts[0]
        );
    }
    assert!(
        parts[1]
            .lines()
            .any(|l| l == "192.0.2.2\tweb" || l == format!("192.0.2.2\tweb {}", short_id(&web.id))),
        "{}",
        parts[1]
    );
    assert_eq!(
        parts[2], "hello from host b\n",
        "the fetch through the alias"
    );
    assert_eq!(
        parts[3], "unreachable\n",
        "B's container address is not routable from A"
    );

    // Live refresh across hosts: `linkshim watch` on A, a running linker
    // on A whose target starts on B later.
    let mut watch = a
        .linkshim()
        .arg("watch")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(fs::File::create(dir.join("watch-a.log")).unwrap())
        .spawn()
        .unwrap();
    let follower_bundle = client_bundle("follower", "late?optional", &["sleep", "600"]);
    let follower = a.container(&real, &short_unique_id());
    follower.run_detached(&follower_bundle);
    let token = read_config(&follower_bundle)["annotations"]["io.linkshim.internal.token"]
        .as_str()
        .expect("the follower's hosts token")
        .to_string();
    let follower_hosts = a.state.join("hosts").join(&token);
    let late_ns = b.container_ns(&mut nss, 3);
    let late_bundle = runc_bundle(
        &dir.join("late"),
        &rootfs,
        &["sleep", "600"],
        &[
            ("io.linkshim.name", "late"),
            ("io.linkshim.expose", "80"),
            ("io.linkshim.publish", "18081:80"),
        ],
        Some(&Path::new("/run/netns").join(&late_ns)),
    );
    let late = b.container(&real, &short_unique_id());
    // The watch has caught up (its first read) well before this.
    std::thread::sleep(Duration::from_millis(500));
    let start = Instant::now();
    late.run_detached(&late_bundle);
    let started = start.elapsed();
    // Its hostname (the bundle's name, "late") stands for its short id.
    let shown = wait_until(Duration::from_secs(10), || {
        fs::read_to_string(&follower_hosts)
            .is_ok_and(|t| t.lines().any(|l| l.starts_with("192.0.2.2\tlate")))
    });
    let took = start.elapsed();
    assert!(
        shown,
        "A's linker's hosts file never showed B's target: {}\nwatch: {}",
        fs::read_to_string(&follower_hosts).unwrap_or_default(),
        fs::read_to_string(dir.join("watch-a.log")).unwrap_or_default()
    );
    eprintln!(
        "TIME target start on host B (run -d: {started:?}) until host A's linker's hosts file shows it: {took:?}"
    );
    drop(late);
    let _ = watch.kill();
    let _ = watch.wait();
    drop(follower);

    // One member killed: once the others have a leader (a killed leader
    // costs an election, during which a start may fail after its
    // timeout), links still resolve and containers still register.
    cluster.kill(0);
    assert!(
        wait_until(Duration::from_secs(20), || cluster.healthy()),
        "two members of three elect no leader: {}",
        cluster.logs()
    );
    let sleeper = a.container(&real, &short_unique_id());
    sleeper.run_detached(&client_bundle("a-sleeper", "", &["sleep", "600"]));
    let linker2 = a.container(&real, &short_unique_id());
    let out = linker2.run_fg(&client_bundle(
        "client2",
        "web",
        &["sh", "-c", "timeout 10 wget -q -O- http://web:18080/"],
    ));
    let (stdout, stderr) = text(&out);
    assert!(
        out.status.success() && stdout == "hello from host b\n",
        "with a member down: {stdout}\n{stderr}"
    );
    let seen = names(&b.ls());
    assert!(seen.contains(&"a-sleeper".to_string()), "{seen:?}");

    // B crashes: its target dies without a poststop (its runtime state
    // goes with the "reboot"), and B comes back with a new boot id.
    let state: Value = serde_json::from_str(&run_ok(
        &mut cmd(real.to_str().unwrap(), &["state", &web.id]),
        T,
    ))
    .unwrap();
    let pid = state["pid"].as_i64().expect("the target's pid") as i32;
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    assert!(wait_until(Duration::from_secs(10), || {
        !Path::new(&format!("/proc/{pid}")).exists()
            || fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| s.contains(") Z"))
    }));
    fs::remove_dir_all(Path::new("/run/runc").join(&web.id)).unwrap();
    assert!(
        names(&a.ls()).contains(&"web".to_string()),
        "A trusts B's record until B clears it"
    );
    fs::write(&b.boot, "host-b-boot-2\n").unwrap();
    let gc = run_ok(b.linkshim().arg("gc"), T);
    assert!(
        gc.contains("removed stale record \"web\""),
        "B's gc after its reboot: {gc}"
    );
    let seen = names(&a.ls());
    assert!(!seen.contains(&"web".to_string()), "{seen:?}");
    assert!(
        seen.contains(&"a-sleeper".to_string()),
        "A's records are untouched: {seen:?}"
    );
    let again = run_ok(b.linkshim().arg("gc"), T);
    assert!(!again.contains("stale record"), "{again}");

    // The whole cluster stopped: a linked create fails within the timeout
    // (1 s per call) with a clear message; a container without links runs.
    cluster.stop();
    let linker3 = a.container(&real, &short_unique_id());
    let start = Instant::now();
    let out = linker3.run_fg(&client_bundle("client3", "web", &["true"]));
    let took = start.elapsed();
    let (_, stderr) = text(&out);
    assert!(!out.status.success(), "a linked create with etcd down");
    assert!(
        stderr.contains("container \"client3\"")
            && stderr.contains("etcd registry")
            && stderr.contains("no answer within 1s"),
        "{stderr}"
    );
    assert!(took < Duration::from_secs(15), "bounded: {took:?}");
    let plain_bundle = runc_bundle(
        &dir.join("plain"),
        &rootfs,
        &["echo", "no links here"],
        &[],
        Some(&Path::new("/run/netns").join(&client_ns)),
    );
    let plain = a.container(&real, &short_unique_id());
    let out = plain.run_fg(&plain_bundle);
    let (stdout, stderr) = text(&out);
    assert!(
        out.status.success() && stdout == "no links here\n",
        "{stdout}\n{stderr}"
    );
    drop((plain, linker3, linker2, sleeper, linker, web));
    drop(nss);
}
