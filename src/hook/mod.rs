//! The hook stages linkshim runs in: one file per stage.

pub mod poststart;
pub mod poststop;
pub mod precreate;

use std::io::Read;

/// Read a hook's stdin whole (a config or a state, at most 16 MiB).
pub fn read_stdin() -> std::io::Result<String> {
    let mut text = String::new();
    std::io::stdin().take(16 << 20).read_to_string(&mut text)?;
    Ok(text)
}
