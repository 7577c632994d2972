//! The one engine behind both ways in (precreate hook and runtime wrapper):
//! annotations -> resolve (registry) -> render -> modify.
//!
//! Everything is validated and resolved before the config changes; the
//! only thing written outside the config is the linker's hosts file, under
//! the state directory, atomically.
//!
//! A dry run (`Mode::DryRun`, for `linkshim explain`) goes through the same
//! steps and edits the config in memory the same way, but writes nothing:
//! the registry is opened read-only (`registry::open_read_only`), no state
//! directory is created, no replica slot is reserved (the index it would
//! get is read), the hosts file is rendered but not written, and not held.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use log::debug;

use crate::links::annotation::{self, Name};
use crate::links::resolve;
use crate::model::share::Policy;
use crate::model::{ContainerId, IdError};
use crate::modify;
use crate::oci::config::{self, Config};
use crate::registry::{self, Store};
use crate::render::hosts;
use crate::state_dir;

/// Where a container is being prepared.
#[derive(Debug, Clone)]
pub struct Context<'a> {
    pub state_dir: &'a Path,
    /// The linkshim binary the added hooks run.
    pub exe: &'a Path,
    /// The bundle, when known (wrapper mode): relative rootfs paths are under it.
    pub bundle: Option<&'a Path>,
    /// The container id, when known (wrapper mode).
    pub id: Option<&'a str>,
    /// Where persistent resources live (`linkshim resource add --persist`).
    pub persist_dir: Option<&'a Path>,
    /// What targets may cascade as `<P>_ENV_*` (`share_env =` in the config file).
    pub share_env: Policy,
    /// Where the linker stands on the network, when the caller read it
    /// already (the precreate hook, before it drops the capabilities that
    /// needs); else it is read here ([`vantage`]).
    pub linker: Option<&'a crate::model::Vantage>,
}

/// Whether prepare writes anything outside the config.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// What a create does: reserve the replica slot, write the hosts file
    /// and hold it.
    Apply,
    /// Decide and edit the config alike, write nothing (see the module doc).
    DryRun,
}

/// What prepare decided for a container with linkshim annotations.
#[derive(Debug, Clone)]
pub struct Plan {
    pub name: Name,
    pub token: String,
    /// Every link, with its target.
    pub links: Vec<resolve::Resolved>,
    /// The variables added, in order (`LINKSHIM_*` first).
    pub env: Vec<(String, String)>,
    /// The hosts file (when there are links) and its content.
    pub hosts: Option<(PathBuf, String)>,
}

/// What `prepare` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// No linkshim annotation: the config is as it was.
    Untouched,
    /// The config now carries the links and linkshim's hooks.
    Prepared { name: Name, links: usize },
}

/// Why a container could not be prepared; every variant names the container.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("container {container:?}")]
    Annotation {
        container: String,
        #[source]
        source: annotation::Error,
    },
    #[error("container {container:?}")]
    Link {
        container: String,
        #[source]
        source: resolve::Error,
    },
    #[error("container {container:?}")]
    Render {
        container: String,
        #[source]
        source: crate::render::Error,
    },
    #[error("container {container:?}")]
    Registry {
        container: String,
        #[source]
        source: registry::Error,
    },
    #[error("container {container:?}")]
    StateDir {
        container: String,
        #[source]
        source: state_dir::Error,
    },
    #[error("container {container:?}")]
    BadId {
        container: String,
        #[source]
        source: IdError,
    },
    #[error(
        "container {container:?}: annotation {annotation} is not one linkshim wrote: {why} (remove it)"
    )]
    Internal {
        container: String,
        annotation: &'static str,
        why: &'static str,
    },
    #[error("container {container:?}: hosts file {path}")]
    Hosts {
        container: String,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// How a container is called in errors before its name is known to be valid.
fn label(
    annotations: &BTreeMap<String, String>,
    id: Option<&str>,
    hostname: Option<&str>,
) -> String {
    annotations
        .get(annotation::NAME)
        .map(String::as_str)
        .or(id)
        .or(hostname)
        .unwrap_or("(unnamed)")
        .to_string()
}

/// The most bytes an internal annotation may hold.
const MAX_INTERNAL: usize = 1 << 20;

/// Check the `io.linkshim.internal.*` annotations a config carries: they
/// are linkshim's own, but whoever starts the container may have written
/// them. The token is checked against the registry where it is chosen.
fn check_internal(
    annotations: &BTreeMap<String, String>,
) -> Result<(), (&'static str, &'static str)> {
    if let Some(added) = annotations.get(modify::ADDED_ENV) {
        if added.len() > MAX_INTERNAL {
            return Err((modify::ADDED_ENV, "it is longer than 1 MiB"));
        }
        let keys: Vec<String> = serde_json::from_str(added)
            .map_err(|_| (modify::ADDED_ENV, "it is no JSON list of strings"))?;
        let bad = |k: &String| k.is_empty() || k.contains(['=', '\0', '\n']);
        if keys.iter().any(bad) {
            return Err((modify::ADDED_ENV, "it lists a key no variable can have"));
        }
    }
    Ok(())
}

/// The hosts token of a container being prepared: the one its config
/// carries when it is well formed and the registry holds it for no other
/// container (no live container carries it, and no reservation or hold of
/// a create but this container's own, by scope and name: the config was
/// prepared before), else a new one. A config copied from a running or a
/// created container under another name, or a token set on purpose, never
/// reaches another container's hosts file or slot.
fn choose_token(
    reg: &mut dyn Store,
    carried: Option<&String>,
    request: &annotation::Request,
    container: &str,
) -> Result<Option<String>, registry::Error> {
    let Some(t) = carried else {
        return Ok(None);
    };
    if !state_dir::is_token(t) {
        log::info!(
            "container {container:?}: annotation {} is no linkshim token, a new one is used",
            modify::TOKEN
        );
        return Ok(None);
    }
    if reg.token_held_by_other(t, &request.scope, &request.name)? {
        log::info!(
            "container {container:?}: its hosts token {t} belongs to another container (a copied config?), a new one is used"
        );
        return Ok(None);
    }
    Ok(Some(t.clone()))
}

/// The name a container answers to when no annotation names it: the name
/// its engine gave it (podman's `--name`, `<pod>-<container>` for `kube
/// play`: `oci::podman`), else its configured hostname. `id` is the
/// container's, when known.
pub fn fallback_name(
    config: &Config,
    annotations: &std::collections::BTreeMap<String, String>,
    id: Option<&str>,
) -> Option<String> {
    if annotation::names_itself(annotations) {
        return None;
    }
    crate::oci::podman::container_name(config, id)
        .filter(|n| crate::model::Name::parse("name", n).is_ok())
        .or_else(|| config.hostname())
}

/// Prepare `config` for its links. On error the config is unchanged.
pub fn prepare(config: &mut Config, ctx: &Context<'_>) -> Result<Outcome, Error> {
    Ok(match prepare_in(config, ctx, Mode::Apply)? {
        None => Outcome::Untouched,
        Some(plan) => Outcome::Prepared {
            name: plan.name,
            links: plan.links.len(),
        },
    })
}

/// Prepare `config` in `mode`; None when it has no linkshim annotation.
/// On error the config is unchanged.
pub fn prepare_in(
    config: &mut Config,
    ctx: &Context<'_>,
    mode: Mode,
) -> Result<Option<Plan>, Error> {
    let annotations = config.annotations();
    if !annotation::wants_linkshim(&annotations) {
        return Ok(None);
    }
    let apply = mode == Mode::Apply;
    let hostname = config.hostname();
    let container = label(&annotations, None, hostname.as_deref());
    if let Some(id) = ctx.id {
        ContainerId::parse(id).map_err(|source| Error::BadId {
            container: container.clone(),
            source,
        })?;
    }
    let container = label(&annotations, ctx.id, hostname.as_deref());
    check_internal(&annotations).map_err(|(annotation, why)| Error::Internal {
        container: container.clone(),
        annotation,
        why,
    })?;
    let fallback = fallback_name(config, &annotations, ctx.id);
    let request =
        annotation::parse_request(&annotations, fallback.as_deref()).map_err(|source| {
            Error::Annotation {
                container: container.clone(),
                source,
            }
        })?;
    let container = request.name.to_string();
    let reg_err = |source| Error::Registry {
        container: container.clone(),
        source,
    };
    if apply {
        state_dir::ensure(ctx.state_dir).map_err(|source| Error::StateDir {
            container: container.clone(),
            source,
        })?;
    }
    let mut reg = match mode {
        Mode::Apply => registry::open(ctx.state_dir),
        Mode::DryRun => registry::open_read_only(ctx.state_dir),
    }
    .map_err(reg_err)?;
    // What the config names outside linkshim's own directories (the
    // network namespace, the hosts file it mounts) is read before the
    // registry's lock is taken: a path that hangs (a stuck FUSE or NFS
    // mount) must not hold up every other container's start and stop.
    let from = match ctx.linker {
        Some(v) => v.clone(),
        None => vantage(config, &container),
    };
    let base = (!request.links.is_empty()).then(|| {
        base_hosts(config, ctx).unwrap_or_else(|| hosts::default_base(hostname.as_deref()))
    });
    // One transaction from here to the hold, when the container will
    // write (a hosts file to hold, a slot) and the lock is free now: the
    // lock is taken once (not once for each read, again for the slot and
    // again for the hold), the name's check, the slot and the hold see one
    // state, and a failure leaves none of them. Not when a link waits for
    // its target: that target's start must be able to register meanwhile.
    let writes = base.is_some() || request.service.is_some();
    let waits = request
        .links
        .iter()
        .any(|l| matches!(l.policy, crate::model::StartPolicy::Wait(_)));
    if apply && writes && !waits {
        let one = reg.begin();
        debug!("container {container:?}: one registry transaction: {one}");
    }
    let carried = choose_token(
        &mut *reg,
        annotations.get(modify::TOKEN),
        &request,
        &container,
    )
    .map_err(reg_err)?;
    let reused = carried.is_some();
    let token = match carried {
        Some(t) => t,
        None => state_dir::new_token().map_err(|source| Error::Hosts {
            container: container.clone(),
            path: ctx.state_dir.to_path_buf(),
            source,
        })?,
    };
    debug!(
        "container {container:?}: hosts token {token} ({}), scope {:?}",
        if reused { "reused" } else { "new" },
        request.scope.as_str()
    );
    reg.check_name(&request.scope, &request.name, ctx.id, &token)
        .map_err(reg_err)?;
    let resolved = crate::links::wait::resolve_at_start(
        &mut *reg,
        // A dry run never waits: it says what a create would wait for.
        apply.then_some(ctx.state_dir),
        &request.name,
        &request.scope,
        &request.links,
        ctx.persist_dir,
    )
    .map_err(|source| Error::Link {
        container: container.clone(),
        source,
    })?;
    let mut resolved = resolved;
    if let Some(source) = resolve::narrow(&mut resolved, &from).into_iter().next() {
        return Err(Error::Link { container, source });
    }
    let rendered =
        resolve::render(request.name.as_str(), &resolved, ctx.share_env).map_err(|source| {
            Error::Render {
                container: container.clone(),
                source,
            }
        })?;
    let mut env = vec![("LINKSHIM_NAME".to_string(), request.name.to_string())];
    if let Some(service) = &request.service {
        let index = match mode {
            Mode::Apply => reg.reserve(&request.scope, service, &request.name, &token),
            Mode::DryRun => reg.peek_index(&request.scope, service, &request.name, &token),
        }
        .map_err(reg_err)?;
        env.push(("LINKSHIM_SERVICE".to_string(), service.to_string()));
        env.push(("LINKSHIM_INDEX".to_string(), index.to_string()));
    }
    debug!(
        "container {container:?}: variables {:?}",
        rendered.env.iter().map(|(k, _)| k).collect::<Vec<_>>()
    );

    // The fallible steps left come first; the edits after them cannot fail.
    let hosts_file = if let Some(base) = &base {
        let file = state_dir::hosts_file(ctx.state_dir, &token).expect("tokens are valid");
        let text = hosts::render(base, &rendered.hosts);
        if apply {
            config::write_file_atomic(&file, text.as_bytes(), 0o644, false).map_err(|source| {
                Error::Hosts {
                    container: container.clone(),
                    path: file.clone(),
                    source,
                }
            })?;
        }
        Some((file, text))
    } else {
        None
    };
    if hosts_file.is_some() && apply {
        // Its hosts file is kept from sweeps until it starts or stops. (A
        // file written but not held is an orphan a later sweep removes.)
        reg.hold_token(&token, &request.scope, &request.name)
            .map_err(reg_err)?;
    }
    reg.commit().map_err(reg_err)?;
    drop(reg);
    modify::undo(config);
    env.extend(rendered.env);
    modify::add_env(config, &env);
    if let Some((file, _)) = &hosts_file {
        modify::mount_hosts(config, file);
    }
    config.set_annotation(modify::TOKEN, Some(token.clone()));
    modify::add_hooks(config, ctx.exe, ctx.state_dir, ctx.persist_dir, &token);
    debug!(
        "container {container:?}: prepared ({mode:?}), hosts file {:?}",
        hosts_file.as_ref().map(|(f, _)| f)
    );
    Ok(Some(Plan {
        name: request.name,
        token,
        links: resolved,
        env,
        hosts: hosts_file,
    }))
}

/// Where the linker of `config` stands on the network: on the host's, or
/// in a namespace whose addresses are read now (podman configures it
/// before the container is created; `--network container:X` names X's).
/// A namespace that cannot be read, or a new one (set up later, if ever),
/// is unknown: every address of a target is given.
pub fn vantage(config: &Config, container: &str) -> crate::model::Vantage {
    if config.host_network() {
        return crate::model::Vantage {
            host: true,
            nets: vec![],
        };
    }
    let nets = match config.netns_path() {
        Some(path) => crate::netns::addresses(&path).unwrap_or_else(|e| {
            debug!("container {container:?}: its addresses are unknown: {e}");
            vec![]
        }),
        None => vec![],
    };
    debug!("container {container:?}: at {nets:?}");
    crate::model::Vantage { host: false, nets }
}

/// The path that names the file open as `file` itself.
fn fd_path(file: &File) -> PathBuf {
    use std::os::fd::AsRawFd;
    PathBuf::from(format!("/proc/self/fd/{}", file.as_raw_fd()))
}

/// Where the file open as `file` is, as the kernel names it.
fn opened_at(file: &File) -> Option<PathBuf> {
    std::fs::read_link(fd_path(file)).ok()
}

/// The content of the hosts file the config mounts already, when it is a
/// regular file outside the container's rootfs (never through a symlink).
fn base_hosts(config: &Config, ctx: &Context<'_>) -> Option<String> {
    let source = PathBuf::from(config.mount_source("/etc/hosts")?);
    if !source.is_absolute() {
        return None;
    }
    let root = config.root_path()?;
    let root = match (Path::new(&root).is_absolute(), ctx.bundle) {
        (true, _) => PathBuf::from(root),
        (false, Some(b)) => b.join(root),
        (false, None) => return None,
    };
    // Take hold of the file first (O_PATH: opening nothing, so no device
    // or FIFO is ever opened), then check what was taken hold of: a
    // regular file, which the kernel places outside the rootfs (a symlink
    // on the way must not lead into it: the container controls it). The
    // text is read through that same hold, so no path is looked up twice.
    let path_only = |path: &Path, flags: i32| {
        File::options()
            .read(true)
            .custom_flags(libc::O_PATH | flags)
            .open(path)
            .ok()
    };
    let held = path_only(&source, libc::O_NOFOLLOW)?;
    if !held.metadata().ok()?.is_file() {
        return None;
    }
    let root = path_only(&root, libc::O_DIRECTORY)?;
    if opened_at(&held)?.starts_with(opened_at(&root)?) {
        return None;
    }
    let file = File::options()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(fd_path(&held))
        .ok()?;
    let mut text = String::new();
    file.take(1 << 20).read_to_string(&mut text).ok()?;
    Some(text)
}
