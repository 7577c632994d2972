//! `linkshim install ENGINE`: configure a container engine to run linkshim,
//! in one idempotent command that prints what it changed as a diff.
//!
//! Each engine module turns the files as they are into a [`Plan`]: the new
//! content of every file to write (or `None` to remove it). Nothing is
//! written until the whole plan is made, so a config file the engine module
//! cannot read leaves every file as it was. A file that already says what
//! linkshim needs is not in the plan: a second run changes nothing.
//!
//! - podman ([`podman`]): the hooks.d file, in the hooks dir podman reads
//!   (the system's, or a rootless user's), and optionally
//!   `linkshim-runtime` as the named runtime `linkshim` in containers.conf;
//! - containerd ([`containerd`]): the runc `BinaryName` CRI uses, in a
//!   drop-in when the config imports one, else in config.toml, edited so
//!   every other line and comment stays;
//! - CRI-O ([`crio`]): a runtime entry `linkshim` in `crio.conf.d`;
//! - Docker ([`docker`]): a `runtimes` entry `linkshim` in daemon.json.
//!
//! Every path is taken under `--root` (default `/`), so an image or a test
//! can be configured in a directory.

pub mod containerd;
pub mod crio;
pub mod docker;
pub mod podman;

use std::fmt::Write as _;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// Why an engine cannot be configured.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{path}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {why}")]
    Config { path: PathBuf, why: String },
    #[error("{path} is a symlink: edit the file it points to, or pass --config with its path")]
    Symlink { path: PathBuf },
    #[error("{0}")]
    Setup(String),
}

/// What the engine is to run, and where.
#[derive(Debug, Clone)]
pub struct Target {
    /// The file system tree to configure (`/` but for images and tests).
    pub root: PathBuf,
    /// The linkshim binary (an absolute path on the configured system).
    pub bin: PathBuf,
    /// The wrapper, `linkshim-runtime` beside the binary.
    pub runtime: PathBuf,
}

impl Target {
    /// `bin` and the `linkshim-runtime` link beside it; both must exist
    /// (under `root`) and `bin` must be absolute.
    pub fn new(root: &Path, bin: &Path) -> Result<Target, Error> {
        if !bin.is_absolute() {
            return Err(Error::Setup(format!(
                "--bin {}: an absolute path is needed (the engine runs it from anywhere)",
                bin.display()
            )));
        }
        let runtime = bin.with_file_name("linkshim-runtime");
        let target = Target {
            root: root.to_path_buf(),
            bin: bin.to_path_buf(),
            runtime,
        };
        for (what, p) in [
            ("linkshim", &target.bin),
            ("linkshim-runtime", &target.runtime),
        ] {
            let on_root = target.path(p);
            let ok = fs::metadata(&on_root)
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0);
            if !ok {
                return Err(Error::Setup(format!(
                    "{what}: {} is not an executable file (install the package, or run packaging/install.sh, or pass --bin)",
                    on_root.display()
                )));
            }
        }
        Ok(target)
    }

    /// `path` (absolute on the configured system) under the root.
    pub fn path(&self, path: &Path) -> PathBuf {
        self.root.join(path.strip_prefix("/").unwrap_or(path))
    }
}

/// One file of a plan: its content before (None: absent) and after (None:
/// removed). Paths are as the engine sees them (without the root).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub path: PathBuf,
    pub before: Option<String>,
    pub after: Option<String>,
}

/// What an install or uninstall changes, file by file; empty when the
/// engine is already as asked.
#[derive(Debug, Default)]
pub struct Plan {
    pub changes: Vec<Change>,
    /// Lines to print after the diff (what to do next).
    pub notes: Vec<String>,
}

impl Plan {
    /// Adds the change of `path` from `before` to `after`, unless they are equal.
    pub fn change(&mut self, path: &Path, before: Option<String>, after: Option<String>) {
        if before != after {
            self.changes.push(Change {
                path: path.to_path_buf(),
                before,
                after,
            });
        }
    }

    /// The plan as a unified diff, one section per file.
    pub fn diff(&self) -> String {
        let mut out = String::new();
        for c in &self.changes {
            let old = c.before.as_deref().unwrap_or("");
            let new = c.after.as_deref().unwrap_or("");
            let name = c.path.display().to_string();
            let (a, b) = match (&c.before, &c.after) {
                (None, _) => ("/dev/null".to_string(), name),
                (_, None) => (name, "/dev/null".to_string()),
                _ => (name.clone(), name),
            };
            let _ = write!(
                out,
                "{}",
                similar::TextDiff::from_lines(old, new)
                    .unified_diff()
                    .context_radius(3)
                    .header(&a, &b)
            );
            if !new.is_empty() && !new.ends_with('\n') {
                out.push_str("\n\\ No newline at end of file\n");
            }
        }
        out
    }

    /// Writes every change under `root`: each file atomically (a temporary
    /// file in the same directory, renamed), keeping an existing file's
    /// mode, 0644 for a new one; a removed file is unlinked.
    pub fn apply(&self, root: &Path) -> Result<(), Error> {
        for c in &self.changes {
            let path = root.join(c.path.strip_prefix("/").unwrap_or(&c.path));
            let io = |source| Error::Io {
                path: path.clone(),
                source,
            };
            match &c.after {
                Some(text) => {
                    let mode = fs::metadata(&path)
                        .map(|m| m.permissions().mode() & 0o7777)
                        .unwrap_or(0o644);
                    if let Some(dir) = path.parent() {
                        create_dirs(dir).map_err(io)?;
                    }
                    crate::oci::config::write_file_atomic(&path, text.as_bytes(), mode, true)
                        .map_err(io)?;
                }
                None => match fs::remove_file(&path) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(io(e)),
                },
            }
        }
        Ok(())
    }
}

/// `dir` and its missing parents, each mode 0755 whatever the umask
/// (engines and their users read these directories).
fn create_dirs(dir: &Path) -> std::io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    if let Some(parent) = dir.parent() {
        create_dirs(parent)?;
    }
    match fs::create_dir(dir) {
        Ok(()) => fs::set_permissions(dir, fs::Permissions::from_mode(0o755)),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

/// The content of `path` (engine path, read under the target's root), or
/// None when it does not exist. A symlink is refused: writing the file
/// atomically would replace the link.
pub fn read(target: &Target, path: &Path) -> Result<Option<String>, Error> {
    let on_root = target.path(path);
    match fs::symlink_metadata(&on_root) {
        Ok(m) if m.file_type().is_symlink() => {
            return Err(Error::Symlink { path: on_root });
        }
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(Error::Io {
                path: on_root,
                source,
            });
        }
    }
    fs::read_to_string(&on_root)
        .map(Some)
        .map_err(|source| Error::Io {
            path: on_root,
            source,
        })
}

/// A TOML document, or an error naming the file.
pub fn parse_toml(path: &Path, text: &str) -> Result<toml_edit::DocumentMut, Error> {
    text.parse::<toml_edit::DocumentMut>()
        .map_err(|e| Error::Config {
            path: path.to_path_buf(),
            why: format!("not valid TOML: {e}"),
        })
}

/// The first line linkshim writes in a file it owns whole.
pub fn owned_header(engine: &str) -> String {
    format!(
        "# Written by `linkshim install {engine}`; `linkshim install {engine} --uninstall` removes it.\n"
    )
}

/// The table at `path` under `parent`, each missing one made implicit: it
/// gets a `[header]` only once it holds a key of its own (as `[a.b.c]`
/// implies `a` and `a.b`). An inline table on the way becomes a table with
/// the same keys.
pub fn table_at<'a>(parent: &'a mut toml_edit::Table, path: &[&str]) -> &'a mut toml_edit::Table {
    use toml_edit::{Item, Table};
    let mut t = parent;
    for key in path {
        let item = t.entry(key).or_insert_with(|| {
            let mut new = Table::new();
            new.set_implicit(true);
            Item::Table(new)
        });
        if !item.is_table() {
            let taken = std::mem::take(item);
            *item = Item::Table(taken.into_table().unwrap_or_default());
        }
        t = item.as_table_mut().expect("made a table");
    }
    t
}

/// Sets `key` of `table` to `v`, keeping the layout of an existing entry
/// (indentation, comments around it); a new key is added at the end.
pub fn set_value(table: &mut toml_edit::Table, key: &str, v: impl Into<toml_edit::Value>) {
    let mut v = v.into();
    match table.get_mut(key).and_then(toml_edit::Item::as_value_mut) {
        Some(old) => {
            *v.decor_mut() = old.decor().clone();
            *old = v;
        }
        None => {
            table.insert(key, toml_edit::Item::Value(v));
        }
    }
}
