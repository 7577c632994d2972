//! `linkshim install ENGINE` on copies of each engine's real default
//! configuration, in a directory given as `--root`: what changes (and only
//! that), a second run changes nothing, `--dry-run` writes nothing,
//! `--uninstall` gives the files back, a broken file is refused whole.
//!
//! Fixtures: podman 4.3.1's `/usr/share/containers/containers.conf` and
//! containerd 1.6.20's `containerd config default` and `/etc/containerd/
//! config.toml`, as Debian 12 ships them; CRI-O's crio.conf and a Docker
//! daemon.json written from their documentation.

mod support;

use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use support::Fixture;

/// A file system tree with linkshim installed at /usr/bin.
struct Root {
    dir: tempfile::TempDir,
}

impl Root {
    fn new() -> Root {
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("usr/bin");
        fs::create_dir_all(&bin).unwrap();
        symlink(env!("CARGO_BIN_EXE_linkshim"), bin.join("linkshim")).unwrap();
        symlink("linkshim", bin.join("linkshim-runtime")).unwrap();
        Root { dir }
    }

    fn path(&self, p: &str) -> PathBuf {
        self.dir.path().join(p.trim_start_matches('/'))
    }

    /// Puts `text` at `p` under the root.
    fn put(&self, p: &str, text: &str) {
        let path = self.path(p);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, text).unwrap();
    }

    fn read(&self, p: &str) -> Option<String> {
        fs::read_to_string(self.path(p)).ok()
    }

    /// `linkshim install ARGS --root ROOT --bin /usr/bin/linkshim`.
    fn install(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_linkshim"))
            .arg("install")
            .args(args)
            .arg("--root")
            .arg(self.dir.path())
            .args(["--bin", "/usr/bin/linkshim"])
            .env("LINKSHIM_CONFIG", "/nonexistent/linkshim.toml")
            .env("HOME", "/home/u")
            .env("XDG_RUNTIME_DIR", "/run/user/1000")
            .env_remove("XDG_CONFIG_HOME")
            .output()
            .unwrap()
    }

    /// [`Root::install`], which must succeed; its stdout.
    fn install_ok(&self, args: &[&str]) -> String {
        let out = self.install(args);
        assert!(
            out.status.success(),
            "install {args:?}: {}\n{}",
            String::from_utf8_lossy(&out.stderr),
            String::from_utf8_lossy(&out.stdout)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// Every file under the root but the binaries, with its content.
    fn files(&self) -> Vec<(PathBuf, String)> {
        fn walk(root: &Path, p: &Path, out: &mut Vec<(PathBuf, String)>) {
            for e in fs::read_dir(p).unwrap() {
                let e = e.unwrap();
                let path = e.path();
                if e.file_type().unwrap().is_dir() {
                    walk(root, &path, out);
                } else if !path.starts_with(root.join("usr/bin")) {
                    let text = fs::read_to_string(&path).unwrap();
                    out.push((path.strip_prefix(root).unwrap().to_path_buf(), text));
                }
            }
        }
        let mut v = Vec::new();
        walk(self.dir.path(), self.dir.path(), &mut v);
        v.sort();
        v
    }
}

/// The lines of `after` that `before` lacks, and those it lost.
fn line_diff(before: &str, after: &str) -> (Vec<String>, Vec<String>) {
    let b: Vec<&str> = before.lines().collect();
    let a: Vec<&str> = after.lines().collect();
    let added = a
        .iter()
        .filter(|l| !b.contains(l))
        .map(|l| l.to_string())
        .collect();
    let lost = b
        .iter()
        .filter(|l| !a.contains(l))
        .map(|l| l.to_string())
        .collect();
    (added, lost)
}

/// Install twice (the second changes nothing), `--dry-run --uninstall`
/// (writes nothing), uninstall (the tree is as before the install).
fn round_trip(root: &Root, args: &[&str]) -> Vec<(PathBuf, String)> {
    let before = root.files();
    let dry = root.install_ok(&[args, &["--dry-run"]].concat());
    assert!(dry.contains("dry run, nothing written"), "{dry}");
    assert_eq!(root.files(), before, "--dry-run wrote something");
    let out = root.install_ok(args);
    assert!(out.contains("+++ "), "no diff printed: {out}");
    let installed = root.files();
    assert_ne!(installed, before);
    let again = root.install_ok(args);
    assert!(
        again.contains("nothing to change (already installed)"),
        "{again}"
    );
    assert_eq!(root.files(), installed, "a second install changed files");
    let dry = root.install_ok(&[args, &["--uninstall", "--dry-run"]].concat());
    assert!(dry.contains("--- "), "{dry}");
    assert_eq!(
        root.files(),
        installed,
        "--dry-run --uninstall wrote something"
    );
    root.install_ok(&[args, &["--uninstall"]].concat());
    assert_eq!(
        root.files(),
        before,
        "uninstall did not give the files back"
    );
    let again = root.install_ok(&[args, &["--uninstall"]].concat());
    assert!(
        again.contains("nothing to change (already uninstalled)"),
        "{again}"
    );
    installed
}

#[test]
fn podman_system_with_the_named_runtime_on_the_default_containers_conf() {
    let root = Root::new();
    let conf = Fixture::read("podman-4.3-containers.conf");
    root.put("/etc/containers/containers.conf", &conf);
    let installed = round_trip(&root, &["podman", "--named-runtime"]);
    assert_eq!(installed.len(), 2, "{installed:#?}");
    // Re-install to look at the files.
    root.install_ok(&["podman", "--named-runtime"]);
    let after = root.read("/etc/containers/containers.conf").unwrap();
    let (added, lost) = line_diff(&conf, &after);
    assert_eq!(added, ["linkshim = [\"/usr/bin/linkshim-runtime\"]"]);
    assert!(lost.is_empty(), "{lost:?}");
    // In [engine.runtimes], right under its header.
    assert!(after.contains("[engine.runtimes]\nlinkshim = "), "{after}");
    let hook: serde_json::Value = serde_json::from_str(
        &root
            .read("/etc/containers/oci/hooks.d/linkshim.json")
            .unwrap(),
    )
    .unwrap();
    let package: serde_json::Value =
        serde_json::from_str(&repo_file("hooks/linkshim.json")).unwrap();
    assert_eq!(
        hook, package,
        "the package's hooks file, for /usr/bin/linkshim"
    );
}

#[test]
fn podman_with_the_packages_hooks_file_needs_nothing() {
    let root = Root::new();
    root.put(
        "/usr/share/containers/oci/hooks.d/linkshim.json",
        &repo_file("hooks/linkshim.json"),
    );
    let out = root.install_ok(&["podman"]);
    assert!(
        out.contains("nothing to change (already installed)"),
        "{out}"
    );
    let out = root.install_ok(&["podman", "--uninstall"]);
    assert!(out.contains("belongs to the linkshim package"), "{out}");
    assert!(
        root.read("/usr/share/containers/oci/hooks.d/linkshim.json")
            .is_some()
    );
}

#[test]
fn podman_follows_a_configured_hooks_dir() {
    let root = Root::new();
    root.put(
        "/etc/containers/containers.conf",
        "[engine]\nhooks_dir = [\"/opt/hooks.d\"]\n",
    );
    root.install_ok(&["podman"]);
    assert!(root.read("/opt/hooks.d/linkshim.json").is_some());
    assert!(
        root.read("/etc/containers/oci/hooks.d/linkshim.json")
            .is_none()
    );
}

#[test]
fn podman_rootless_user_gets_a_hooks_dir_and_a_state_dir_of_their_own() {
    let root = Root::new();
    let installed = round_trip(&root, &["podman", "--user"]);
    let conf = &installed
        .iter()
        .find(|(p, _)| p.ends_with("home/u/.config/containers/containers.conf"))
        .expect("the user's containers.conf")
        .1;
    let doc: toml::Table = toml::from_str(conf).unwrap();
    assert_eq!(
        doc["engine"]["hooks_dir"],
        toml::Value::Array(
            [
                "/usr/share/containers/oci/hooks.d",
                "/etc/containers/oci/hooks.d",
                "/home/u/.config/containers/oci/hooks.d",
            ]
            .map(|s| toml::Value::String(s.into()))
            .to_vec()
        )
    );
    let hook = &installed
        .iter()
        .find(|(p, _)| p.ends_with("home/u/.config/containers/oci/hooks.d/linkshim.json"))
        .expect("the user's hooks file")
        .1;
    let hook: serde_json::Value = serde_json::from_str(hook).unwrap();
    assert_eq!(
        hook["hook"]["args"],
        serde_json::json!([
            "linkshim",
            "--state-dir",
            "/run/user/1000/linkshim",
            "hook",
            "precreate"
        ])
    );
}

#[test]
fn containerd_default_config_gets_binary_name_and_nothing_else() {
    let root = Root::new();
    let conf = Fixture::read("containerd-1.6-config-default.toml");
    root.put("/etc/containerd/config.toml", &conf);
    round_trip(&root, &["containerd"]);
    root.install_ok(&["containerd"]);
    let after = root.read("/etc/containerd/config.toml").unwrap();
    let (added, lost) = line_diff(&conf, &after);
    assert_eq!(
        added,
        ["            BinaryName = \"/usr/bin/linkshim-runtime\""]
    );
    assert_eq!(lost, ["            BinaryName = \"\""]);
}

#[test]
fn containerd_debian_config_keeps_its_lines_and_gets_a_typed_runc() {
    let root = Root::new();
    let conf = Fixture::read("containerd-1.6-debian-config.toml");
    root.put("/etc/containerd/config.toml", &conf);
    root.install_ok(&["containerd"]);
    let after = root.read("/etc/containerd/config.toml").unwrap();
    let (_, lost) = line_diff(&conf, &after);
    assert!(lost.is_empty(), "{lost:?}");
    let doc: toml::Table = toml::from_str(&after).unwrap();
    let runc = &doc["plugins"]["io.containerd.grpc.v1.cri"]["containerd"]["runtimes"]["runc"];
    assert_eq!(runc["runtime_type"].as_str(), Some("io.containerd.runc.v2"));
    assert_eq!(
        runc["options"]["BinaryName"].as_str(),
        Some("/usr/bin/linkshim-runtime")
    );
    assert_eq!(
        doc["plugins"]["io.containerd.grpc.v1.cri"]["cni"]["bin_dir"].as_str(),
        Some("/usr/lib/cni")
    );
}

#[test]
fn containerd_with_imports_gets_a_drop_in_and_config_toml_stays() {
    let root = Root::new();
    let conf = "version = 2\nimports = [\"/etc/containerd/conf.d/*.toml\"]\n\n# the pause image\n[plugins.\"io.containerd.grpc.v1.cri\"]\n  sandbox_image = \"registry.k8s.io/pause:3.9\"\n";
    root.put("/etc/containerd/config.toml", conf);
    let installed = round_trip(&root, &["containerd"]);
    assert_eq!(root.read("/etc/containerd/config.toml").unwrap(), conf);
    let drop_in = &installed
        .iter()
        .find(|(p, _)| p.ends_with("etc/containerd/conf.d/linkshim.toml"))
        .expect("the drop-in")
        .1;
    let doc: toml::Table = toml::from_str(drop_in).unwrap();
    let cri = &doc["plugins"]["io.containerd.grpc.v1.cri"];
    // containerd 1.x replaces the CRI section whole: the drop-in keeps the rest.
    assert_eq!(
        cri["sandbox_image"].as_str(),
        Some("registry.k8s.io/pause:3.9")
    );
    assert_eq!(
        cri["containerd"]["runtimes"]["runc"]["options"]["BinaryName"].as_str(),
        Some("/usr/bin/linkshim-runtime")
    );
}

#[test]
fn containerd_2_config_uses_the_cri_runtime_plugin() {
    let root = Root::new();
    root.put(
        "/etc/containerd/config.toml",
        "version = 3\n\n[plugins.'io.containerd.cri.v1.runtime'.containerd]\n  default_runtime_name = 'runc'\n",
    );
    root.install_ok(&["containerd"]);
    let doc: toml::Table =
        toml::from_str(&root.read("/etc/containerd/config.toml").unwrap()).unwrap();
    let plugin = &doc["plugins"]["io.containerd.cri.v1.runtime"]["containerd"];
    assert_eq!(plugin["default_runtime_name"].as_str(), Some("runc"));
    assert_eq!(
        plugin["runtimes"]["runc"]["options"]["BinaryName"].as_str(),
        Some("/usr/bin/linkshim-runtime")
    );
}

#[test]
fn crio_gets_a_drop_in_and_crio_conf_stays() {
    let root = Root::new();
    let conf = Fixture::read("crio-1.28-crio.conf");
    root.put("/etc/crio/crio.conf", &conf);
    let installed = round_trip(&root, &["crio"]);
    assert_eq!(root.read("/etc/crio/crio.conf").unwrap(), conf);
    let drop_in = &installed
        .iter()
        .find(|(p, _)| p.ends_with("etc/crio/crio.conf.d/99-linkshim.conf"))
        .expect("the drop-in")
        .1;
    let doc: toml::Table = toml::from_str(drop_in).unwrap();
    let rt = &doc["crio"]["runtime"]["runtimes"]["linkshim"];
    assert_eq!(
        rt["runtime_path"].as_str(),
        Some("/usr/bin/linkshim-runtime")
    );
    assert_eq!(rt["runtime_type"].as_str(), Some("oci"));
    // Merged as CRI-O reads them, both runtimes are there.
    let main: toml::Table = toml::from_str(&conf).unwrap();
    assert!(main["crio"]["runtime"]["runtimes"].get("crun").is_some());
}

#[test]
fn docker_gets_a_runtime_and_keeps_every_other_key_in_order() {
    let root = Root::new();
    let conf = Fixture::read("docker-daemon.json");
    root.put("/etc/docker/daemon.json", &conf);
    round_trip(&root, &["docker"]);
    root.install_ok(&["docker"]);
    let after = root.read("/etc/docker/daemon.json").unwrap();
    let a: serde_json::Value = serde_json::from_str(&after).unwrap();
    let mut b: serde_json::Value = serde_json::from_str(&conf).unwrap();
    b["runtimes"]["linkshim"] = serde_json::json!({"path": "/usr/bin/linkshim-runtime"});
    assert_eq!(a, b);
    let keys: Vec<&String> = a.as_object().unwrap().keys().collect();
    let want: Vec<&String> = b.as_object().unwrap().keys().collect();
    assert_eq!(keys, want, "key order");
}

#[test]
fn docker_with_no_daemon_json_gets_one() {
    let root = Root::new();
    round_trip(&root, &["docker"]);
}

#[test]
fn a_broken_config_is_refused_and_nothing_is_written() {
    let cases: &[(&str, &str, &str, &str)] = &[
        (
            "containerd",
            "/etc/containerd/config.toml",
            "version = 2\n[plugins\n",
            "not valid TOML",
        ),
        (
            "containerd",
            "/etc/containerd/config.toml",
            "[plugins.cri]\nx = 1\n",
            "config version 1",
        ),
        (
            "docker",
            "/etc/docker/daemon.json",
            "{\"log-driver\": ",
            "not valid JSON",
        ),
        (
            "docker",
            "/etc/docker/daemon.json",
            "{\"runtimes\": 3}",
            "\"runtimes\" is not an object",
        ),
        (
            "podman",
            "/etc/containers/containers.conf",
            "[engine\n",
            "not valid TOML",
        ),
    ];
    for (engine, path, text, why) in cases {
        let root = Root::new();
        root.put(path, text);
        let before = root.files();
        let out = root.install(&[engine]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{engine} {text:?}: {stderr}");
        assert!(
            stderr.contains(why) && stderr.contains(path),
            "{engine} {text:?}: {stderr}"
        );
        assert_eq!(
            root.files(),
            before,
            "{engine} {text:?}: something was written"
        );
    }
}

#[test]
fn a_symlinked_config_is_refused() {
    let root = Root::new();
    root.put("/elsewhere/daemon.json", "{}\n");
    fs::create_dir_all(root.path("/etc/docker")).unwrap();
    symlink(
        "/elsewhere/daemon.json",
        root.path("/etc/docker/daemon.json"),
    )
    .unwrap();
    let out = root.install(&["docker"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("is a symlink"));
    assert_eq!(root.read("/elsewhere/daemon.json").unwrap(), "{}\n");
}

#[test]
fn a_missing_wrapper_is_an_error_with_the_fix() {
    let root = Root::new();
    fs::remove_file(root.path("/usr/bin/linkshim-runtime")).unwrap();
    let out = root.install(&["docker"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("linkshim-runtime") && stderr.contains("--bin"),
        "{stderr}"
    );
    assert!(root.read("/etc/docker/daemon.json").is_none());
}

/// A file of the repository.
fn repo_file(path: &str) -> String {
    fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(path)).unwrap()
}
