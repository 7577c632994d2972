//! What linkshim reads of the OCI runtime interface: a runtime's command
//! line, the state JSON hooks get, and config.json edited as JSON.

pub mod args;
pub mod config;
pub mod state;
