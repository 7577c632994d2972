//! Registry records made through linkshim's own `Record` and `Registry`,
//! never with SQL, owned by the calling process so that they stay live
//! while it runs.

use std::net::IpAddr;
use std::path::Path;

use linkshim::links::annotation::parse_expose;
use linkshim::model::Name;
use linkshim::registry::{Record, Registry};

/// A record of container `id` named `name` at `addrs`, exposing `expose`
/// (the syntax of `io.linkshim.expose`), with `env` as its own configured
/// env, live as long as this process runs.
pub fn live_record(
    id: &str,
    name: &str,
    addrs: &[IpAddr],
    expose: &str,
    env: &[(&str, &str)],
) -> Record {
    Record {
        addrs: addrs.to_vec(),
        ports: parse_expose(expose).unwrap_or_else(|e| panic!("expose {expose:?}: {e}")),
        env: env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        ..Record::new(
            id,
            Name::parse("test", name).unwrap_or_else(|e| panic!("name {name:?}: {e}")),
        )
        .owned_by(std::process::id() as i32)
    }
}

/// Registers `rec` in the registry of `state` (created when missing) and
/// returns the record as stored.
pub fn register(state: &Path, rec: &Record) -> Record {
    linkshim::state_dir::ensure(state).expect("the state dir");
    Registry::open(state)
        .expect("the registry")
        .register(rec, None)
        .unwrap_or_else(|e| panic!("register {}: {e}", rec.id))
}
