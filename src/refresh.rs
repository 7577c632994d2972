//! Live hosts refresh: when a target starts (perhaps on a new address) or
//! stops, the hosts files of the running containers that link to it are
//! rendered again, so a name follows its container (or a service its
//! replicas) instead of going stale as Docker's links did.
//!
//! Link variables cannot follow: a process's environment is fixed at its
//! start. Only /etc/hosts does.
//!
//! A hosts file is bind-mounted as a file, so it is rewritten in place (the
//! same inode), not replaced by rename, in steps a crash at any byte leaves
//! readable (`hosts_file`). Each linker's refresh holds its hosts file's
//! lock from before it reads the registry until it has written, so two
//! targets starting at once both end up in the file.

use std::path::Path;

use log::debug;

use crate::hosts_file;
use crate::links::resolve;
use crate::registry::{Record, Store};
use crate::render::hosts;
use crate::state_dir;

/// Render again the hosts files of every linker of `target`. Best effort:
/// one linker's failure does not stop the others; the failures are returned.
pub fn linkers_of(
    state: &Path,
    persist: Option<&Path>,
    reg: &mut dyn Store,
    target: &Record,
) -> Vec<String> {
    let mut names = vec![target.name.as_str()];
    names.extend(target.service.as_ref().map(|s| s.as_str()));
    // Those that name it, and those that name it by its id (or a prefix).
    let by_id = reg.linkers_by_id(target.scope.as_str(), target.id.as_str());
    let linkers = match reg
        .linkers_of(target.scope.as_str(), &names)
        .and_then(|mut l| {
            for (rec, token) in by_id? {
                if !l.iter().any(|(r, _)| r.id == rec.id) {
                    l.push((rec, token));
                }
            }
            Ok(l)
        }) {
        Ok(l) => l,
        Err(e) => return vec![e.to_string()],
    };
    let mut errors = Vec::new();
    for (linker, token) in linkers {
        if linker.id == target.id {
            continue;
        }
        debug!(
            "refresh for {:?}: linker {:?}",
            target.name.as_str(),
            linker.name.as_str()
        );
        if let Err(e) = linker_file(state, persist, reg, &linker, &token) {
            errors.push(e);
        }
    }
    errors
}

/// Render again the hosts file of `linker`, which runs under `token`.
/// A linker without a hosts file (created without links) has nothing to
/// render: Ok(false). Ok(true) when its file was rendered.
pub fn linker_file(
    state: &Path,
    persist: Option<&Path>,
    reg: &mut dyn Store,
    linker: &Record,
    token: &str,
) -> Result<bool, String> {
    let Some(file) = state_dir::hosts_file(state, token) else {
        return Ok(false);
    };
    // A linker without links has no hosts file: nothing to refresh.
    if std::fs::symlink_metadata(&file).is_err() {
        return Ok(false);
    }
    let failed =
        |e: std::io::Error| format!("linker {:?}: {}: {e}", linker.name.as_str(), file.display());
    let _lock = hosts_file::lock(&file, hosts_file::LOCK_WAIT).map_err(failed)?;
    // Its poststop may have removed the file meanwhile: then the lock
    // file this made goes too.
    if std::fs::symlink_metadata(&file).is_err() {
        let _ = std::fs::remove_file(hosts_file::lock_path(&file));
        return Ok(false);
    }
    // Read under the lock: what every refresh before this one saw.
    let lines = current_lines(reg, persist, linker);
    debug!(
        "linker {:?}: hosts file {}",
        linker.name.as_str(),
        file.display()
    );
    match rewrite_in_place(&file, &lines) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(failed(e)),
        _ => Ok(true),
    }
}

/// The hosts lines of `linker`'s links as they resolve now; a link whose
/// target is gone gives none.
fn current_lines(reg: &mut dyn Store, persist: Option<&Path>, linker: &Record) -> Vec<hosts::Line> {
    let mut resolved: Vec<_> =
        resolve::resolve_each(reg, &linker.name, &linker.scope, &linker.links, persist)
            .map(|each| each.into_iter().filter_map(Result::ok).collect())
            .unwrap_or_default();
    let from = crate::model::Vantage {
        host: linker.host_net,
        nets: linker.nets.clone(),
    };
    // A target it cannot reach (now) gives no line.
    for e in resolve::narrow(&mut resolved, &from) {
        debug!("refresh for {:?}: {e}", linker.name.as_str());
    }
    resolve::hosts(linker.name.as_str(), &resolved)
}

/// Read again the addresses of every running container (or those named
/// `names`) in its network namespace, as `podman network connect` and
/// `disconnect` change them without running any hook; for each whose
/// addresses changed, store them and render again its linkers' hosts files
/// and its own. Returns the containers that changed and the failures.
pub fn addresses(
    state: &Path,
    persist: Option<&Path>,
    reg: &mut dyn Store,
    names: &[String],
) -> (Vec<Record>, Vec<String>) {
    let records = match reg.list() {
        Ok(r) => r,
        Err(e) => return (vec![], vec![e.to_string()]),
    };
    let mut changed = Vec::new();
    let mut errors = Vec::new();
    for mut rec in records {
        if !names.is_empty() && !names.iter().any(|n| n == rec.name.as_str()) {
            continue;
        }
        let Some(pid) = rec.pid else { continue };
        // Only the registered process itself (on a registry shared by
        // hosts, another host's pid names nothing here).
        if rec.pid_start.is_some() && crate::registry::pid_start_time(pid) != rec.pid_start {
            continue;
        }
        let path = std::path::PathBuf::from(format!("/proc/{pid}/ns/net"));
        let nets = match crate::netns::addresses(&path) {
            Ok(n) => n,
            Err(e) => {
                errors.push(format!("container {:?}: {e}", rec.name.as_str()));
                continue;
            }
        };
        let addrs: Vec<_> = nets.iter().map(|n| n.ip).collect();
        match reg.set_addrs(rec.id.as_str(), &addrs, &nets) {
            Ok(false) => continue,
            Ok(true) => {}
            Err(e) => {
                errors.push(format!("container {:?}: {e}", rec.name.as_str()));
                continue;
            }
        }
        debug!("container {:?}: addresses now {addrs:?}", rec.name.as_str());
        (rec.addrs, rec.nets) = (addrs, nets);
        errors.extend(linkers_of(state, persist, reg, &rec));
        match reg.token_of(rec.id.as_str()) {
            Ok(Some(token)) => {
                if let Err(e) = linker_file(state, persist, reg, &rec, &token) {
                    errors.push(e);
                }
            }
            Ok(None) => {}
            Err(e) => errors.push(e.to_string()),
        }
        changed.push(rec);
    }
    (changed, errors)
}

/// Replace linkshim's block of the hosts file at `path`, keeping its inode.
pub fn rewrite_in_place(path: &Path, lines: &[hosts::Line]) -> std::io::Result<()> {
    if !hosts_file::rewrite(path, lines)? {
        debug!("hosts file {}: unchanged", path.display());
        return Ok(());
    }
    debug!(
        "hosts file {}: rewritten with {:?}",
        path.display(),
        lines
            .iter()
            .map(|l| format!("{} {}", l.ip, l.names.join(" ")))
            .collect::<Vec<_>>()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    #[test]
    fn the_block_is_rewritten_on_the_same_inode() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("h");
        let old = hosts::link_lines("db", "abc", "mysql", &["10.0.0.2".parse().unwrap()]);
        std::fs::write(&path, hosts::render("127.0.0.1\tlocalhost\n", &old)).unwrap();
        let ino = std::fs::metadata(&path).unwrap().ino();
        let new = hosts::link_lines("db", "def", "mysql", &["10.0.0.3".parse().unwrap()]);
        rewrite_in_place(&path, &new).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            text.contains("10.0.0.3\tdb def mysql\n") && !text.contains("10.0.0.2"),
            "{text}"
        );
        assert!(text.starts_with("127.0.0.1\tlocalhost\n"));
        assert_eq!(std::fs::metadata(&path).unwrap().ino(), ino);
        rewrite_in_place(&path, &[]).unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "127.0.0.1\tlocalhost\n"
        );
    }

    #[test]
    fn a_symlink_is_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        std::fs::write(&victim, "keep").unwrap();
        let link = dir.path().join("h");
        std::os::unix::fs::symlink(&victim, &link).unwrap();
        assert!(rewrite_in_place(&link, &[]).is_err());
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep");
    }
}
