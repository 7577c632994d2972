//! linkshim: Docker-style container links for runc, crun, podman and
//! containerd, with no daemon.
//!
//! The data flows one way: annotations -> resolve (registry) -> render ->
//! modify -> (precreate stdout | config.json + exec).

pub mod cli;
pub mod commands;
pub mod exec;
pub mod explain;
pub mod graph;
pub mod hook;
pub mod hosts_file;
pub mod install;
pub mod links;
pub mod logging;
pub mod mask;
pub mod model;
pub mod modify;
pub mod netns;
pub mod oci;
pub mod prepare;
pub mod privilege;
pub mod proc_file;
pub mod refresh;
pub mod registry;
pub mod render;
pub mod runtime;
pub mod settings;
pub mod state_dir;
pub mod user;
