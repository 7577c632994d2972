//! Live hosts refresh: when a target starts (perhaps on a new address) or
//! stops, the hosts files of the running containers that link to it are
//! rendered again, so a name follows its container (or a service its
//! replicas) instead of going stale as Docker's links did.
//!
//! Link variables cannot follow: a process's environment is fixed at its
//! start. Only /etc/hosts does.
//!
//! A hosts file is bind-mounted as a file, so it is rewritten in place (the
//! same inode), not replaced by rename: written from offset 0, then cut to
//! its new length. A reader in that instant may see a mix, as with the
//! engines that write /etc/hosts themselves.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use log::debug;

use crate::links::resolve;
use crate::registry::{Record, Registry};
use crate::render::hosts;
use crate::state_dir;

/// Render again the hosts files of every linker of `target`. Best effort:
/// one linker's failure does not stop the others; the failures are returned.
pub fn linkers_of(
    state: &Path,
    persist: Option<&Path>,
    reg: &mut Registry,
    target: &Record,
) -> Vec<String> {
    let mut names = vec![target.name.as_str()];
    names.extend(target.service.as_ref().map(|s| s.as_str()));
    let linkers = match reg.linkers_of(&names) {
        Ok(l) => l,
        Err(e) => return vec![e.to_string()],
    };
    let mut errors = Vec::new();
    for (linker, token) in linkers {
        if linker.id == target.id {
            continue;
        }
        let Some(file) = state_dir::hosts_file(state, &token) else {
            continue;
        };
        let lines = current_lines(reg, persist, &linker);
        debug!(
            "refresh for {:?}: linker {:?}, hosts file {}",
            target.name.as_str(),
            linker.name.as_str(),
            file.display()
        );
        // A linker without links has no hosts file: nothing to refresh.
        match rewrite_in_place(&file, &lines) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => errors.push(format!(
                "linker {:?}: {}: {e}",
                linker.name.as_str(),
                file.display()
            )),
            _ => {}
        }
    }
    errors
}

/// The hosts lines of `linker`'s links as they resolve now; a link whose
/// target is gone gives none.
fn current_lines(reg: &mut Registry, persist: Option<&Path>, linker: &Record) -> Vec<hosts::Line> {
    let resolved: Vec<_> = resolve::resolve_each(reg, &linker.name, &linker.links, persist)
        .map(|each| each.into_iter().filter_map(Result::ok).collect())
        .unwrap_or_default();
    resolve::render(linker.name.as_str(), &resolved).hosts
}

/// Replace linkshim's block of the hosts file at `path`, keeping its inode.
pub fn rewrite_in_place(path: &Path, lines: &[hosts::Line]) -> std::io::Result<()> {
    let mut file = File::options()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)?;
    if !file.metadata()?.is_file() {
        return Err(std::io::Error::other("not a regular file"));
    }
    let mut text = String::new();
    (&mut file).take(1 << 20).read_to_string(&mut text)?;
    let new = hosts::render(&text, lines);
    if new == text {
        debug!("hosts file {}: unchanged", path.display());
        return Ok(());
    }
    file.seek(SeekFrom::Start(0))?;
    file.write_all(new.as_bytes())?;
    file.set_len(new.len() as u64)?;
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
