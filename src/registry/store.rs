//! The seam between linkshim and where its registry lives: [`Store`], one
//! trait with two implementations, the embedded SQLite database
//! ([`Registry`], the default) and an etcd v3 cluster ([`super::etcd`],
//! `registry = "etcd"` in the config file). Resolve, render, the hook
//! stages and the commands see only a `dyn Store`, opened by `registry::open`
//! with the backend this process was configured with (`src/registry/backend.rs`).
//!
//! One dynamic call per operation; every operation keeps its SQLite cost
//! (the implementation for [`Registry`] only forwards to its own methods).

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use super::Registry;
use super::error::Error;
use super::gc::Collected;
use super::record::{Record, Resource};
use crate::model::{LinkRequest, Name, NetAddr};

/// Everything the rest of linkshim asks of a registry. Method for method
/// the inherent methods of [`Registry`], whose documentation says what
/// each does.
pub trait Store {
    /// Register (or register again) the started container `rec`.
    fn register(&mut self, rec: &Record, token: Option<&str>) -> Result<Record, Error>;
    /// Remove the record of `id` registered under `token` (or none), with
    /// the reservation and hold of `token`.
    fn unregister(&mut self, id: &str, token: Option<&str>) -> Result<Option<Record>, Error>;
    /// The live container named `name` in `scope`.
    fn lookup(&mut self, scope: &str, name: &str) -> Result<Option<Record>, Error>;
    /// Every live container of `scope` named one of `names`, or a replica
    /// of a service named so, by service index.
    fn find(&mut self, scope: &str, names: &[&str]) -> Result<Vec<Record>, Error>;
    /// The live replicas of `service` in `scope`, by index.
    fn service(&mut self, scope: &str, service: &str) -> Result<Vec<Record>, Error>;
    /// The live record of container `id` (of this host).
    fn get(&mut self, id: &str) -> Result<Option<Record>, Error>;
    /// Every live record, by scope and name.
    fn list(&mut self) -> Result<Vec<Record>, Error>;
    /// The live linkers (of this host), with their tokens, whose links
    /// name any of `targets` in `scope`.
    fn linkers_of(&mut self, scope: &str, targets: &[&str])
    -> Result<Vec<(Record, String)>, Error>;
    /// The live linkers (of this host), with their tokens, whose links in
    /// `scope` name container `id` by its id or a prefix of it.
    fn linkers_by_id(&mut self, scope: &str, id: &str) -> Result<Vec<(Record, String)>, Error>;
    /// The live containers of `scope` whose id is `prefix` or starts with it.
    fn find_by_id(&mut self, scope: &str, prefix: &str) -> Result<Vec<Record>, Error>;
    /// Replace the addresses of the record of `id` (of this host); true
    /// when they changed.
    fn set_addrs(&mut self, id: &str, addrs: &[IpAddr], nets: &[NetAddr]) -> Result<bool, Error>;
    /// The hosts token the record of `id` (of this host) was registered under.
    fn token_of(&self, id: &str) -> Result<Option<String>, Error>;
    /// Fail when `name` is held in `scope` by another live container or
    /// reserved under another token.
    fn check_name(
        &mut self,
        scope: &Name,
        name: &Name,
        id: Option<&str>,
        token: &str,
    ) -> Result<(), Error>;
    /// Reserve a replica slot of `service` in `scope` for `name` being
    /// created under `token`: its index.
    fn reserve(
        &mut self,
        scope: &Name,
        service: &Name,
        name: &Name,
        token: &str,
    ) -> Result<u32, Error>;
    /// The index `reserve` would give now, reserving nothing (a dry run).
    fn peek_index(
        &mut self,
        scope: &Name,
        service: &Name,
        name: &Name,
        token: &str,
    ) -> Result<u32, Error>;
    /// Hold the hosts file of `token` for `name` in `scope`, being created.
    fn hold_token(&mut self, token: &str, scope: &Name, name: &Name) -> Result<(), Error>;
    /// True when `token` is in use on this host.
    fn token_held(&self, token: &str) -> Result<bool, Error>;
    /// `token_held`, but for the reservation or hold of `name` in `scope`.
    fn token_held_by_other(&self, token: &str, scope: &Name, name: &Name) -> Result<bool, Error>;
    /// The live record of container `id` (of this host) and its token.
    fn get_with_token(&mut self, id: &str) -> Result<Option<(Record, Option<String>)>, Error>;
    /// Replace the links of live container `id` running under `token`;
    /// the record as stored, or None when it is gone or another.
    fn set_links(
        &mut self,
        id: &str,
        token: &str,
        links: &[LinkRequest],
    ) -> Result<Option<Record>, Error>;
    /// Add or replace a resource.
    fn put_resource(&mut self, res: &Resource) -> Result<(), Error>;
    /// Remove a resource; true when there was one.
    fn remove_resource(&mut self, name: &str) -> Result<bool, Error>;
    /// The resource named `name`.
    fn resource(&self, name: &str) -> Result<Option<Resource>, Error>;
    /// The resources named one of `names`.
    fn resources_named(&self, names: &[&str]) -> Result<Vec<Resource>, Error>;
    /// Every resource, by name.
    fn resources(&self) -> Result<Vec<Resource>, Error>;
    /// Remove what no running container of this host holds any more.
    fn collect(&mut self, unreadable: bool) -> Result<Collected, Error>;
    /// Remove the hosts files under `state_dir` the registry proves unused.
    fn sweep_hosts_files(&self, state_dir: &Path) -> (Vec<PathBuf>, Vec<String>) {
        super::gc::sweep_hosts_files(state_dir, |t| self.token_held(t))
    }
    /// What this store is, for messages: the database's path, or the
    /// etcd endpoints and prefix.
    fn describe(&self) -> String;
    /// Make every operation until [`commit`](Store::commit) one
    /// transaction, under the write lock, when that lock is free now: it
    /// reads one state, and nothing of it stays unless `commit` succeeds.
    /// True when it did; etcd's operations are each their own transaction.
    fn begin(&mut self) -> bool {
        false
    }
    /// Commit what was done since [`begin`](Store::begin).
    fn commit(&mut self) -> Result<(), Error> {
        Ok(())
    }
}

impl Store for Registry {
    fn register(&mut self, rec: &Record, token: Option<&str>) -> Result<Record, Error> {
        Registry::register(self, rec, token)
    }
    fn unregister(&mut self, id: &str, token: Option<&str>) -> Result<Option<Record>, Error> {
        Registry::unregister(self, id, token)
    }
    fn lookup(&mut self, scope: &str, name: &str) -> Result<Option<Record>, Error> {
        Registry::lookup(self, scope, name)
    }
    fn find(&mut self, scope: &str, names: &[&str]) -> Result<Vec<Record>, Error> {
        Registry::find(self, scope, names)
    }
    fn service(&mut self, scope: &str, service: &str) -> Result<Vec<Record>, Error> {
        Registry::service(self, scope, service)
    }
    fn get(&mut self, id: &str) -> Result<Option<Record>, Error> {
        Registry::get(self, id)
    }
    fn list(&mut self) -> Result<Vec<Record>, Error> {
        Registry::list(self)
    }
    fn linkers_of(
        &mut self,
        scope: &str,
        targets: &[&str],
    ) -> Result<Vec<(Record, String)>, Error> {
        Registry::linkers_of(self, scope, targets)
    }
    fn linkers_by_id(&mut self, scope: &str, id: &str) -> Result<Vec<(Record, String)>, Error> {
        Registry::linkers_by_id(self, scope, id)
    }
    fn find_by_id(&mut self, scope: &str, prefix: &str) -> Result<Vec<Record>, Error> {
        Registry::find_by_id(self, scope, prefix)
    }
    fn set_addrs(&mut self, id: &str, addrs: &[IpAddr], nets: &[NetAddr]) -> Result<bool, Error> {
        Registry::set_addrs(self, id, addrs, nets)
    }
    fn token_of(&self, id: &str) -> Result<Option<String>, Error> {
        Registry::token_of(self, id)
    }
    fn check_name(
        &mut self,
        scope: &Name,
        name: &Name,
        id: Option<&str>,
        token: &str,
    ) -> Result<(), Error> {
        Registry::check_name(self, scope, name, id, token)
    }
    fn reserve(
        &mut self,
        scope: &Name,
        service: &Name,
        name: &Name,
        token: &str,
    ) -> Result<u32, Error> {
        Registry::reserve(self, scope, service, name, token)
    }
    fn peek_index(
        &mut self,
        scope: &Name,
        service: &Name,
        name: &Name,
        token: &str,
    ) -> Result<u32, Error> {
        Registry::peek_index(self, scope, service, name, token)
    }
    fn hold_token(&mut self, token: &str, scope: &Name, name: &Name) -> Result<(), Error> {
        Registry::hold_token(self, token, scope, name)
    }
    fn token_held(&self, token: &str) -> Result<bool, Error> {
        Registry::token_held(self, token)
    }
    fn token_held_by_other(&self, token: &str, scope: &Name, name: &Name) -> Result<bool, Error> {
        Registry::token_held_by_other(self, token, scope, name)
    }
    fn get_with_token(&mut self, id: &str) -> Result<Option<(Record, Option<String>)>, Error> {
        Registry::get_with_token(self, id)
    }
    fn set_links(
        &mut self,
        id: &str,
        token: &str,
        links: &[LinkRequest],
    ) -> Result<Option<Record>, Error> {
        Registry::set_links(self, id, token, links)
    }
    fn put_resource(&mut self, res: &Resource) -> Result<(), Error> {
        Registry::put_resource(self, res)
    }
    fn remove_resource(&mut self, name: &str) -> Result<bool, Error> {
        Registry::remove_resource(self, name)
    }
    fn resource(&self, name: &str) -> Result<Option<Resource>, Error> {
        Registry::resource(self, name)
    }
    fn resources_named(&self, names: &[&str]) -> Result<Vec<Resource>, Error> {
        Registry::resources_named(self, names)
    }
    fn resources(&self) -> Result<Vec<Resource>, Error> {
        Registry::resources(self)
    }
    fn collect(&mut self, unreadable: bool) -> Result<Collected, Error> {
        Registry::collect(self, unreadable)
    }
    fn sweep_hosts_files(&self, state_dir: &Path) -> (Vec<PathBuf>, Vec<String>) {
        Registry::sweep_hosts_files(self, state_dir)
    }
    fn describe(&self) -> String {
        self.path().display().to_string()
    }
    fn begin(&mut self) -> bool {
        Registry::begin(self)
    }
    fn commit(&mut self) -> Result<(), Error> {
        Registry::commit(self)
    }
}
