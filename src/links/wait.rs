//! A linker's links at its create, under each link's start policy
//! (`?optional`, `?wait=10s`), and the bounded wait behind `?wait`, woken
//! by the registry's own writes.
//!
//! The state directory is watched with inotify before the first check, so
//! no write between the check and the wait is missed: every registration
//! writes `registry.db-wal` (or the database) there. Each write wakes the
//! waiter, which checks again; the wait ends at the first check that
//! succeeds, or at the bound, never later. Without inotify (an old kernel,
//! a file system that has none) it checks every few milliseconds.

use std::os::fd::AsFd;
use std::path::Path;
use std::time::{Duration, Instant};

use log::info;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};

use super::resolve::{self, Error, Resolved};
use crate::model::{LinkRequest, Name, StartPolicy};
use crate::registry::{Backend, Store};

/// Resolve the links of `linker` (of `scope`) for its create: a target
/// that is not running fails a `required` link, is left out of an
/// `optional` one (its hosts line comes when it starts: the linker's
/// record keeps the link, so the refresh finds it), and is waited for by a
/// `wait` one, up to its bound, watching the registry in `state_dir`
/// (None: a dry run, which never waits, and leaves the target out as an
/// optional link's). Any other failure fails the create.
pub fn resolve_at_start(
    reg: &mut dyn Store,
    state_dir: Option<&Path>,
    linker: &Name,
    scope: &Name,
    links: &[LinkRequest],
    persist_dir: Option<&Path>,
) -> Result<Vec<Resolved>, Error> {
    let each = resolve::resolve_each(reg, linker, scope, links, persist_dir)?;
    let mut out = Vec::with_capacity(links.len());
    for (request, result) in links.iter().zip(each) {
        match (result, request.policy) {
            (Ok(r), _) => out.push(r),
            (Err(Error::Missing { .. }), StartPolicy::Optional) => info!(
                "container {:?}: link \"{request}\": {:?} is not running; starting without it (its hosts line comes when it starts; no variables)",
                linker.as_str(),
                request.target.as_str()
            ),
            (Err(Error::Missing { .. }), StartPolicy::Wait(bound)) if state_dir.is_none() => info!(
                "container {:?}: link \"{request}\": {:?} is not running; a create would wait up to {bound:?} for it",
                linker.as_str(),
                request.target.as_str()
            ),
            (
                Err(Error::Missing {
                    target,
                    scope: in_scope,
                    ..
                }),
                StartPolicy::Wait(bound),
            ) => {
                let state_dir = state_dir.expect("a dry run never gets here");
                let start = Instant::now();
                let one = std::slice::from_ref(request);
                let found = until(state_dir, bound, || {
                    match resolve::resolve_each(reg, linker, scope, one, persist_dir)?.pop() {
                        Some(Ok(r)) => Ok(Some(r)),
                        Some(Err(Error::Missing { .. })) | None => Ok(None),
                        Some(Err(e)) => Err(e),
                    }
                })?;
                match found {
                    Some(r) => {
                        info!(
                            "container {:?}: link \"{request}\": waited {:?} for {target:?}",
                            linker.as_str(),
                            start.elapsed()
                        );
                        out.push(r);
                    }
                    None => {
                        return Err(Error::NotStarted {
                            link: request.to_string(),
                            target,
                            scope: in_scope,
                            bound,
                        });
                    }
                }
            }
            (Err(e), _) => return Err(e),
        }
    }
    Ok(out)
}

/// How often to check when inotify is not available.
const FALLBACK_TICK: Duration = Duration::from_millis(5);
/// How often a wait asks a registry on etcd again.
const ETCD_TICK: Duration = Duration::from_millis(100);

/// Call `check` until it gives `Some`, the registry in `state_dir` having
/// changed in between, for at most `bound`; `None` at the bound.
pub fn until<T, E>(
    state_dir: &Path,
    bound: Duration,
    check: impl FnMut() -> Result<Option<T>, E>,
) -> Result<Option<T>, E> {
    // A registry on etcd is written by other hosts, never in the state
    // directory: it is asked again every ETCD_TICK instead.
    let local = !matches!(crate::registry::backend(), Backend::Etcd(_));
    let tick = if local { FALLBACK_TICK } else { ETCD_TICK };
    until_in(local.then_some(state_dir), bound, tick, check)
}

/// Call `check` until it gives `Some`, for at most `bound`; in between,
/// wait for a change in `dir` (inotify), or `tick` without one (no `dir`,
/// or no inotify). `None` at the bound.
pub fn until_in<T, E>(
    dir: Option<&Path>,
    bound: Duration,
    tick: Duration,
    mut check: impl FnMut() -> Result<Option<T>, E>,
) -> Result<Option<T>, E> {
    let deadline = Instant::now() + bound;
    let watch = dir
        .and_then(|d| {
            Some((
                d,
                Inotify::init(InitFlags::IN_CLOEXEC | InitFlags::IN_NONBLOCK).ok()?,
            ))
        })
        .filter(|(dir, i)| {
            i.add_watch(
                *dir,
                AddWatchFlags::IN_MODIFY
                    | AddWatchFlags::IN_CREATE
                    | AddWatchFlags::IN_MOVED_TO
                    | AddWatchFlags::IN_CLOSE_WRITE,
            )
            .is_ok()
        })
        .map(|(_, i)| i);
    loop {
        if let Some(found) = check()? {
            return Ok(Some(found));
        }
        let now = Instant::now();
        if now >= deadline {
            return Ok(None);
        }
        let left = deadline - now;
        match &watch {
            Some(ino) => {
                // Rounded up, so the last wait does not spin below 1 ms.
                let ms = PollTimeout::try_from(left + Duration::from_micros(999))
                    .unwrap_or(PollTimeout::MAX);
                let mut fds = [PollFd::new(ino.as_fd(), PollFlags::POLLIN)];
                let _ = poll(&mut fds, ms);
                // Drain: one check covers every write so far.
                while ino.read_events().is_ok_and(|e| !e.is_empty()) {}
            }
            None => std::thread::sleep(left.min(tick)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_write_in_the_directory_ends_the_wait_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let flag = dir.path().join("registry.db-wal");
        let writer = {
            let flag = flag.clone();
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(200));
                std::fs::write(flag, "x").unwrap();
            })
        };
        let start = Instant::now();
        let got: Result<Option<()>, ()> = until(dir.path(), Duration::from_secs(30), || {
            Ok(flag.exists().then_some(()))
        });
        writer.join().unwrap();
        assert_eq!(got, Ok(Some(())));
        // Far under the 30 s bound: the write woke it (no timing asserted
        // beyond that).
        assert!(start.elapsed() < Duration::from_secs(20));
    }

    #[test]
    fn nothing_comes_and_the_bound_ends_it() {
        let dir = tempfile::tempdir().unwrap();
        let mut checks = 0;
        let start = Instant::now();
        let got: Result<Option<()>, ()> = until(dir.path(), Duration::from_millis(100), || {
            checks += 1;
            Ok(None)
        });
        assert_eq!(got, Ok(None));
        assert!(start.elapsed() >= Duration::from_millis(100));
        assert!(checks >= 2, "checked first and at the bound: {checks}");
    }

    #[test]
    fn an_error_from_the_check_ends_it() {
        let dir = tempfile::tempdir().unwrap();
        let got: Result<Option<()>, &str> =
            until(dir.path(), Duration::from_secs(5), || Err("broken"));
        assert_eq!(got, Err("broken"));
    }
}
