//! A small blocking client of etcd v3's JSON gateway (`/v3/kv/range`,
//! `/v3/kv/txn`, ...; keys and values base64): one HTTP/1.1 request per
//! operation over `ureq`, no runtime, no thread. Every call is bounded by
//! the configured timeout, shared among the endpoints still to try: an
//! endpoint that refuses is skipped at once, one that hangs costs its share
//! and no more. Once no endpoint answered, the client stays down for the
//! rest of this process (a hook fails at once instead of waiting again).
//!
//! Only what the registry needs: reads of keys and prefixes (together in
//! one read-only transaction), and transactions of puts and deletes under
//! compares, with deletes that are themselves conditional (a nested
//! transaction on the key's value), so that clearing what may have moved
//! on never fails the rest.

use std::cell::Cell;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::{Value, json};

use super::Settings;
use crate::registry::error::{Error, StorageError};

/// How long to wait before asking a cluster that is electing a leader again.
const RETRY_PAUSE: Duration = Duration::from_millis(50);

/// What one endpoint said.
enum Answer {
    Value(Value),
    /// It refused, timed out or answered what is no answer: try the next.
    Next(String),
    /// It answered that it cannot now (no leader): try again.
    Retry(String),
}

/// One key and value as etcd holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Kv {
    pub key: String,
    pub value: Vec<u8>,
    pub mod_revision: i64,
}

/// What a transaction's write is conditioned on.
#[derive(Debug, Clone)]
pub enum Cmp {
    /// The key does not exist (its create revision is 0).
    Absent(String),
    /// The key was not changed since it was read at this mod revision.
    Unchanged(String, i64),
    /// The key holds this value.
    Value(String, Vec<u8>),
}

impl Cmp {
    /// The compare that the key is still as read: `seen`, or absent.
    pub fn as_read(key: &str, seen: Option<&Kv>) -> Cmp {
        match seen {
            Some(kv) => Cmp::Unchanged(key.to_string(), kv.mod_revision),
            None => Cmp::Absent(key.to_string()),
        }
    }
}

/// One operation of a transaction.
#[derive(Debug, Clone)]
pub enum Op {
    Get(String),
    Prefix(String),
    Put(String, Vec<u8>),
    Delete(String),
    /// Delete the key only if it still holds this value.
    DeleteIf(String, Vec<u8>),
}

impl Op {
    /// The key a write touches (none for a read).
    pub fn key(&self) -> Option<&str> {
        match self {
            Op::Put(k, _) | Op::Delete(k) | Op::DeleteIf(k, _) => Some(k),
            Op::Get(_) | Op::Prefix(_) => None,
        }
    }
}

/// The client: endpoints tried in order, a timeout per call.
pub struct Client {
    agent: ureq::Agent,
    endpoints: Vec<String>,
    timeout: Duration,
    /// No endpoint answered once: every later call fails at once.
    down: Cell<Option<String>>,
}

impl Client {
    /// A client for `settings` (no connection is made until a call).
    pub fn new(settings: &Settings) -> Result<Client, Error> {
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(settings.timeout));
        let config = super::tls::configure(config, settings)?;
        Ok(Client {
            agent: ureq::Agent::new_with_config(config.build()),
            endpoints: settings.endpoints.clone(),
            timeout: settings.timeout,
            down: Cell::new(None),
        })
    }

    /// The endpoints, for messages.
    pub fn describe(&self) -> String {
        self.endpoints.join(",")
    }

    fn error(&self, why: String) -> Error {
        StorageError::Etcd {
            endpoints: self.describe(),
            why,
        }
        .into()
    }

    /// POST `body` to `path` on the first endpoint that answers. A
    /// cluster electing a leader (every member that answers says so with a
    /// 5xx) is asked again, in rounds, until the timeout; endpoints that
    /// refuse or time out are not.
    fn call(&self, path: &str, body: &Value) -> Result<Value, Error> {
        if let Some(why) = self.down.take() {
            self.down.set(Some(why.clone()));
            return Err(self.unreachable(why));
        }
        let start = Instant::now();
        let body = body.to_string();
        let mut why = String::from("no endpoint configured");
        loop {
            let mut electing = false;
            for (i, ep) in self.endpoints.iter().enumerate() {
                let left = self.timeout.saturating_sub(start.elapsed());
                if left.is_zero() {
                    break;
                }
                // The time left, shared among the endpoints still to try.
                let share = left / (self.endpoints.len() - i) as u32;
                match self.post(ep, path, &body, share)? {
                    Answer::Value(v) => return Ok(v),
                    Answer::Retry(w) => {
                        electing = true;
                        why = w;
                    }
                    Answer::Next(w) => why = w,
                }
            }
            let left = self.timeout.saturating_sub(start.elapsed());
            if !electing || left < RETRY_PAUSE {
                break;
            }
            std::thread::sleep(RETRY_PAUSE);
        }
        self.down.set(Some(why.clone()));
        Err(self.unreachable(why))
    }

    /// One POST to one endpoint, within `budget`.
    fn post(&self, ep: &str, path: &str, body: &str, budget: Duration) -> Result<Answer, Error> {
        let sent = self
            .agent
            .post(format!("{}{path}", ep.trim_end_matches('/')))
            .config()
            .timeout_global(Some(budget.max(Duration::from_millis(1))))
            .build()
            .header("content-type", "application/json")
            .send(body);
        let mut resp = match sent {
            Ok(r) => r,
            Err(e) => return Ok(Answer::Next(format!("{ep}: {e}"))),
        };
        let status = resp.status().as_u16();
        let text = match resp.body_mut().read_to_string() {
            Ok(t) => t,
            Err(e) => return Ok(Answer::Next(format!("{ep}: {e}"))),
        };
        let value: Value = serde_json::from_str(&text)
            .map_err(|e| self.error(format!("{ep}{path}: HTTP {status}, not JSON: {e}")))?;
        if status == 200 {
            return Ok(Answer::Value(value));
        }
        let msg = value
            .get("message")
            .or_else(|| value.get("error"))
            .and_then(Value::as_str)
            .unwrap_or("no message")
            .to_string();
        // A member without a leader (or its quorum): another may answer,
        // or this one once a leader is elected.
        if status >= 500 {
            return Ok(Answer::Retry(format!("{ep}: HTTP {status}: {msg}")));
        }
        Err(self.error(format!("{ep}{path}: HTTP {status}: {msg}")))
    }

    fn unreachable(&self, why: String) -> Error {
        StorageError::EtcdUnreachable {
            endpoints: self.describe(),
            waited: self.timeout,
            why,
        }
        .into()
    }

    /// Run one transaction: `success` when every compare holds, else
    /// `failure`; whether it succeeded, and what each range op of the
    /// branch run read.
    pub fn txn(
        &self,
        compares: &[Cmp],
        success: &[Op],
        failure: &[Op],
    ) -> Result<(bool, Vec<Vec<Kv>>), Error> {
        let body = json!({
            "compare": compares.iter().map(compare).collect::<Vec<_>>(),
            "success": success.iter().map(request).collect::<Vec<_>>(),
            "failure": failure.iter().map(request).collect::<Vec<_>>(),
        });
        let out = self.call("/v3/kv/txn", &body)?;
        let succeeded = out.get("succeeded").and_then(Value::as_bool) == Some(true);
        let mut reads = Vec::new();
        for r in out
            .get("responses")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(range) = r.get("response_range") {
                reads.push(self.kvs(range)?);
            }
        }
        Ok((succeeded, reads))
    }

    /// Read several keys and prefixes at one revision, in one request.
    pub fn read(&self, ops: &[Op]) -> Result<Vec<Vec<Kv>>, Error> {
        let (_, reads) = self.txn(&[], ops, &[])?;
        if reads.len() != ops.len() {
            return Err(self.error(format!(
                "a read of {} ranges answered {}",
                ops.len(),
                reads.len()
            )));
        }
        Ok(reads)
    }

    /// The key `key`, if it exists.
    pub fn get(&self, key: &str) -> Result<Option<Kv>, Error> {
        Ok(self
            .read(&[Op::Get(key.to_string())])?
            .pop()
            .and_then(|mut v| v.pop()))
    }

    /// Every key under `prefix`, in key order.
    pub fn prefix(&self, prefix: &str) -> Result<Vec<Kv>, Error> {
        Ok(self
            .read(&[Op::Prefix(prefix.to_string())])?
            .pop()
            .unwrap_or_default())
    }

    /// Put and delete in one transaction with no condition.
    pub fn write(&self, ops: &[Op]) -> Result<(), Error> {
        self.txn(&[], ops, &[]).map(drop)
    }

    fn kvs(&self, range: &Value) -> Result<Vec<Kv>, Error> {
        let mut out = Vec::new();
        for kv in range
            .get("kvs")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let field = |name: &str| kv.get(name).and_then(Value::as_str).unwrap_or("");
            let bad = |what: &str| self.error(format!("an answer with a bad {what}"));
            let key = B64.decode(field("key")).map_err(|_| bad("key"))?;
            let key = String::from_utf8(key).map_err(|_| bad("key"))?;
            let value = B64.decode(field("value")).map_err(|_| bad("value"))?;
            let mod_revision = match field("mod_revision") {
                "" => 0,
                n => n.parse().map_err(|_| bad("revision"))?,
            };
            out.push(Kv {
                key,
                value,
                mod_revision,
            });
        }
        Ok(out)
    }
}

/// The end of the range of every key under `prefix`: the prefix with its
/// last byte raised by one (linkshim's prefixes end in `/`).
pub fn range_end(prefix: &str) -> Vec<u8> {
    let mut end = prefix.as_bytes().to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    vec![0]
}

fn compare(c: &Cmp) -> Value {
    match c {
        Cmp::Absent(key) => json!({
            "key": B64.encode(key), "target": "CREATE", "result": "EQUAL", "create_revision": "0",
        }),
        Cmp::Unchanged(key, rev) => json!({
            "key": B64.encode(key), "target": "MOD", "result": "EQUAL", "mod_revision": rev.to_string(),
        }),
        Cmp::Value(key, value) => json!({
            "key": B64.encode(key), "target": "VALUE", "result": "EQUAL", "value": B64.encode(value),
        }),
    }
}

fn request(op: &Op) -> Value {
    match op {
        Op::Get(key) => json!({"request_range": {"key": B64.encode(key)}}),
        Op::Prefix(p) => {
            json!({"request_range": {"key": B64.encode(p), "range_end": B64.encode(range_end(p))}})
        }
        Op::Put(key, value) => {
            json!({"request_put": {"key": B64.encode(key), "value": B64.encode(value)}})
        }
        Op::Delete(key) => json!({"request_delete_range": {"key": B64.encode(key)}}),
        Op::DeleteIf(key, value) => json!({"request_txn": {
            "compare": [{"key": B64.encode(key), "target": "VALUE", "result": "EQUAL", "value": B64.encode(value)}],
            "success": [{"request_delete_range": {"key": B64.encode(key)}}],
        }}),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_prefix_range_ends_past_every_key_under_it() {
        assert_eq!(range_end("/l/names/a/"), b"/l/names/a0".to_vec());
        assert_eq!(range_end("a\u{7f}"), b"a\x80".to_vec());
        let end = range_end("/l/");
        for key in ["/l/", "/l/x", "/l/\u{10ffff}"] {
            assert!(key.as_bytes() < end.as_slice(), "{key}");
        }
        assert!(b"/l0".as_slice() >= end.as_slice());
    }

    #[test]
    fn a_conditional_delete_is_a_nested_transaction_on_the_value() {
        let v = request(&Op::DeleteIf("k".into(), b"v".to_vec()));
        let inner = &v["request_txn"];
        assert_eq!(inner["compare"][0]["target"], "VALUE");
        assert_eq!(inner["compare"][0]["value"], B64.encode("v"));
        assert_eq!(
            inner["success"][0]["request_delete_range"]["key"],
            B64.encode("k")
        );
    }
}
