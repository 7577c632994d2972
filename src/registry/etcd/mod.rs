//! The registry on an etcd v3 cluster (`registry = "etcd"` in the config
//! file), for links across hosts. The same [`Store`] as the embedded
//! SQLite registry, over etcd's JSON gateway (`client`); the keys and what
//! is live are in `entry`.
//!
//! Every change is one etcd transaction conditioned on what it read (the
//! name's key, the slot's key, the container's own key unchanged, or
//! absent), retried from a fresh read when another writer got there
//! first: two hosts can never hold one name, or one replica index, in one
//! scope. A write that loses a race it cannot win (a live holder) fails
//! with the same conflict as on one host.

mod client;
mod entry;
mod tls;
mod watch;

use std::path::PathBuf;
use std::time::Duration;

pub use client::{Client, Cmp, Kv, Op};
pub use entry::{Entry, Hold, Holder, Keys, Reservation, is_host_id};
pub use watch::Watcher;

use super::error::{Conflict, Error, StorageError};
use super::gc::Collected;
use super::liveness::Liveness;
use super::record::{Record, Resource, now};
use super::store::Store;
use crate::model::{ContainerId, LinkRequest, Name};

/// How many times a transaction is tried again after losing a race.
const TRIES: u32 = 8;

/// Where the cluster is and who this host is (from the config file).
#[derive(Debug, Clone)]
pub struct Settings {
    /// `http://host:port` (or `https://` with TLS), tried in order.
    pub endpoints: Vec<String>,
    /// Every key starts with it: `/linkshim` unless configured.
    pub prefix: String,
    /// The most any one call waits for an answer.
    pub timeout: Duration,
    pub ca_file: Option<PathBuf>,
    pub cert_file: Option<PathBuf>,
    pub key_file: Option<PathBuf>,
    /// This host: the configured `host_id`, else /etc/machine-id.
    pub host_id: String,
    /// This boot: the configured `boot_id_file`'s content, else the kernel's.
    pub boot_id: String,
    /// The address other hosts reach this host at (`advertise_address`):
    /// their links to its containers that publish ports go there.
    pub advertise: Option<std::net::IpAddr>,
}

/// The default key prefix.
pub const DEFAULT_PREFIX: &str = "/linkshim";
/// The default timeout of a call.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(2);

/// A key prefix: `/` then segments of `[A-Za-z0-9_.-]`, no trailing `/`.
pub fn is_prefix(p: &str) -> bool {
    p.strip_prefix('/').is_some_and(|rest| {
        rest.split('/')
            .all(|seg| is_host_id(seg) && seg != "." && seg != "..")
    })
}

/// The registry on etcd, for this host.
pub struct EtcdStore {
    client: Client,
    advertise: Option<std::net::IpAddr>,
    keys: Keys,
    live: Liveness,
    /// Opened with [`EtcdStore::open_read_only`]: every write fails.
    read_only: bool,
}

/// A key read, decoded.
struct Read {
    kv: Kv,
    holder: Holder,
}

impl EtcdStore {
    /// The live records (of any host), with their tokens, that `wanted`
    /// takes: one scan behind every question about linkers.
    fn live_linkers(
        &self,
        wanted: impl Fn(&Record) -> bool,
    ) -> Result<Vec<(Record, String)>, Error> {
        let reads = self.decode_all(self.client.prefix(&self.keys.ids())?)?;
        Ok(reads
            .into_iter()
            .filter(|r| self.is_live(&r.holder))
            .filter_map(|r| {
                let token = r.holder.token()?.to_string();
                let rec = r.holder.record()?.clone();
                wanted(&rec).then_some((rec, token))
            })
            .collect())
    }

    /// The live records with a link in `scope` whose target `names` accepts.
    fn linkers_in(
        &self,
        scope: &str,
        names: impl Fn(&str) -> bool,
    ) -> Result<Vec<(Record, String)>, Error> {
        self.live_linkers(|rec| {
            rec.links.iter().any(|l| {
                l.scope.as_ref().unwrap_or(&rec.scope).as_str() == scope && names(l.target.as_str())
            })
        })
    }

    /// A store for `settings`; nothing is asked of the cluster yet.
    pub fn open(settings: &Settings) -> Result<EtcdStore, Error> {
        Ok(EtcdStore {
            client: Client::new(settings)?,
            advertise: settings.advertise,
            keys: Keys {
                prefix: settings.prefix.clone(),
                host: settings.host_id.clone(),
            },
            live: Liveness {
                boot_id: settings.boot_id.clone(),
            },
            read_only: false,
        })
    }

    /// A store whose every write fails (its reads never write anything).
    pub fn open_read_only(settings: &Settings) -> Result<EtcdStore, Error> {
        Ok(EtcdStore {
            read_only: true,
            ..Self::open(settings)?
        })
    }

    /// Fail when this store was opened read-only.
    fn writable(&self) -> Result<(), Error> {
        match self.read_only {
            true => Err(StorageError::Etcd {
                endpoints: self.client.describe(),
                why: "opened read-only, nothing may be written".into(),
            }
            .into()),
            false => Ok(()),
        }
    }

    fn me(&self) -> &str {
        &self.keys.host
    }

    fn corrupt(&self, key: &str, why: String) -> Error {
        StorageError::EtcdCorrupt {
            endpoints: self.client.describe(),
            key: key.to_string(),
            why,
        }
        .into()
    }

    fn contended(&self, what: &'static str) -> Error {
        StorageError::EtcdContended {
            endpoints: self.client.describe(),
            what,
            tries: TRIES,
        }
        .into()
    }

    fn decode(&self, kv: Kv) -> Result<Read, Error> {
        let holder = Entry::decode(&kv.value).map_err(|why| self.corrupt(&kv.key, why))?;
        Ok(Read { kv, holder })
    }

    fn decode_all(&self, kvs: Vec<Kv>) -> Result<Vec<Read>, Error> {
        kvs.into_iter().map(|kv| self.decode(kv)).collect()
    }

    fn one(&self, kvs: &mut Vec<Kv>) -> Result<Option<Read>, Error> {
        kvs.pop().map(|kv| self.decode(kv)).transpose()
    }

    fn is_live(&self, h: &Holder) -> bool {
        h.live(self.me(), &self.live)
    }

    /// The live records among `reads`, once each (by scope and name).
    fn live_records(&self, reads: impl IntoIterator<Item = Read>) -> Vec<Record> {
        let mut out: Vec<Record> = Vec::new();
        for r in reads {
            if !self.is_live(&r.holder) {
                continue;
            }
            if let Some(rec) = r.holder.record_from(self.me())
                && !out
                    .iter()
                    .any(|o| o.scope == rec.scope && o.name == rec.name)
            {
                out.push(rec);
            }
        }
        out
    }

    /// Holds, reservations and records of this host that carry `token`,
    /// but those of `own`.
    fn token_held_except(&self, token: &str, own: Option<(&Name, &Name)>) -> Result<bool, Error> {
        let mut reads = self.client.read(&[
            Op::Get(self.keys.hold(token)),
            Op::Get(self.keys.reserved(token)),
            Op::Prefix(self.keys.ids()),
        ])?;
        let ids = reads.pop().unwrap_or_default();
        let mut reserved = reads.pop().unwrap_or_default();
        let mut hold = reads.pop().unwrap_or_default();
        let is_own = |scope: &Name, name: &Name| own.is_some_and(|(s, n)| s == scope && n == name);
        if let Some(kv) = hold.pop() {
            let h: Hold = serde_json::from_slice(&kv.value)
                .map_err(|e| self.corrupt(&kv.key, e.to_string()))?;
            if h.boot == self.live.boot_id && !is_own(&h.scope, &h.name) {
                return Ok(true);
            }
        }
        if let Some(r) = self.one(&mut reserved)?
            && self.is_live(&r.holder)
            && let Holder::Reserved { reservation, .. } = &r.holder
            && !is_own(&reservation.scope, &reservation.name)
        {
            return Ok(true);
        }
        for r in self.decode_all(ids)? {
            if r.holder.token() == Some(token) && self.is_live(&r.holder) {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Conditional deletes of the keys a holder (`value`) was written
    /// under, when they still hold it.
    fn clear_ops(&self, holder: &Holder, value: &[u8]) -> Vec<Op> {
        let del = |k: String| Op::DeleteIf(k, value.to_vec());
        match holder {
            Holder::Container { record, .. } => {
                let mut ops = vec![
                    del(self.keys.name(record.scope.as_str(), record.name.as_str())),
                    del(self.keys.id(record.id.as_str())),
                ];
                if let (Some(s), Some(i)) = (&record.service, record.index) {
                    ops.push(del(self.keys.slot(record.scope.as_str(), s.as_str(), i)));
                }
                ops
            }
            Holder::Reserved {
                reservation: r,
                token,
                ..
            } => vec![
                del(self.keys.name(r.scope.as_str(), r.name.as_str())),
                del(self
                    .keys
                    .slot(r.scope.as_str(), r.service.as_str(), r.index)),
                del(self.keys.reserved(token.as_deref().unwrap_or_default())),
            ],
        }
    }

    /// Fail when `name` in `scope` is held: by a live container (other
    /// than `id`, when given), or a live reservation under another token.
    fn refuse_holder(
        &self,
        found: Option<&Read>,
        scope: &Name,
        name: &Name,
        id: Option<&str>,
        token: Option<&str>,
    ) -> Result<(), Error> {
        let Some(r) = found.filter(|r| self.is_live(&r.holder)) else {
            return Ok(());
        };
        match &r.holder {
            Holder::Container { record, .. } if Some(record.id.as_str()) != id => {
                Err(Conflict::NameInUse {
                    scope: scope.to_string(),
                    name: name.to_string(),
                    id: record.id.to_string(),
                }
                .into())
            }
            Holder::Reserved { token: t, .. } if t.as_deref() != token => {
                Err(Conflict::NameReserved {
                    scope: scope.to_string(),
                    name: name.to_string(),
                }
                .into())
            }
            _ => Ok(()),
        }
    }

    fn refuse_resource(&self, found: &[Kv], name: &Name) -> Result<(), Error> {
        if found.is_empty() {
            return Ok(());
        }
        Err(Conflict::NameIsResource {
            name: name.to_string(),
        }
        .into())
    }

    /// The indexes live holders of `service`'s slots hold, but `id`'s
    /// record and `token`'s reservation; and the index `id` holds.
    fn taken(&self, slots: &[Read], id: &str, token: Option<&str>) -> (Vec<u32>, Option<u32>) {
        let mut taken = Vec::new();
        let mut own = None;
        for r in slots {
            let index = slot_index(&r.kv.key);
            match &r.holder {
                Holder::Container { record, .. } if record.id.as_str() == id => own = index,
                Holder::Reserved { token: t, .. } if token.is_some() && t.as_deref() == token => {}
                h if self.is_live(h) => taken.extend(index),
                _ => {}
            }
        }
        (taken, own)
    }

    fn single_register(&self, rec: &Record, token: Option<&str>) -> Result<Option<Record>, Error> {
        let scope = rec.scope.as_str();
        let name_key = self.keys.name(scope, rec.name.as_str());
        let id_key = self.keys.id(rec.id.as_str());
        let mut ops = vec![
            Op::Get(name_key.clone()),
            Op::Prefix(self.keys.ids()),
            Op::Get(self.keys.resource(rec.name.as_str())),
        ];
        if let Some(t) = token {
            ops.push(Op::Get(self.keys.reserved(t)));
        }
        if let Some(s) = &rec.service {
            ops.push(Op::Prefix(self.keys.slots_of(scope, s.as_str())));
        }
        let mut reads = self.client.read(&ops)?.into_iter();
        let mut next = || reads.next().unwrap_or_default();
        let named = self.one(&mut next())?;
        let ids = self.decode_all(next())?;
        let resource = next();
        let reserved = match token {
            Some(_) => self.one(&mut next())?,
            None => None,
        };
        let slots = match &rec.service {
            Some(_) => self.decode_all(next())?,
            None => vec![],
        };
        // Its identity: the same container registering again, or a new one.
        let mut previous = None;
        for r in &ids {
            if !self.is_live(&r.holder) {
                if r.kv.key == id_key {
                    previous = Some(r);
                }
                continue;
            }
            let Some(other) = r.holder.record() else {
                continue;
            };
            if other.id != rec.id {
                if token.is_some() && r.holder.token() == token {
                    return Err(Conflict::TokenInUse {
                        id: rec.id.to_string(),
                        holder: other.id.to_string(),
                    }
                    .into());
                }
                continue;
            }
            let same = r.holder.token() == token
                && other.pid == rec.pid
                && other.pid_start == rec.pid_start;
            if !same {
                return Err(Conflict::IdInUse {
                    id: rec.id.to_string(),
                }
                .into());
            }
            previous = Some(r);
        }
        self.refuse_holder(
            named.as_ref(),
            &rec.scope,
            &rec.name,
            Some(rec.id.as_str()),
            token,
        )?;
        self.refuse_resource(&resource, &rec.name)?;
        let mut stored = Record {
            boot_id: self.live.boot_id.clone(),
            index: None,
            ..rec.clone()
        };
        let slot = reserved
            .as_ref()
            .filter(|r| self.is_live(&r.holder))
            .and_then(|r| match &r.holder {
                Holder::Reserved { reservation, .. } => Some(reservation.clone()),
                _ => None,
            });
        let mut slot_read = None;
        if let Some(service) = &rec.service {
            let (taken, own) = self.taken(&slots, rec.id.as_str(), token);
            let from_slot = slot
                .as_ref()
                .filter(|s| &s.service == service && s.scope == rec.scope)
                .map(|s| s.index)
                .filter(|i| !taken.contains(i));
            let index = from_slot.or(own).unwrap_or_else(|| {
                rec.index
                    .filter(|w| *w > 0 && !taken.contains(w))
                    .unwrap_or_else(|| (1..).find(|i| !taken.contains(i)).expect("a free index"))
            });
            stored.index = Some(index);
            let key = self.keys.slot(scope, service.as_str(), index);
            slot_read = Some((
                slots.iter().find(|r| r.kv.key == key).map(|r| r.kv.clone()),
                key,
            ));
        }
        let entry = Entry::container(self.me(), self.advertise, &stored, token).bytes();
        let mut compares = vec![
            Cmp::as_read(&name_key, named.as_ref().map(|r| &r.kv)),
            Cmp::as_read(&id_key, previous.map(|r| &r.kv)),
        ];
        let mut writes = Vec::new();
        // What it held before (another name, another slot), and its
        // reservation's name and slot, go first; then it is put.
        if let Some(p) = previous {
            writes.extend(self.clear_ops(&p.holder, &p.kv.value));
        }
        if let Some(r) = &reserved
            && r.holder.host() == self.me()
        {
            writes.extend(self.clear_ops(&r.holder, &r.kv.value));
        }
        if let Some(t) = token {
            writes.push(Op::Delete(self.keys.hold(t)));
        }
        let mut puts = vec![
            Op::Put(name_key.clone(), entry.clone()),
            Op::Put(id_key, entry.clone()),
        ];
        if let Some((seen, key)) = slot_read {
            compares.push(Cmp::as_read(&key, seen.as_ref()));
            puts.push(Op::Put(key, entry));
        }
        let (ok, _) = self.client.txn(&compares, &then_put(writes, puts), &[])?;
        Ok(ok.then_some(stored))
    }

    fn single_reserve(
        &self,
        scope: &Name,
        service: &Name,
        name: &Name,
        token: &str,
    ) -> Result<Option<u32>, Error> {
        let name_key = self.keys.name(scope.as_str(), name.as_str());
        let mut reads = self
            .client
            .read(&[
                Op::Get(name_key.clone()),
                Op::Get(self.keys.resource(name.as_str())),
                Op::Get(self.keys.reserved(token)),
                Op::Prefix(self.keys.slots_of(scope.as_str(), service.as_str())),
            ])?
            .into_iter();
        let mut next = || reads.next().unwrap_or_default();
        let named = self.one(&mut next())?;
        let resource = next();
        let own = self.one(&mut next())?;
        let slots = self.decode_all(next())?;
        self.refuse_holder(named.as_ref(), scope, name, None, Some(token))?;
        self.refuse_resource(&resource, name)?;
        let (taken, _) = self.taken(&slots, "", Some(token));
        let again = own.as_ref().and_then(|r| match &r.holder {
            Holder::Reserved { reservation, .. }
                if &reservation.scope == scope
                    && &reservation.service == service
                    && self.is_live(&r.holder) =>
            {
                Some(reservation.index)
            }
            _ => None,
        });
        let index = again
            .filter(|i| !taken.contains(i))
            .unwrap_or_else(|| (1..).find(|i| !taken.contains(i)).expect("a free index"));
        let entry = Entry::reservation(
            self.me(),
            token,
            Reservation {
                boot: self.live.boot_id.clone(),
                created: now(),
                scope: scope.clone(),
                name: name.clone(),
                service: service.clone(),
                index,
            },
        )
        .bytes();
        let slot_key = self.keys.slot(scope.as_str(), service.as_str(), index);
        let slot_seen = slots.iter().find(|r| r.kv.key == slot_key).map(|r| &r.kv);
        let mut writes = Vec::new();
        if let Some(r) = &own {
            writes.extend(self.clear_ops(&r.holder, &r.kv.value));
        }
        let puts = vec![
            Op::Put(name_key.clone(), entry.clone()),
            Op::Put(slot_key.clone(), entry.clone()),
            Op::Put(self.keys.reserved(token), entry),
        ];
        let compares = [
            Cmp::as_read(&name_key, named.as_ref().map(|r| &r.kv)),
            Cmp::as_read(&slot_key, slot_seen),
        ];
        let (ok, _) = self.client.txn(&compares, &then_put(writes, puts), &[])?;
        Ok(ok.then_some(index))
    }

    /// This host's entries, read for `gc`.
    fn collect_mine(&self, unreadable: bool) -> Result<Collected, Error> {
        let mut out = Collected::default();
        let mut writes = Vec::new();
        let ids = self.keys.ids();
        let reserved = self.keys.mine() + "reserved/";
        let holds = self.keys.mine() + "holds/";
        for kv in self.client.prefix(&self.keys.mine())? {
            if kv.key.starts_with(&holds) {
                match serde_json::from_slice::<Hold>(&kv.value) {
                    Ok(h) if h.boot == self.live.boot_id => {}
                    Ok(_) => {
                        out.holds += 1;
                        writes.push(Op::DeleteIf(kv.key, kv.value));
                    }
                    Err(e) if unreadable => {
                        out.unreadable.push(format!("{}: {e}", kv.key));
                        writes.push(Op::DeleteIf(kv.key, kv.value));
                    }
                    Err(e) => return Err(self.corrupt(&kv.key, e.to_string())),
                }
                continue;
            }
            let holder = match Entry::decode(&kv.value) {
                Ok(h) => h,
                Err(why) if unreadable => {
                    out.unreadable.push(format!("{}: {why}", kv.key));
                    writes.push(Op::DeleteIf(kv.key, kv.value));
                    continue;
                }
                Err(why) => return Err(self.corrupt(&kv.key, why)),
            };
            if self.is_live(&holder) {
                continue;
            }
            match &holder {
                Holder::Container { record, .. } if kv.key.starts_with(&ids) => out
                    .stale
                    .push((record.id.to_string(), record.name.to_string())),
                Holder::Reserved { .. } if kv.key.starts_with(&reserved) => out.reservations += 1,
                _ => {}
            }
            writes.extend(self.clear_ops(&holder, &kv.value));
            writes.push(Op::DeleteIf(kv.key, kv.value));
        }
        // etcd takes at most 128 operations in one transaction.
        let writes = then_put(writes, vec![]);
        for chunk in writes.chunks(100) {
            self.client.write(chunk)?;
        }
        Ok(out)
    }
}

/// `clears` (each key once, those `puts` writes anyway left out: etcd
/// takes one operation per key in a transaction), then `puts`.
fn then_put(clears: Vec<Op>, puts: Vec<Op>) -> Vec<Op> {
    let mut keys: Vec<String> = puts
        .iter()
        .filter_map(|o| o.key().map(str::to_string))
        .collect();
    let mut out = Vec::new();
    for op in clears {
        let Some(key) = op.key() else { continue };
        if keys.iter().any(|k| k == key) {
            continue;
        }
        keys.push(key.to_string());
        out.push(op);
    }
    out.extend(puts);
    out
}

/// The index at the end of a slot's key.
fn slot_index(key: &str) -> Option<u32> {
    key.rsplit('/').next()?.parse().ok()
}

/// By service index (none first), then as found.
fn by_index(mut recs: Vec<Record>) -> Vec<Record> {
    recs.sort_by_key(|r| r.index);
    recs
}

impl Store for EtcdStore {
    fn register(&mut self, rec: &Record, token: Option<&str>) -> Result<Record, Error> {
        self.writable()?;
        ContainerId::parse(rec.id.as_str())?;
        for _ in 0..TRIES {
            if let Some(stored) = self.single_register(rec, token)? {
                return Ok(stored);
            }
        }
        Err(self.contended("register"))
    }

    fn unregister(&mut self, id: &str, token: Option<&str>) -> Result<Option<Record>, Error> {
        self.writable()?;
        let mut ops = vec![Op::Get(self.keys.id(id))];
        if let Some(t) = token {
            ops.push(Op::Get(self.keys.reserved(t)));
        }
        let mut reads = self.client.read(&ops)?.into_iter();
        let mine = self.one(&mut reads.next().unwrap_or_default())?;
        let reserved = self.one(&mut reads.next().unwrap_or_default())?;
        let removed = mine.filter(|r| r.holder.token().is_none() || r.holder.token() == token);
        let mut writes = Vec::new();
        if let Some(r) = &removed {
            writes.extend(self.clear_ops(&r.holder, &r.kv.value));
        }
        if let Some(r) = &reserved {
            writes.extend(self.clear_ops(&r.holder, &r.kv.value));
        }
        if let Some(t) = token {
            writes.push(Op::Delete(self.keys.hold(t)));
        }
        let writes = then_put(writes, vec![]);
        if !writes.is_empty() {
            self.client.write(&writes)?;
        }
        Ok(removed.and_then(|r| r.holder.record().cloned()))
    }

    fn lookup(&mut self, scope: &str, name: &str) -> Result<Option<Record>, Error> {
        let found = self.client.get(&self.keys.name(scope, name))?;
        let reads = found.map(|kv| self.decode(kv)).transpose()?;
        Ok(self.live_records(reads).pop())
    }

    fn find(&mut self, scope: &str, names: &[&str]) -> Result<Vec<Record>, Error> {
        let mut ops = Vec::with_capacity(names.len() * 2);
        for n in names {
            ops.push(Op::Get(self.keys.name(scope, n)));
            ops.push(Op::Prefix(self.keys.slots_of(scope, n)));
        }
        let kvs = self.client.read(&ops)?.into_iter().flatten().collect();
        let reads = self.decode_all(kvs)?;
        let found = self.live_records(reads);
        Ok(by_index(
            found
                .into_iter()
                .filter(|r| {
                    names.contains(&r.name.as_str())
                        || r.service
                            .as_ref()
                            .is_some_and(|s| names.contains(&s.as_str()))
                })
                .collect(),
        ))
    }

    fn service(&mut self, scope: &str, service: &str) -> Result<Vec<Record>, Error> {
        let reads = self.decode_all(self.client.prefix(&self.keys.slots_of(scope, service))?)?;
        Ok(by_index(self.live_records(reads)))
    }

    fn get(&mut self, id: &str) -> Result<Option<Record>, Error> {
        let found = self.client.get(&self.keys.id(id))?;
        let reads = found.map(|kv| self.decode(kv)).transpose()?;
        Ok(self.live_records(reads).pop())
    }

    fn list(&mut self) -> Result<Vec<Record>, Error> {
        let reads = self.decode_all(self.client.prefix(&self.keys.all_names())?)?;
        let mut all = self.live_records(reads);
        all.sort_by(|a, b| (&a.scope, &a.name).cmp(&(&b.scope, &b.name)));
        Ok(all)
    }

    fn linkers_of(
        &mut self,
        scope: &str,
        targets: &[&str],
    ) -> Result<Vec<(Record, String)>, Error> {
        self.linkers_in(scope, |target| targets.contains(&target))
    }

    fn linkers_by_id(&mut self, scope: &str, id: &str) -> Result<Vec<(Record, String)>, Error> {
        self.linkers_in(scope, |target| id.starts_with(target))
    }

    fn find_by_id(&mut self, scope: &str, prefix: &str) -> Result<Vec<Record>, Error> {
        if prefix.is_empty() {
            return Ok(Vec::new());
        }
        let reads = self.decode_all(self.client.prefix(&self.keys.names_in(scope))?)?;
        let mut found: Vec<Record> = self
            .live_records(reads)
            .into_iter()
            .filter(|r| r.id.as_str().starts_with(prefix))
            .collect();
        found.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(found)
    }

    fn set_addrs(
        &mut self,
        id: &str,
        addrs: &[std::net::IpAddr],
        nets: &[crate::model::NetAddr],
    ) -> Result<bool, Error> {
        self.writable()?;
        self.rewrite_own(id, None, |rec| {
            if rec.addrs == addrs && rec.nets == nets {
                return false;
            }
            rec.addrs = addrs.to_vec();
            rec.nets = nets.to_vec();
            true
        })
        .map(|r| r.is_some())
    }

    fn token_of(&self, id: &str) -> Result<Option<String>, Error> {
        let found = self.client.get(&self.keys.id(id))?;
        let read = found.map(|kv| self.decode(kv)).transpose()?;
        Ok(read.and_then(|r| r.holder.token().map(str::to_string)))
    }

    fn check_name(
        &mut self,
        scope: &Name,
        name: &Name,
        id: Option<&str>,
        token: &str,
    ) -> Result<(), Error> {
        let found = self
            .client
            .get(&self.keys.name(scope.as_str(), name.as_str()))?;
        let read = found.map(|kv| self.decode(kv)).transpose()?;
        self.refuse_holder(read.as_ref(), scope, name, id, Some(token))
    }

    fn reserve(
        &mut self,
        scope: &Name,
        service: &Name,
        name: &Name,
        token: &str,
    ) -> Result<u32, Error> {
        self.writable()?;
        for _ in 0..TRIES {
            if let Some(index) = self.single_reserve(scope, service, name, token)? {
                return Ok(index);
            }
        }
        Err(self.contended("reserve"))
    }

    fn peek_index(
        &mut self,
        scope: &Name,
        service: &Name,
        name: &Name,
        token: &str,
    ) -> Result<u32, Error> {
        let mut reads = self
            .client
            .read(&[
                Op::Get(self.keys.resource(name.as_str())),
                Op::Get(self.keys.reserved(token)),
                Op::Prefix(self.keys.slots_of(scope.as_str(), service.as_str())),
            ])?
            .into_iter();
        let mut next = || reads.next().unwrap_or_default();
        self.refuse_resource(&next(), name)?;
        let own = self.one(&mut next())?;
        let slots = self.decode_all(next())?;
        if let Some(r) = own
            && self.is_live(&r.holder)
            && let Holder::Reserved { reservation, .. } = &r.holder
            && &reservation.scope == scope
            && &reservation.service == service
        {
            return Ok(reservation.index);
        }
        let (taken, _) = self.taken(&slots, "", Some(token));
        Ok((1..).find(|i| !taken.contains(i)).expect("a free index"))
    }

    fn hold_token(&mut self, token: &str, scope: &Name, name: &Name) -> Result<(), Error> {
        self.writable()?;
        let hold = Hold {
            boot: self.live.boot_id.clone(),
            created: now(),
            scope: scope.clone(),
            name: name.clone(),
        };
        let value = serde_json::to_vec(&hold).expect("holds always serialize");
        self.client.write(&[Op::Put(self.keys.hold(token), value)])
    }

    fn token_held(&self, token: &str) -> Result<bool, Error> {
        self.token_held_except(token, None)
    }

    fn token_held_by_other(&self, token: &str, scope: &Name, name: &Name) -> Result<bool, Error> {
        self.token_held_except(token, Some((scope, name)))
    }

    fn get_with_token(&mut self, id: &str) -> Result<Option<(Record, Option<String>)>, Error> {
        let found = self.client.get(&self.keys.id(id))?;
        let Some(r) = found.map(|kv| self.decode(kv)).transpose()? else {
            return Ok(None);
        };
        if !self.is_live(&r.holder) {
            return Ok(None);
        }
        let token = r.holder.token().map(str::to_string);
        Ok(r.holder.record().cloned().map(|rec| (rec, token)))
    }

    fn set_links(
        &mut self,
        id: &str,
        token: &str,
        links: &[LinkRequest],
    ) -> Result<Option<Record>, Error> {
        self.writable()?;
        self.rewrite_own(id, Some(token), |rec| {
            rec.links = links.to_vec();
            true
        })
    }

    fn put_resource(&mut self, res: &Resource) -> Result<(), Error> {
        self.writable()?;
        let reads = self.decode_all(self.client.prefix(&self.keys.all_names())?)?;
        for r in reads.iter().filter(|r| self.is_live(&r.holder)) {
            match &r.holder {
                Holder::Container { record, .. } if record.name == res.name => {
                    return Err(Conflict::NameInUse {
                        scope: record.scope.to_string(),
                        name: res.name.to_string(),
                        id: record.id.to_string(),
                    }
                    .into());
                }
                Holder::Reserved { reservation, .. } if reservation.name == res.name => {
                    return Err(Conflict::NameReserved {
                        scope: reservation.scope.to_string(),
                        name: res.name.to_string(),
                    }
                    .into());
                }
                _ => {}
            }
        }
        let value = serde_json::to_vec(&entry::StoredResource::from(res))
            .expect("resources always serialize");
        self.client
            .write(&[Op::Put(self.keys.resource(res.name.as_str()), value)])
    }

    fn remove_resource(&mut self, name: &str) -> Result<bool, Error> {
        self.writable()?;
        let key = self.keys.resource(name);
        let (_, mut reads) = self
            .client
            .txn(&[], &[Op::Get(key.clone()), Op::Delete(key)], &[])?;
        Ok(reads.pop().is_some_and(|r| !r.is_empty()))
    }

    fn resource(&self, name: &str) -> Result<Option<Resource>, Error> {
        Ok(self.resources_named(&[name])?.pop())
    }

    fn resources_named(&self, names: &[&str]) -> Result<Vec<Resource>, Error> {
        let ops: Vec<Op> = names
            .iter()
            .map(|n| Op::Get(self.keys.resource(n)))
            .collect();
        let kvs = self.client.read(&ops)?.into_iter().flatten();
        kvs.map(|kv| self.resource_of(kv)).collect()
    }

    fn resources(&self) -> Result<Vec<Resource>, Error> {
        let kvs = self.client.prefix(&self.keys.resources())?;
        kvs.into_iter().map(|kv| self.resource_of(kv)).collect()
    }

    fn collect(&mut self, unreadable: bool) -> Result<Collected, Error> {
        self.writable()?;
        self.collect_mine(unreadable)
    }

    fn describe(&self) -> String {
        format!("etcd {} {}", self.client.describe(), self.keys.prefix)
    }
}

impl EtcdStore {
    /// Change this host's record of `id` with `change` (which says whether
    /// it changed anything) under every key it is kept, when it is live
    /// (and registered under `token`, when given); the record as stored, or
    /// None when it is gone, another's or unchanged.
    fn rewrite_own(
        &mut self,
        id: &str,
        token: Option<&str>,
        mut change: impl FnMut(&mut Record) -> bool,
    ) -> Result<Option<Record>, Error> {
        for _ in 0..TRIES {
            let id_key = self.keys.id(id);
            let Some(r) = self
                .client
                .get(&id_key)?
                .map(|kv| self.decode(kv))
                .transpose()?
            else {
                return Ok(None);
            };
            let Some(mut rec) = r.holder.record().cloned() else {
                return Ok(None);
            };
            let own = token.is_none_or(|t| r.holder.token() == Some(t));
            if !own || !self.is_live(&r.holder) || !change(&mut rec) {
                return Ok(None);
            }
            let entry = Entry::container(self.me(), self.advertise, &rec, r.holder.token()).bytes();
            // Every key the record is under, if it is still there as read.
            let mut compares = vec![Cmp::Unchanged(id_key.clone(), r.kv.mod_revision)];
            let mut keys = vec![self.keys.name(rec.scope.as_str(), rec.name.as_str())];
            if let (Some(s), Some(i)) = (&rec.service, rec.index) {
                keys.push(self.keys.slot(rec.scope.as_str(), s.as_str(), i));
            }
            let mut writes = vec![Op::Put(id_key, entry.clone())];
            for k in keys {
                compares.push(Cmp::Value(k.clone(), r.kv.value.clone()));
                writes.push(Op::Put(k, entry.clone()));
            }
            if self.client.txn(&compares, &writes, &[])?.0 {
                return Ok(Some(rec));
            }
        }
        Err(self.contended("rewrite a record"))
    }

    /// Every live linker of this host with its hosts token: what `linkshim
    /// watch` renders again when it catches up.
    pub fn local_linkers(&self) -> Result<Vec<(Record, String)>, Error> {
        self.live_linkers(|rec| !rec.links.is_empty())
    }

    fn resource_of(&self, kv: Kv) -> Result<Resource, Error> {
        serde_json::from_slice::<entry::StoredResource>(&kv.value)
            .map(Resource::from)
            .map_err(|e| self.corrupt(&kv.key, e.to_string()))
    }
}
