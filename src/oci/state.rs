//! The state JSON a hook gets on stdin: the minimal view linkshim needs.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;

/// The OCI state of a container, as runtimes pass it to hooks.
#[derive(Debug, Clone, Deserialize)]
pub struct State {
    pub id: String,
    #[serde(default)]
    pub pid: Option<i32>,
    #[serde(default)]
    pub bundle: Option<PathBuf>,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
}

impl State {
    /// Parse the state from a hook's stdin.
    pub fn parse(text: &str) -> Result<State, serde_json::Error> {
        serde_json::from_str(text)
    }
}
