//! The Debian package on this machine, as a user installs it.
//!
//! `packaging/build.sh deb` builds the .deb (release binary, man pages,
//! completions; cargo-deb); `dpkg -i` installs it into the real system;
//! podman with **no `--hooks-dir`** (its default hooks dirs) runs two
//! linked containers through the installed hooks.d file and binary; a
//! podman with an explicit `--hooks-dir` (as every other case runs it) is
//! not touched by the system's hooks file; `man linkshim-ls` works; then
//! `apt-get purge linkshim` removes every file the package installed and
//! what it created (state dir, config dir): the listed areas of the file
//! system are as before. A guard purges the package whatever happens.
//!
//! The case changes the machine, so it holds the whole test binary's
//! system-wide lock ([`crate::system_wide`]) from install to purge: no
//! other case runs meanwhile. The build comes first, outside the lock.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use testkit::*;

const T: Duration = Duration::from_secs(60);

/// The release build and cargo-deb, from cold (CI): generous.
const BUILD: Duration = Duration::from_secs(30 * 60);

/// The areas of the file system the package writes to, listed before the
/// install and after the purge.
const AREAS: &[&str] = &[
    "/usr/bin",
    "/usr/share/containers",
    "/usr/share/man/man1",
    "/usr/share/bash-completion/completions",
    "/usr/share/zsh/vendor-completions",
    "/usr/share/fish/vendor_completions.d",
    "/usr/share/doc/linkshim",
    "/usr/lib/tmpfiles.d",
    "/usr/lib/systemd/system",
    "/etc/linkshim",
    "/var/lib/linkshim",
];

/// What the package must hold (besides the man pages, checked by name).
const EXPECTED: &[&str] = &[
    "/usr/bin/linkshim",
    "/usr/bin/linkshim-runtime",
    "/usr/share/containers/oci/hooks.d/linkshim.json",
    "/etc/linkshim/linkshim.toml",
    "/usr/lib/tmpfiles.d/linkshim.conf",
    "/usr/share/bash-completion/completions/linkshim",
    "/usr/share/zsh/vendor-completions/_linkshim",
    "/usr/share/fish/vendor_completions.d/linkshim.fish",
    "/usr/share/doc/linkshim/README.md",
    "/usr/share/doc/linkshim/LICENSE-APACHE",
    "/usr/share/doc/linkshim/LICENSE-MIT",
    "/usr/share/doc/linkshim/copyright",
    "/usr/lib/systemd/system/linkshim-gc.service",
    "/usr/lib/systemd/system/linkshim-gc.timer",
    "/usr/lib/systemd/system/linkshim-watch.service",
];

/// The installed binary and its default state dir (the package's config).
const BIN: &str = "/usr/bin/linkshim";
const STATE: &str = "/run/linkshim";

pub fn deb_links_two_containers_with_podmans_default_hooks_and_purges_clean() {
    let deb = build_deb();
    let _system = crate::system_wide();
    assert!(
        !installed(),
        "the linkshim package is installed on this machine; this case installs and purges it: remove it first"
    );
    for p in [
        BIN,
        "/etc/linkshim",
        "/usr/share/containers/oci/hooks.d/linkshim.json",
    ] {
        assert!(
            fs::symlink_metadata(p).is_err(),
            "{p} exists (an install by hand?); this case installs and purges the package: remove it first"
        );
    }
    let before = list_areas();

    let guard = Purge;
    run_ok(&mut cmd("dpkg", &["-i", deb.to_str().unwrap()]), T);
    assert!(installed(), "dpkg -i did not install linkshim");
    let files = package_files();
    eprintln!("installed:\n{}", files.join("\n"));
    check_contents(&files);
    let scripts: String = ["postinst", "postrm", "preinst", "prerm"]
        .iter()
        .filter_map(|s| fs::read_to_string(format!("/var/lib/dpkg/info/linkshim.{s}")).ok())
        .collect();
    assert!(scripts.contains("tmpfiles"), "no postinst? {scripts}");
    assert_no_engine_restart(&scripts);

    check_version();
    check_man_page();
    check_default_hooks_link_two_containers();
    check_install_podman();
    check_doctor();

    // apt-get purge, then nothing of it is left.
    drop(guard);
    assert!(!installed(), "still installed after apt-get purge");
    let after = list_areas();
    eprintln!(
        "after purge, gone: {:?}",
        files.iter().filter(|f| !Path::new(f).exists()).count()
    );
    let left: Vec<&String> = files
        .iter()
        .filter(|f| !before.contains(*f) && fs::symlink_metadata(f).is_ok())
        .collect();
    assert!(left.is_empty(), "left after purge: {left:#?}");
    let added: Vec<&String> = after.difference(&before).collect();
    let removed: Vec<&String> = before.difference(&after).collect();
    assert!(
        added.is_empty() && removed.is_empty(),
        "the file system differs from before the install\nadded: {added:#?}\nremoved: {removed:#?}"
    );
    for dir in ["/etc/linkshim", STATE, "/var/lib/linkshim"] {
        assert!(fs::symlink_metadata(dir).is_err(), "{dir} left after purge");
    }
}

/// Held while `packaging/build.sh` runs and its output is read: the .deb
/// and the .rpm cases share `target/assets`, which each build rewrites.
static BUILDING: Mutex<()> = Mutex::new(());

fn building() -> MutexGuard<'static, ()> {
    BUILDING.lock().unwrap_or_else(|e| e.into_inner())
}

/// `packaging/build.sh deb`: the path of the .deb it built.
fn build_deb() -> PathBuf {
    let _building = building();
    let out = run_ok(
        Command::new(repo_root().join("packaging/build.sh"))
            .arg("deb")
            .current_dir(repo_root()),
        BUILD,
    );
    let deb = PathBuf::from(
        out.lines()
            .rfind(|l| l.ends_with(".deb"))
            .unwrap_or_else(|| panic!("packaging/build.sh deb printed no .deb path:\n{out}"))
            .trim(),
    );
    let deb = if deb.is_absolute() {
        deb
    } else {
        repo_root().join(deb)
    };
    assert!(deb.is_file(), "{} is not a file", deb.display());
    deb
}

/// `dpkg-query` says linkshim is installed.
fn installed() -> bool {
    output_within(
        &mut cmd("dpkg-query", &["-W", "-f=${Status}", "linkshim"]),
        T,
    )
    .is_some_and(|o| String::from_utf8_lossy(&o.stdout).contains("install ok installed"))
}

/// `dpkg -L linkshim`: every path the package installed (not the
/// directories it shares with others, such as /usr/bin).
fn package_files() -> Vec<String> {
    run_ok(&mut cmd("dpkg", &["-L", "linkshim"]), T)
        .lines()
        .filter(|l| l.starts_with('/'))
        .filter(|l| fs::symlink_metadata(l).is_ok_and(|m| !m.is_dir()) || l.contains("linkshim"))
        .map(str::to_string)
        .collect()
}

/// Every path under [`AREAS`] (recursively, symlinks not followed).
fn list_areas() -> BTreeSet<String> {
    fn walk(p: &Path, out: &mut BTreeSet<String>) {
        out.insert(p.display().to_string());
        let Ok(m) = fs::symlink_metadata(p) else {
            return;
        };
        if m.is_dir() {
            for e in fs::read_dir(p).into_iter().flatten().flatten() {
                walk(&e.path(), out);
            }
        }
    }
    let mut out = BTreeSet::new();
    for a in AREAS {
        if fs::symlink_metadata(a).is_ok() {
            walk(Path::new(a), &mut out);
        }
    }
    out
}

/// The files the package must hold, the runtime link, the conffile, one
/// man page per command.
fn check_contents(files: &[String]) {
    for want in EXPECTED {
        assert!(
            files.iter().any(|f| f == want),
            "{want} is not in the package: {files:#?}"
        );
    }
    assert_eq!(
        fs::read_link("/usr/bin/linkshim-runtime").unwrap(),
        Path::new("linkshim")
    );
    // The shipped binary is scripts/build-release.sh's: static-pie on
    // glibc Linux, so no dynamic loader runs at each hook.
    if cfg!(all(target_os = "linux", target_env = "gnu")) {
        assert!(
            !has_interpreter(&fs::read(BIN).unwrap()),
            "{BIN} asks for a dynamic loader (PT_INTERP): not the static-pie build"
        );
    }
    let conffiles = run_ok(
        &mut cmd("dpkg-query", &["-W", "-f=${Conffiles}", "linkshim"]),
        T,
    );
    assert!(
        conffiles.contains("/etc/linkshim/linkshim.toml"),
        "not a conffile: {conffiles:?}"
    );
    for page in [
        "linkshim",
        "linkshim-ls",
        "linkshim-doctor",
        "linkshim-runtime",
        "linkshim-resource-add",
        "linkshim-hook-precreate",
    ] {
        assert!(
            files
                .iter()
                .any(|f| f.starts_with(&format!("/usr/share/man/man1/{page}.1"))),
            "no man page {page}: {files:#?}"
        );
    }
}

/// Whether a 64-bit little-endian ELF file has a program header of type
/// PT_INTERP, i.e. is run through a dynamic loader.
fn has_interpreter(elf: &[u8]) -> bool {
    assert!(
        elf.starts_with(b"\x7fELF\x02\x01"),
        "not a 64-bit LE ELF file"
    );
    let u16_at = |o: usize| u16::from_le_bytes([elf[o], elf[o + 1]]) as usize;
    let phoff = u64::from_le_bytes(elf[0x20..0x28].try_into().unwrap()) as usize;
    let (size, count) = (u16_at(0x36), u16_at(0x38));
    (0..count).any(|i| {
        let at = phoff + i * size;
        u32::from_le_bytes(elf[at..at + 4].try_into().unwrap()) == 3
    })
}

/// `linkshim --version` names the commit.
fn check_version() {
    let v = run_ok(&mut cmd(BIN, &["--version"]), T);
    assert!(
        v.starts_with(&format!("linkshim {} (commit ", env!("CARGO_PKG_VERSION"))),
        "{v}"
    );
    if let Some(head) = output_within(
        &mut cmd(
            "git",
            &[
                "-C",
                repo_root().to_str().unwrap(),
                "rev-parse",
                "--short=12",
                "HEAD",
            ],
        ),
        T,
    )
    .filter(|o| o.status.success())
    {
        let head = String::from_utf8_lossy(&head.stdout).trim().to_string();
        assert!(
            v.contains(&head),
            "--version {v:?} does not name HEAD {head}"
        );
    }
}

/// `man linkshim-ls` finds and renders the installed page.
fn check_man_page() {
    let page = run_ok(
        cmd("man", &["linkshim-ls"])
            .env("MANPAGER", "cat")
            .env("MANWIDTH", "80"),
        T,
    );
    assert!(page.contains("linkshim-ls"), "{page}");
    assert!(page.contains("--json"), "{page}");
}

/// podman with no `--hooks-dir`: the package's hooks file and binary link a
/// linker to a target. A podman with `--hooks-dir` never sees that file.
fn check_default_hooks_link_two_containers() {
    let tmp = tempfile::tempdir().unwrap();
    let rootfs = busybox_rootfs(tmp.path());
    let r = rootfs.to_str().unwrap();
    let podman = Podman::new();
    let state = Path::new(STATE);
    let target = unique_name("lsh-pkg-db");
    let linker = unique_name("lsh-pkg-web");
    let installed_ls = || {
        let out = run_ok(&mut cmd(BIN, &["ls", "--json"]), T);
        serde_json::from_str::<serde_json::Value>(&out)
            .unwrap_or_else(|e| panic!("ls --json: {e}: {out}"))
    };
    run_ok(
        podman
            .cmd_default_hooks()
            .args(httpd_target(&target, &target, "8080", r, &[])),
        T,
    );
    let ip = run_ok(
        podman.cmd_default_hooks().args([
            "inspect",
            "-f",
            "{{.NetworkSettings.IPAddress}}",
            &target,
        ]),
        T,
    );
    let ip = ip.trim();
    let id = run_ok(
        podman
            .cmd_default_hooks()
            .args(["inspect", "-f", "{{.Id}}", &target]),
        T,
    );
    let id = id.trim();
    let listed = installed_ls();
    assert!(
        listed
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["name"] == target.as_str()),
        "target not registered by the installed hooks: {listed:#}\nlinkshim.log: {}",
        linkshim_log(state)
    );

    let links = format!("io.linkshim.links={target}:db");
    let linker_ann = format!("io.linkshim.name={linker}");
    let out = run_ok(
        podman.cmd_default_hooks().args([
            "run",
            "--rm",
            "--name",
            &linker,
            "--annotation",
            &linker_ann,
            "--annotation",
            &links,
            "--rootfs",
            r,
            "sh",
            "-c",
            &linker_script("db", 8080),
        ]),
        T,
    );
    let seen = LinkerOutput::parse(&out);
    assert_eq!(
        seen.env.get("DB_PORT").map(String::as_str),
        Some(format!("tcp://{ip}:8080").as_str()),
        "{out}"
    );
    assert_eq!(
        seen.env.get("DB_NAME"),
        Some(&format!("/{linker}/db")),
        "{out}"
    );
    seen.assert_hosts_line(ip, &format!("db {} {target}", short_id(id)));
    assert_eq!(seen.fetched, "linkshim-ok\n", "{out}");

    // The same annotations under an explicit --hooks-dir (every other
    // case): the system's hooks file is not read, nothing is linked.
    let other = unique_name("lsh-pkg-other");
    let other_ann = format!("io.linkshim.name={other}");
    let env = podman.run_ok(
        &[
            "run",
            "--rm",
            "--annotation",
            &other_ann,
            "--rootfs",
            r,
            "env",
        ],
        T,
    );
    assert!(
        !env.contains("LINKSHIM_NAME="),
        "an explicit --hooks-dir ran the system's hook:\n{env}"
    );
    let listed = installed_ls();
    assert!(
        !listed
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["name"] == other.as_str()),
        "an explicit --hooks-dir registered {other}: {listed:#}"
    );

    run_ok(
        podman
            .cmd_default_hooks()
            .args(["stop", "-t", "2", &target]),
        T,
    );
    assert!(
        wait_until(Duration::from_secs(10), || !installed_ls()
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["name"] == target.as_str())),
        "a stopped target is still registered"
    );
    drop(podman);
}

/// `linkshim install podman` finds the package's hooks file where podman
/// looks and changes nothing; `--named-runtime` on a copy of the machine's
/// containers.conf adds the runtime `linkshim`, which podman then runs.
fn check_install_podman() {
    let out = run_ok(&mut cmd(BIN, &["install", "podman"]), T);
    assert!(
        out.contains("nothing to change (already installed)"),
        "{out}"
    );

    // A tree whose /usr is the machine's, with its own /etc.
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    fs::create_dir_all(root.join("etc/containers")).unwrap();
    std::os::unix::fs::symlink("/usr", root.join("usr")).unwrap();
    let conf = root.join("etc/containers/containers.conf");
    let mut doc: toml_edit::DocumentMut =
        fs::read_to_string("/usr/share/containers/containers.conf")
            .expect("podman's default containers.conf")
            .parse()
            .unwrap();
    // This machine's hard limit (see testkit's Podman).
    doc["containers"]["default_ulimits"] = toml_edit::value(toml_edit::Array::from_iter([
        "nofile=20000:20000",
        "nproc=20000:20000",
    ]));
    fs::write(&conf, doc.to_string()).unwrap();
    let out = run_ok(
        &mut cmd(
            BIN,
            &[
                "install",
                "podman",
                "--named-runtime",
                "--root",
                root.to_str().unwrap(),
            ],
        ),
        T,
    );
    assert!(
        out.contains("+linkshim = [\"/usr/bin/linkshim-runtime\"]"),
        "{out}"
    );
    assert!(
        !root
            .join("etc/containers/oci/hooks.d/linkshim.json")
            .exists(),
        "the package's hooks file was enough: {out}"
    );

    // podman on that containers.conf, with an empty hooks dir: only the
    // named runtime can link.
    let tmp2 = tempfile::tempdir().unwrap();
    let rootfs = busybox_rootfs(tmp2.path());
    let podman = Podman::new();
    let name = unique_name("lsh-pkg-named");
    let ann = format!("io.linkshim.name={name}");
    let env = run_ok(
        podman
            .cmd()
            .env("CONTAINERS_CONF", &conf)
            .args([
                "--runtime",
                "linkshim",
                "run",
                "--rm",
                "--annotation",
                &ann,
                "--rootfs",
            ])
            .arg(&rootfs)
            .arg("env"),
        T,
    );
    assert!(env.contains(&format!("LINKSHIM_NAME={name}")), "{env}");
    drop(podman);
}

/// `linkshim doctor` on the host with the package installed: the hooks
/// file where podman looks, the wrapper, the state dir, the registry and
/// the log all pass.
fn check_doctor() {
    let out = output_within(&mut cmd(BIN, &["doctor"]), T).expect("doctor answers");
    let report = String::from_utf8_lossy(&out.stdout);
    for want in [
        "podman: /usr/share/containers/oci/hooks.d/linkshim.json runs /usr/bin/linkshim at precreate",
        "wrapper /usr/bin/linkshim-runtime is there",
        "wrapper: with an empty environment it runs",
        "state dir /run/linkshim is ours, mode 700",
        "integrity ok",
        "log /run/linkshim/linkshim.log",
    ] {
        assert!(
            report
                .lines()
                .any(|l| l.starts_with("PASS") && l.contains(want)),
            "no PASS line with {want:?}:\n{report}"
        );
    }
    assert!(!report.lines().any(|l| l.starts_with("FAIL")), "{report}");
    assert!(out.status.success(), "{report}");
}

/// Purges the package when dropped (the case's last step, and its cleanup
/// when it fails).
struct Purge;

impl Drop for Purge {
    fn drop(&mut self) {
        if installed() {
            let ok = run_quiet(
                cmd("apt-get", &["purge", "-y", "-q", "linkshim"])
                    .env("DEBIAN_FRONTEND", "noninteractive"),
                Duration::from_secs(120),
            );
            if !ok {
                eprintln!("apt-get purge linkshim failed; trying dpkg --purge");
                run_quiet(&mut cmd("dpkg", &["--purge", "linkshim"]), T);
            }
        }
    }
}

/// The RPM (`packaging/build.sh rpm`, rpmbuild) holds what the .deb holds,
/// at the paths RPM distributions use, with the config file marked as
/// such. It is built and inspected here, not installed (this is Debian).
pub fn rpm_holds_what_the_deb_holds() {
    let building = building();
    let out = run_ok(
        Command::new(repo_root().join("packaging/build.sh"))
            .arg("rpm")
            .current_dir(repo_root()),
        BUILD,
    );
    let rpm = PathBuf::from(
        out.lines()
            .rfind(|l| l.ends_with(".rpm"))
            .unwrap_or_else(|| panic!("packaging/build.sh rpm printed no .rpm path:\n{out}"))
            .trim(),
    );
    let rpm = rpm.to_str().unwrap();
    let query = |args: &[&str]| {
        let mut c = Command::new("rpm");
        c.args(["-q", "-p", rpm]).args(args);
        run_ok(&mut c, T)
    };
    let files: Vec<String> = query(&["-l"]).lines().map(str::to_string).collect();
    eprintln!("in the rpm:\n{}", files.join("\n"));
    let rpm_path = |deb_path: &str| match deb_path {
        "/usr/share/zsh/vendor-completions/_linkshim" => {
            Some("/usr/share/zsh/site-functions/_linkshim".to_string())
        }
        "/usr/share/doc/linkshim/LICENSE-APACHE" | "/usr/share/doc/linkshim/LICENSE-MIT" => {
            Some(deb_path.replace("/doc/", "/licenses/"))
        }
        // Debian's own file; an RPM carries the licence texts instead.
        "/usr/share/doc/linkshim/copyright" => None,
        other => Some(other.to_string()),
    };
    for want in EXPECTED.iter().filter_map(|p| rpm_path(p)) {
        assert!(
            files.contains(&want),
            "{want} is not in the rpm: {files:#?}"
        );
    }
    let pages: BTreeSet<String> = fs::read_dir(repo_root().join("target/assets/man"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    drop(building);
    assert!(pages.len() >= 10, "man pages: {pages:?}");
    for page in &pages {
        assert!(
            files
                .iter()
                .any(|f| f.starts_with(&format!("/usr/share/man/man1/{page}"))),
            "man page {page} is not in the rpm"
        );
    }
    assert_eq!(query(&["-c"]).trim(), "/etc/linkshim/linkshim.toml");
    let listing = query(&["-l", "-v"]);
    assert!(
        listing
            .lines()
            .any(|l| l.starts_with('l') && l.ends_with("/usr/bin/linkshim-runtime -> linkshim")),
        "{listing}"
    );
    assert_eq!(query(&["--qf", "%{VERSION}"]), env!("CARGO_PKG_VERSION"));
    assert_no_engine_restart(&query(&["--scripts"]));
}

/// Package scripts never start, stop or restart a container engine.
fn assert_no_engine_restart(scripts: &str) {
    for word in [
        "systemctl",
        "service ",
        "invoke-rc.d",
        "podman",
        "containerd",
        "crio",
        "dockerd",
    ] {
        assert!(
            !scripts.contains(word),
            "a package script mentions {word:?}:\n{scripts}"
        );
    }
}
