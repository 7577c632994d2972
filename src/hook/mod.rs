//! The hook stages linkshim runs in: one file per stage.

pub mod poststart;
pub mod poststop;
pub mod precreate;

use std::io::Read;

use crate::model::limits::MAX_CONFIG;

/// Read a hook's stdin whole (a config or a state): more than
/// [`MAX_CONFIG`] bytes is an error, and no more than that is read.
pub fn read_stdin() -> std::io::Result<String> {
    let mut text = String::new();
    std::io::stdin()
        .take(MAX_CONFIG + 1)
        .read_to_string(&mut text)?;
    if text.len() as u64 > MAX_CONFIG {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("stdin holds more than the {MAX_CONFIG} bytes linkshim reads"),
        ));
    }
    Ok(text)
}
