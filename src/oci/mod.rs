//! What linkshim reads of the OCI runtime interface: a runtime's command
//! line, the state JSON hooks get, config.json edited as JSON, and the
//! name podman keeps outside it.

pub mod args;
pub mod config;
pub mod podman;
pub mod state;
