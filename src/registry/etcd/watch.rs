//! One etcd watch on the names of every scope (`<prefix>/names/`), over
//! the JSON gateway's streaming `/v3/watch`: for `linkshim watch`, which
//! renders the hosts files of this host's linkers again when a target on
//! any host starts, moves or stops.
//!
//! The stream has no timeout (it is quiet while nothing changes); a
//! broken stream, a compacted revision or an endpoint that does not
//! answer ends [`Watcher::follow`] with an error, and the caller catches
//! up (renders every linker again) and follows anew.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::{Value, json};

use super::client::range_end;
use super::{Entry, Holder, Settings};
use crate::registry::Record;
use crate::registry::error::{Error, StorageError};

/// A follower of the names under one prefix.
pub struct Watcher {
    agent: ureq::Agent,
    endpoints: Vec<String>,
    prefix: String,
    timeout: Duration,
}

impl Watcher {
    pub fn new(settings: &Settings) -> Result<Watcher, Error> {
        let config = ureq::Agent::config_builder().http_status_as_error(false);
        let config = super::tls::configure(config, settings)?;
        Ok(Watcher {
            agent: ureq::Agent::new_with_config(config.build()),
            endpoints: settings.endpoints.clone(),
            prefix: format!("{}/names/", settings.prefix),
            timeout: settings.timeout,
        })
    }

    fn error(&self, why: String) -> Error {
        StorageError::Etcd {
            endpoints: self.endpoints.join(","),
            why,
        }
        .into()
    }

    /// The cluster's current revision, from the first endpoint that
    /// answers within the timeout.
    pub fn revision(&self) -> Result<i64, Error> {
        let body = json!({
            "key": B64.encode(&self.prefix),
            "range_end": B64.encode(range_end(&self.prefix)),
            "count_only": true,
        })
        .to_string();
        let mut why = String::new();
        for ep in &self.endpoints {
            let sent = self
                .agent
                .post(format!("{}/v3/kv/range", ep.trim_end_matches('/')))
                .config()
                .timeout_global(Some(self.timeout))
                .build()
                .header("content-type", "application/json")
                .send(body.as_str());
            let text = match sent.and_then(|mut r| r.body_mut().read_to_string()) {
                Ok(t) => t,
                Err(e) => {
                    why = format!("{ep}: {e}");
                    continue;
                }
            };
            let v: Value = serde_json::from_str(&text)
                .map_err(|e| self.error(format!("{ep}: not JSON: {e}")))?;
            match revision_of(&v["header"]) {
                Some(r) => return Ok(r),
                None => why = format!("{ep}: no revision in {text}"),
            }
        }
        Err(self.error(format!("no endpoint answered: {why}")))
    }

    /// Follow the names from revision `from` on, calling `on` with the
    /// target of every change (a container's record, put or deleted;
    /// reservations are left out), until the stream ends: always an error.
    pub fn follow(&self, from: i64, mut on: impl FnMut(Record)) -> Result<(), Error> {
        let body = json!({"create_request": {
            "key": B64.encode(&self.prefix),
            "range_end": B64.encode(range_end(&self.prefix)),
            "start_revision": from.to_string(),
            "prev_kv": true,
        }})
        .to_string();
        let mut why = String::from("no endpoint configured");
        for ep in &self.endpoints {
            let sent = self
                .agent
                .post(format!("{}/v3/watch", ep.trim_end_matches('/')))
                .config()
                .timeout_connect(Some(self.timeout))
                .timeout_recv_response(Some(self.timeout))
                .build()
                .header("content-type", "application/json")
                .send(body.as_str());
            let mut resp = match sent {
                Ok(r) if r.status().as_u16() == 200 => r,
                Ok(r) => {
                    why = format!("{ep}: HTTP {}", r.status());
                    continue;
                }
                Err(e) => {
                    why = format!("{ep}: {e}");
                    continue;
                }
            };
            let reader = resp.body_mut().as_reader();
            for msg in serde_json::Deserializer::from_reader(reader).into_iter::<Value>() {
                let msg = msg.map_err(|e| self.error(format!("{ep}: the watch broke: {e}")))?;
                if let Some(e) = msg.get("error") {
                    return Err(self.error(format!("{ep}: the watch failed: {e}")));
                }
                let result = &msg["result"];
                if result.get("canceled").and_then(Value::as_bool) == Some(true) {
                    return Err(self.error(format!(
                        "{ep}: the watch was canceled ({}; compacted at {})",
                        result["cancel_reason"].as_str().unwrap_or("no reason"),
                        result["compact_revision"].as_str().unwrap_or("-")
                    )));
                }
                for ev in result["events"].as_array().into_iter().flatten() {
                    let deleted = ev["type"].as_str() == Some("DELETE");
                    let kv = if deleted { &ev["prev_kv"] } else { &ev["kv"] };
                    let Some(value) = kv["value"].as_str().and_then(|v| B64.decode(v).ok()) else {
                        continue;
                    };
                    // A value no linkshim wrote changes no linker's file.
                    if let Ok(Holder::Container { record, .. }) = Entry::decode(&value) {
                        on(*record);
                    }
                }
            }
            return Err(self.error(format!("{ep}: the watch stream ended")));
        }
        Err(self.error(format!("no endpoint took the watch: {why}")))
    }
}

fn revision_of(header: &Value) -> Option<i64> {
    header["revision"].as_str()?.parse().ok()
}
