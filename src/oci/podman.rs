//! The name podman gave a container (`--name`, or `<pod>-<container>` for
//! `kube play`), which podman writes nowhere in config.json: no hostname
//! for a pod member, no name annotation. containers/storage keeps it, in
//! `<graph root>/<driver>-containers/containers.json` beside the layers:
//! the config's `root.path` is `<graph root>/<driver>/<layer>/merged`.
//! The container's id is the hook's (poststart, the wrapper) or, at
//! precreate, the directory podman keeps its `/run/.containerenv` and
//! `/etc/hostname` in (`.../<id>/userdata/`).
//!
//! The config is its creator's, so these paths may point anywhere: the file
//! is read only when it is a regular file (not a symlink) owned by this
//! user and writable by no one else, up to [`MAX_STORE_BYTES`]. What it
//! names passes the name rule like any annotation; a creator could have
//! given the same name with `io.linkshim.name`, so a forged file gains
//! nothing.

use std::io::Read;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use super::config::Config;

/// The largest containers.json read (about 1 KiB per container).
pub const MAX_STORE_BYTES: u64 = 64 << 20;

#[derive(serde::Deserialize)]
struct Stored {
    id: String,
    #[serde(default)]
    names: Vec<String>,
}

/// The name podman gave the container of `config`, whose id is `id` when
/// known; `None` when this is no podman container on a storage driver
/// laid out as above, or anything is amiss.
pub fn container_name(config: &Config, id: Option<&str>) -> Option<String> {
    let id = match id {
        Some(id) => id.to_string(),
        None => id_of(config)?,
    };
    let store = store_of(Path::new(&config.root_path()?))?;
    let text = read_owned(&store)?;
    let stored: Vec<Stored> = serde_json::from_str(&text).ok()?;
    stored
        .into_iter()
        .find(|c| c.id == id)?
        .names
        .into_iter()
        .next()
}

/// The id podman keeps the container's own files under.
fn id_of(config: &Config) -> Option<String> {
    ["/run/.containerenv", "/etc/hostname"]
        .into_iter()
        .filter_map(|dest| config.mount_source(dest))
        .find_map(|src| {
            let userdata = Path::new(&src).parent()?;
            if userdata.file_name()? != "userdata" {
                return None;
            }
            let id = userdata.parent()?.file_name()?.to_str()?;
            is_podman_id(id).then(|| id.to_string())
        })
}

fn is_podman_id(id: &str) -> bool {
    id.len() == 64 && id.bytes().all(|b| b.is_ascii_hexdigit())
}

/// `<graph root>/<driver>-containers/containers.json` of a rootfs at
/// `<graph root>/<driver>/<layer>/merged`.
fn store_of(rootfs: &Path) -> Option<PathBuf> {
    if rootfs.file_name()? != "merged" {
        return None;
    }
    let driver_dir = rootfs.parent()?.parent()?;
    let driver = driver_dir.file_name()?.to_str()?;
    Some(
        driver_dir
            .parent()?
            .join(format!("{driver}-containers"))
            .join("containers.json"),
    )
}

/// The text of `path` when it is a regular file (no symlink followed)
/// owned by this user, writable by no one else, at most MAX_STORE_BYTES.
fn read_owned(path: &Path) -> Option<String> {
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)
        .ok()?;
    let meta = file.metadata().ok()?;
    let me = nix::unistd::geteuid().as_raw();
    if !meta.is_file()
        || meta.uid() != me
        || meta.mode() & 0o022 != 0
        || meta.len() > MAX_STORE_BYTES
    {
        return None;
    }
    let mut text = String::new();
    file.take(MAX_STORE_BYTES).read_to_string(&mut text).ok()?;
    Some(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::os::unix::fs::PermissionsExt;

    const ID: &str = "8dbb42bc8c5ac0d20b134a00b1f9fde1765c9d18be84a79cb9951f305b439aca";

    /// A graph root with one layer and a containers.json, and the config
    /// podman would write for container ID on it.
    fn world(store: &serde_json::Value) -> (tempfile::TempDir, Config) {
        let dir = tempfile::tempdir().unwrap();
        let g = dir.path();
        std::fs::create_dir_all(g.join("overlay/layer1/merged")).unwrap();
        std::fs::create_dir_all(g.join("overlay-containers")).unwrap();
        let file = g.join("overlay-containers/containers.json");
        std::fs::write(&file, store.to_string()).unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
        let cfg = json!({
            "root": {"path": g.join("overlay/layer1/merged")},
            "mounts": [
                {"destination": "/etc/hosts", "source": format!("/run/x/overlay-containers/{}/userdata/hosts", "f".repeat(64))},
                {"destination": "/run/.containerenv", "source": format!("/run/x/overlay-containers/{ID}/userdata/.containerenv")}
            ]
        });
        let config = Config::parse(&cfg.to_string(), Path::new("config.json")).unwrap();
        (dir, config)
    }

    #[test]
    fn the_name_podman_stored_is_found_by_the_id_of_the_containers_own_files() {
        let (dir, config) = world(&json!([
            {"id": "f".repeat(64), "names": ["dbpod-infra"]},
            {"id": ID, "names": ["dbpod-db"], "metadata": "{}", "layer": "x"}
        ]));
        assert_eq!(container_name(&config, None).as_deref(), Some("dbpod-db"));
        assert_eq!(
            container_name(&config, Some(&"f".repeat(64))).as_deref(),
            Some("dbpod-infra"),
            "a known id wins"
        );
        assert_eq!(container_name(&config, Some("nosuch")), None);
        drop(dir);
    }

    #[test]
    fn a_store_that_is_not_the_users_own_regular_file_is_not_read() {
        let (dir, config) = world(&json!([{"id": ID, "names": ["dbpod-db"]}]));
        let file = dir.path().join("overlay-containers/containers.json");
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o666)).unwrap();
        assert_eq!(container_name(&config, None), None, "world-writable");
        let real = dir.path().join("real.json");
        std::fs::rename(&file, &real).unwrap();
        std::fs::set_permissions(&real, std::fs::Permissions::from_mode(0o600)).unwrap();
        std::os::unix::fs::symlink(&real, &file).unwrap();
        assert_eq!(container_name(&config, None), None, "a symlink");
    }

    #[test]
    fn a_config_podman_did_not_write_gives_no_name() {
        let (_dir, config) = world(&json!([{"id": ID, "names": ["dbpod-db"]}]));
        let mut v = config.to_value();
        v["mounts"] = json!([{"destination": "/run/.containerenv", "source": "/run/x/abc/userdata/.containerenv"}]);
        let other = Config::parse(&v.to_string(), Path::new("c")).unwrap();
        assert_eq!(container_name(&other, None), None, "no podman id");
        v["root"] = json!({"path": "/nowhere/rootfs"});
        let other = Config::parse(&v.to_string(), Path::new("c")).unwrap();
        assert_eq!(container_name(&other, Some(ID)), None, "no overlay layout");
    }
}
