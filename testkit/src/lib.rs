//! The test kit of linkshim: everything its tests and its benchmark share.
//!
//! Used by the end-to-end test binary (`tests/e2e`), the binary-level tests
//! on fixtures (`tests/support`) and the whole-process benchmark
//! (`benches/whole_process`): running commands with bounded waits, PATH
//! lookups, unique names, a busybox rootfs, isolated podman and containerd
//! instances, network namespaces on a test bridge, OCI bundles, linkshim's
//! own commands and hooks.d file, the link scenario's expectations and
//! registry records built with linkshim's own types.
//!
//! Why a workspace crate (a dev-dependency) rather than a module each test
//! includes by path: it is compiled once instead of into every test and
//! bench target, it needs no `#[allow(dead_code)]` for the parts one target
//! does not use, and its own dependencies (tempfile, serde_json) are its
//! own. It cannot see `CARGO_BIN_EXE_linkshim` (cargo sets that only for the
//! package's tests and benches), so each of those names the binary once
//! with [`set_linkshim_bin`].

mod containerd;
mod etcd;
mod links;
mod linkshim;
mod mounts;
mod net;
mod oci;
mod podman;
mod process;
mod records;
mod rootfs;
mod rootless;

pub use containerd::*;
pub use etcd::*;
pub use links::*;
pub use linkshim::*;
pub use mounts::*;
pub use net::*;
pub use oci::*;
pub use podman::*;
pub use process::*;
pub use records::*;
pub use rootfs::*;
pub use rootless::*;
