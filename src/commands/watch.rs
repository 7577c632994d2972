//! `linkshim watch`: live refresh across hosts. It holds one etcd watch on
//! the names of every scope and, when a container starts, moves or stops
//! on any host, renders again the hosts files of this host's linkers of it
//! (the same crash-safe, in-place rewrite as a refresh on one host,
//! `refresh`). It first renders every linker of this host again (so what
//! changed while it was not running is caught up), then follows from that
//! revision; a broken watch is caught up and followed again. A small
//! service per host (`packaging/linkshim-watch.service`); one host needs
//! none (its own hooks refresh its linkers).

use std::path::Path;
use std::time::Duration;

use anyhow::bail;
use log::{debug, info, warn};

use crate::refresh;
use crate::registry::etcd::{EtcdStore, Watcher};
use crate::registry::{self, Backend};

/// How long to wait before following again after a broken watch.
const AGAIN: Duration = Duration::from_secs(1);

/// Follow the registry until killed; an error only when it cannot start.
pub fn run(state_dir: &Path, persist_dir: &Path) -> anyhow::Result<()> {
    let Backend::Etcd(settings) = registry::backend() else {
        bail!(
            "linkshim watch follows a registry on etcd (registry = \"etcd\" in the config file); on one host the hooks refresh hosts files themselves"
        );
    };
    let mut store = EtcdStore::open(settings)?;
    let watcher = Watcher::new(settings)?;
    info!(
        "watching {} for this host's ({}) linkers in {}",
        registry::Store::describe(&store),
        settings.host_id,
        state_dir.display()
    );
    loop {
        let from = match watcher.revision() {
            Ok(r) => r,
            Err(e) => {
                warn!("{e}; trying again");
                std::thread::sleep(AGAIN);
                continue;
            }
        };
        catch_up(state_dir, persist_dir, &mut store);
        let followed = watcher.follow(from + 1, |target| {
            debug!(
                "change: {:?} in scope {:?}",
                target.name.as_str(),
                target.scope.as_str()
            );
            for e in refresh::linkers_of(state_dir, Some(persist_dir), &mut store, &target) {
                warn!("hosts refresh: {e}");
            }
        });
        if let Err(e) = followed {
            warn!("{e}; catching up and following again");
            std::thread::sleep(AGAIN);
        }
    }
}

/// Render every linker of this host again.
fn catch_up(state_dir: &Path, persist_dir: &Path, store: &mut EtcdStore) {
    let linkers = match store.local_linkers() {
        Ok(l) => l,
        Err(e) => {
            warn!("catching up: {e}");
            return;
        }
    };
    for (linker, token) in linkers {
        if let Err(e) = refresh::linker_file(state_dir, Some(persist_dir), store, &linker, &token) {
            warn!("hosts refresh: {e}");
        }
    }
}
