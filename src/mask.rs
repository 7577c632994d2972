//! What record listings show of secrets: env values as `***` and URL
//! passwords masked, unless `--show-env` asks for them.

use serde_json::Value;

use crate::logging::mask_passwords;

/// The mask every hidden value is shown as.
pub const MASK: &str = "***";

/// `env` (`[["KEY","VALUE"],...]`) with every value replaced by [`MASK`].
pub fn env(env: &mut Value) {
    for pair in env.as_array_mut().into_iter().flatten() {
        if let Some(value) = pair.as_array_mut().and_then(|p| p.get_mut(1)) {
            *value = Value::String(MASK.into());
        }
    }
}

/// A URL string with its password masked.
pub fn url(url: &mut Value) {
    if let Some(text) = url.as_str() {
        *url = Value::String(mask_passwords(text));
    }
}

/// Each object of `list`, its `env` and `url` masked.
pub fn records(list: &mut Value) {
    for rec in list.as_array_mut().into_iter().flatten() {
        if let Some(e) = rec.get_mut("env") {
            env(e);
        }
        if let Some(u) = rec.get_mut("url") {
            url(u);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn values_and_passwords_are_masked_keys_kept() {
        let mut v = json!([
            {"name": "db", "env": [["PW", "secret"], ["A", "1"]], "url": "redis://:pw@:6379/0"},
            {"name": "x", "env": [], "url": null}
        ]);
        records(&mut v);
        assert_eq!(
            v,
            json!([
                {"name": "db", "env": [["PW", "***"], ["A", "***"]], "url": "redis://:***@:6379/0"},
                {"name": "x", "env": [], "url": null}
            ])
        );
    }
}
