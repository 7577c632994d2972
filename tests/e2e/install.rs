//! `linkshim install` checked by the engines themselves: what it writes
//! into containerd's config (in place, or as a drop-in config.toml
//! imports) is what `containerd config dump` reads back.
//!
//! podman reading what install wrote (the named runtime, the package's
//! hooks file) is checked with the package installed, in `package::`.

use std::fs;
use std::os::unix::fs::symlink;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use testkit::*;

const T: Duration = Duration::from_secs(60);

/// A tree with linkshim at `<root>/bin/linkshim` (and the wrapper link),
/// configured with `--root / --bin <root>/bin/linkshim` so the paths it
/// writes are real on this machine.
fn tree() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join("bin");
    fs::create_dir_all(&bin).unwrap();
    symlink(linkshim_bin(), bin.join("linkshim")).unwrap();
    symlink("linkshim", bin.join("linkshim-runtime")).unwrap();
    dir
}

fn install(dir: &Path, config: &Path, extra: &[&str]) -> String {
    run_ok(
        Command::new(linkshim_bin())
            .args(["install", "containerd", "--root", "/", "--config"])
            .arg(config)
            .arg("--bin")
            .arg(dir.join("bin/linkshim"))
            .args(extra)
            .env("LINKSHIM_CONFIG", NO_CONFIG),
        T,
    )
}

/// `containerd --config FILE config dump`: the merged config containerd uses.
fn dump(config: &Path) -> String {
    run_ok(
        Command::new("containerd")
            .arg("--config")
            .arg(config)
            .args(["config", "dump"]),
        T,
    )
}

/// CRI's runc `BinaryName` in a dumped config.
fn binary_name(dump: &str) -> Option<String> {
    let doc: toml::Table = toml::from_str(dump).unwrap_or_else(|e| panic!("{e}: {dump}"));
    doc.get("plugins")?
        .get("io.containerd.grpc.v1.cri")?
        .get("containerd")?
        .get("runtimes")?
        .get("runc")?
        .get("options")?
        .get("BinaryName")?
        .as_str()
        .map(str::to_string)
}

pub fn containerd_reads_what_install_wrote() {
    let dir = tree();
    let wrapper = dir
        .path()
        .join("bin/linkshim-runtime")
        .display()
        .to_string();

    // In place, on the machine's default config (`containerd config default`).
    let config = dir.path().join("config.toml");
    let default = run_ok(Command::new("containerd").args(["config", "default"]), T);
    fs::write(&config, &default).unwrap();
    install(dir.path(), &config, &[]);
    let d = dump(&config);
    assert_eq!(binary_name(&d).as_deref(), Some(wrapper.as_str()), "{d}");
    install(dir.path(), &config, &["--uninstall"]);
    assert_eq!(fs::read_to_string(&config).unwrap(), default);
    assert_eq!(binary_name(&dump(&config)).as_deref(), Some(""));

    // A drop-in config.toml imports: the CRI settings of config.toml stay.
    let conf_d = dir.path().join("conf.d");
    let config = dir.path().join("imports.toml");
    let text = format!(
        "version = 2\nimports = [\"{}/*.toml\"]\n\n[plugins.\"io.containerd.grpc.v1.cri\"]\n  sandbox_image = \"registry.example/pause:3.9\"\n",
        conf_d.display()
    );
    fs::write(&config, &text).unwrap();
    install(dir.path(), &config, &[]);
    assert!(conf_d.join("linkshim.toml").is_file());
    assert_eq!(fs::read_to_string(&config).unwrap(), text);
    let d = dump(&config);
    assert_eq!(binary_name(&d).as_deref(), Some(wrapper.as_str()), "{d}");
    assert!(d.contains("registry.example/pause:3.9"), "{d}");
    install(dir.path(), &config, &["--uninstall"]);
    assert!(!conf_d.join("linkshim.toml").exists());
    assert_eq!(binary_name(&dump(&config)).as_deref(), Some(""));
}
