//! The registry on a real etcd cluster (Debian's `etcd`, started here on
//! loopback ports), through the same `Store` trait the hooks use: two
//! hosts (two host ids) sharing one cluster see each other's containers,
//! can never hold one name or one replica index in one scope, clear only
//! their own stale records; a killed member changes nothing, a stopped
//! cluster or a member that never answers fails a call within its timeout.
//!
//! Skipped (with a line on stderr) when `etcd` is not installed, unless
//! `LINKSHIM_E2E=required`.

use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use linkshim::model::Name;
use linkshim::registry::etcd::{EtcdStore, Settings};
use linkshim::registry::{Conflict, Error, Record, Store};
use testkit::{EtcdCluster, e2e_required};

fn n(s: &str) -> Name {
    Name::parse("test", s).unwrap()
}

fn cluster(members: usize) -> Option<EtcdCluster> {
    if !EtcdCluster::available() {
        assert!(!e2e_required(), "etcd is not installed (scripts/setup.sh)");
        eprintln!("skipped: etcd is not installed");
        return None;
    }
    Some(EtcdCluster::start(members))
}

fn settings(endpoints: Vec<String>, host: &str, prefix: &str) -> Settings {
    Settings {
        endpoints,
        prefix: prefix.to_string(),
        timeout: Duration::from_secs(2),
        ca_file: None,
        cert_file: None,
        key_file: None,
        host_id: host.to_string(),
        boot_id: format!("boot-of-{host}"),
        advertise: None,
    }
}

fn store(c: &EtcdCluster, host: &str, prefix: &str) -> EtcdStore {
    EtcdStore::open(&settings(c.endpoints(), host, prefix)).unwrap()
}

/// A record of this process (live while the test runs).
fn rec(id: &str, name: &str) -> Record {
    Record {
        addrs: vec!["10.88.0.5".parse().unwrap()],
        ..Record::new(id, n(name)).owned_by(std::process::id() as i32)
    }
}

fn token(i: u32) -> String {
    format!("{i:032x}")
}

fn conflict(e: Error) -> Conflict {
    match e {
        Error::Conflict(c) => c,
        other => panic!("not a conflict: {other}"),
    }
}

#[test]
fn two_hosts_share_one_registry() {
    let Some(c) = cluster(1) else { return };
    let (mut a, mut b) = (store(&c, "host-a", "/t1"), store(&c, "host-b", "/t1"));
    let db = a.register(&rec("cid-db", "db"), Some(&token(1))).unwrap();
    assert_eq!(db.boot_id, "boot-of-host-a", "tagged with its host's boot");
    let seen = b.lookup("default", "db").unwrap().expect("B sees A's db");
    assert_eq!(seen.addrs, db.addrs);
    assert_eq!(b.find("default", &["db", "nothing"]).unwrap().len(), 1);
    // B cannot take the name, nor reserve it.
    let err = b.register(&rec("cid-db2", "db"), None).unwrap_err();
    assert!(matches!(conflict(err), Conflict::NameInUse { id, .. } if id == "cid-db"));
    let err = b
        .check_name(&n("default"), &n("db"), None, &token(9))
        .unwrap_err();
    assert!(matches!(conflict(err), Conflict::NameInUse { .. }));
    // Another scope is another name space.
    let other = Record {
        scope: n("team-b"),
        ..rec("cid-db3", "db")
    };
    b.register(&other, None).unwrap();
    assert_eq!(a.list().unwrap().len(), 2);
    // Linkers are found on their own host only (their hosts files are there).
    let linker = Record {
        links: vec![linkshim::model::LinkRequest::parse("db").unwrap()],
        ..rec("cid-web", "web")
    };
    a.register(&linker, Some(&token(2))).unwrap();
    let found = a.linkers_of("default", &["db"]).unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].1, token(2));
    assert!(b.linkers_of("default", &["db"]).unwrap().is_empty());
    // Tokens are this host's: A's are held on A, not on B.
    assert!(a.token_held(&token(1)).unwrap());
    assert!(!b.token_held(&token(1)).unwrap());
    // Unregister under the wrong token leaves it; under its own removes it.
    assert!(a.unregister("cid-db", Some(&token(7))).unwrap().is_none());
    assert!(b.lookup("default", "db").unwrap().is_some());
    assert!(a.unregister("cid-db", Some(&token(1))).unwrap().is_some());
    assert!(b.lookup("default", "db").unwrap().is_none());
    // B's unregister of A's container id does nothing to A's.
    assert!(b.unregister("cid-web", None).unwrap().is_none());
    assert!(a.get("cid-web").unwrap().is_some());
    // Resources are shared, and their names refused to containers.
    let res = linkshim::registry::Resource {
        name: n("pg"),
        url: "postgres://10.0.0.9:5432/db".into(),
        env: vec![],
        addrs: vec!["10.0.0.9".parse().unwrap()],
    };
    a.put_resource(&res).unwrap();
    assert_eq!(b.resources_named(&["pg", "x"]).unwrap(), vec![res.clone()]);
    let err = b.register(&rec("cid-pg", "pg"), None).unwrap_err();
    assert!(matches!(conflict(err), Conflict::NameIsResource { .. }));
    assert!(b.remove_resource("pg").unwrap());
    assert!(!b.remove_resource("pg").unwrap());
}

#[test]
fn replica_indexes_are_unique_across_hosts() {
    let Some(c) = cluster(1) else { return };
    let (mut a, mut b) = (store(&c, "host-a", "/t2"), store(&c, "host-b", "/t2"));
    let (web, dflt) = (n("web"), n("default"));
    assert_eq!(a.reserve(&dflt, &web, &n("web-a"), &token(1)).unwrap(), 1);
    assert_eq!(b.reserve(&dflt, &web, &n("web-b"), &token(2)).unwrap(), 2);
    assert_eq!(
        a.reserve(&dflt, &web, &n("web-a"), &token(1)).unwrap(),
        1,
        "again"
    );
    // The reserved name is refused to others, on either host.
    let err = a
        .check_name(&dflt, &n("web-b"), None, &token(3))
        .unwrap_err();
    assert!(matches!(conflict(err), Conflict::NameReserved { .. }));
    // B's replica starts and takes its slot over; A's too.
    let replica = |id: &str, name: &str| Record {
        service: Some(web.clone()),
        ..rec(id, name)
    };
    let rb = b
        .register(&replica("cid-b", "web-b"), Some(&token(2)))
        .unwrap();
    assert_eq!(rb.index, Some(2));
    let ra = a
        .register(&replica("cid-a", "web-a"), Some(&token(1)))
        .unwrap();
    assert_eq!(ra.index, Some(1));
    let ids: Vec<String> = a
        .service("default", "web")
        .unwrap()
        .into_iter()
        .map(|r| r.id.to_string())
        .collect();
    assert_eq!(ids, ["cid-a", "cid-b"]);
    let found = b.find("default", &["web"]).unwrap();
    assert_eq!(found.len(), 2, "{found:?}");
    // A third replica gets the lowest free index.
    let rc = b.register(&replica("cid-c", "web-c"), None).unwrap();
    assert_eq!(rc.index, Some(3));
    a.unregister("cid-a", Some(&token(1))).unwrap();
    let rd = a.register(&replica("cid-d", "web-d"), None).unwrap();
    assert_eq!(rd.index, Some(1), "a freed index is taken again");
    // Nothing of the reservations is left behind.
    let left = c.ctl(&["get", "--prefix", "--keys-only", "/t2/hosts/"]);
    assert!(!left.contains("/reserved/"), "{left}");
}

#[test]
fn two_hosts_racing_for_one_name_one_wins() {
    let Some(c) = cluster(3) else { return };
    for round in 0..10 {
        let barrier = Arc::new(Barrier::new(2));
        let outcomes: Vec<Result<Record, Error>> = ["host-a", "host-b"]
            .into_iter()
            .enumerate()
            .map(|(i, host)| {
                let mut s = store(&c, host, "/t3");
                let barrier = barrier.clone();
                let name = format!("db{round}");
                std::thread::spawn(move || {
                    barrier.wait();
                    s.register(&rec(&format!("cid-{round}-{i}"), &name), None)
                })
            })
            .collect::<Vec<_>>()
            .into_iter()
            .map(|t| t.join().unwrap())
            .collect();
        let won = outcomes.iter().filter(|o| o.is_ok()).count();
        assert_eq!(won, 1, "round {round}: {outcomes:?}");
        for o in outcomes.into_iter().filter_map(Result::err) {
            assert!(matches!(conflict(o), Conflict::NameInUse { .. }));
        }
        // And for one replica index, reserved at create time.
        let barrier = Arc::new(Barrier::new(2));
        let mut indexes: Vec<u32> = ["host-a", "host-b"]
            .into_iter()
            .enumerate()
            .map(|(i, host)| {
                let mut s = store(&c, host, "/t3");
                let barrier = barrier.clone();
                std::thread::spawn(move || {
                    barrier.wait();
                    s.reserve(
                        &n("default"),
                        &n(&format!("svc{round}")),
                        &n(&format!("svc{round}-{i}")),
                        &token(100 + i as u32),
                    )
                    .unwrap()
                })
            })
            .collect::<Vec<_>>()
            .into_iter()
            .map(|t| t.join().unwrap())
            .collect();
        indexes.sort();
        assert_eq!(indexes, [1, 2], "round {round}");
    }
}

#[test]
fn a_rebooted_host_clears_its_own_stale_records_only() {
    let Some(c) = cluster(1) else { return };
    let mut a = store(&c, "host-a", "/t4");
    let mut b = store(&c, "host-b", "/t4");
    a.register(&rec("cid-a1", "a1"), Some(&token(1))).unwrap();
    b.register(&rec("cid-b1", "b1"), Some(&token(2))).unwrap();
    b.hold_token(&token(3), &n("default"), &n("b2")).unwrap();
    b.reserve(&n("default"), &n("svc"), &n("svc-1"), &token(4))
        .unwrap();
    // B "reboots": a new boot id. Its records are stale to itself...
    let mut b2 = EtcdStore::open(&Settings {
        boot_id: "boot-of-host-b-again".into(),
        ..settings(c.endpoints(), "host-b", "/t4")
    })
    .unwrap();
    assert!(b2.lookup("default", "b1").unwrap().is_none());
    // ... but A trusts them until B clears them.
    assert!(a.lookup("default", "b1").unwrap().is_some());
    let collected = b2.collect(false).unwrap();
    assert_eq!(collected.stale, [("cid-b1".to_string(), "b1".to_string())]);
    assert_eq!((collected.reservations, collected.holds), (1, 1));
    assert!(a.lookup("default", "b1").unwrap().is_none());
    assert!(
        a.check_name(&n("default"), &n("svc-1"), None, &token(9))
            .is_ok()
    );
    // A's records are untouched.
    assert!(b2.lookup("default", "a1").unwrap().is_some());
    assert!(a.token_held(&token(1)).unwrap());
    let keys = c.ctl(&["get", "--prefix", "--keys-only", "/t4/"]);
    assert!(!keys.contains("host-b"), "{keys}");
    assert!(
        b2.collect(false).unwrap() == Default::default(),
        "idempotent"
    );
    // A corrupt key of B's is refused, then removed by gc --repair.
    c.ctl(&["put", "/t4/hosts/host-b/ids/junk", "{not json"]);
    assert!(b2.collect(false).is_err());
    assert_eq!(b2.collect(true).unwrap().unreadable.len(), 1);
}

#[test]
fn a_killed_member_changes_nothing_a_stopped_cluster_fails_in_time() {
    let Some(mut c) = cluster(3) else { return };
    let mut a = store(&c, "host-a", "/t5");
    a.register(&rec("cid-1", "one"), None).unwrap();
    c.kill(0);
    assert!(testkit::wait_until(Duration::from_secs(20), || c.healthy()));
    let mut a = store(&c, "host-a", "/t5");
    assert!(a.lookup("default", "one").unwrap().is_some(), "reads go on");
    a.register(&rec("cid-2", "two"), None).unwrap();
    c.stop();
    let timeout = Duration::from_millis(1500);
    let mut a = EtcdStore::open(&Settings {
        timeout,
        ..settings(c.endpoints(), "host-a", "/t5")
    })
    .unwrap();
    let start = Instant::now();
    let err = a.lookup("default", "one").unwrap_err();
    let took = start.elapsed();
    let text = err.to_string();
    assert!(
        text.contains("no answer within 1s 500ms") && text.contains("etcd_timeout"),
        "{text}"
    );
    assert!(
        matches!(&err, Error::Storage(s) if s.is_timeout()),
        "a stop treats it as unanswered: {err}"
    );
    // Bounded (a refused connection fails at once; never more than the timeout
    // and the harness's slack).
    assert!(took < timeout + Duration::from_secs(2), "{took:?}");
    // Once down, the process does not wait again.
    let start = Instant::now();
    assert!(a.find("default", &["one"]).is_err());
    assert!(start.elapsed() < timeout, "{:?}", start.elapsed());
}

#[test]
fn a_member_that_never_answers_costs_the_timeout_and_no_more() {
    // A socket that accepts connections (the kernel's backlog) and never
    // answers: a hung member.
    let hung = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let ep = format!("http://{}", hung.local_addr().unwrap());
    let timeout = Duration::from_millis(800);
    let mut s = EtcdStore::open(&Settings {
        timeout,
        ..settings(vec![ep], "host-a", "/t6")
    })
    .unwrap();
    let start = Instant::now();
    let err = s
        .check_name(&n("default"), &n("x"), None, &token(1))
        .unwrap_err();
    let took = start.elapsed();
    assert!(err.to_string().contains("no answer within"), "{err}");
    assert!(took >= timeout / 2 && took < timeout * 4, "{took:?}");
    drop(hung);
}

#[test]
fn a_running_linkers_links_are_changed_under_its_token_only() {
    let Some(c) = cluster(1) else { return };
    let mut a = store(&c, "host-a", "/t7");
    let linker = Record {
        service: Some(n("web")),
        ..rec("cid-web", "web-1")
    };
    let stored = a.register(&linker, Some(&token(1))).unwrap();
    let (got, tok) = a.get_with_token("cid-web").unwrap().unwrap();
    assert_eq!(
        (got.id.as_str(), tok.as_deref()),
        ("cid-web", Some(token(1).as_str()))
    );
    let links = vec![linkshim::model::LinkRequest::parse("db").unwrap()];
    assert!(
        a.set_links("cid-web", &token(2), &links).unwrap().is_none(),
        "another token"
    );
    let changed = a.set_links("cid-web", &token(1), &links).unwrap().unwrap();
    assert_eq!(changed.links, links);
    // Under every key it is kept: its name, its slot, its host's ids.
    assert_eq!(a.lookup("default", "web-1").unwrap().unwrap().links, links);
    assert_eq!(a.service("default", "web").unwrap()[0].links, links);
    assert_eq!(a.linkers_of("default", &["db"]).unwrap().len(), 1);
    assert_eq!(stored.index, Some(1));
    assert!(
        a.set_links("cid-gone", &token(1), &links)
            .unwrap()
            .is_none()
    );
}

#[test]
fn ids_addresses_and_tokens_on_etcd() {
    let Some(c) = cluster(1) else { return };
    let (mut a, mut b) = (store(&c, "host-a", "/t8"), store(&c, "host-b", "/t8"));
    let target = Record {
        hostname: Some("db-host".into()),
        nets: vec!["10.88.0.5/16".parse().unwrap()],
        ..rec("3f2a9c1b0d4e77", "db")
    };
    b.register(&target, Some(&token(3))).unwrap();
    // Found by a prefix of its id from either host, with what it carries.
    let found = a.find_by_id("default", "3f2a").unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].hostname.as_deref(), Some("db-host"));
    assert_eq!(found[0].nets, target.nets);
    assert!(a.find_by_id("default", "ffff").unwrap().is_empty());
    assert!(a.find_by_id("other", "3f2a").unwrap().is_empty());
    // A linker on A that names it by an id prefix.
    let linker = Record {
        links: vec![linkshim::model::LinkRequest::parse("3f2a9c:db").unwrap()],
        ..rec("cid-web", "web")
    };
    a.register(&linker, Some(&token(4))).unwrap();
    let by_id = a.linkers_by_id("default", "3f2a9c1b0d4e77").unwrap();
    assert_eq!(by_id.len(), 1);
    assert_eq!(by_id[0].1, token(4));
    assert!(
        b.linkers_by_id("default", "3f2a9c1b0d4e77")
            .unwrap()
            .is_empty()
    );
    // Tokens and addresses: a host's own records only.
    assert_eq!(b.token_of("3f2a9c1b0d4e77").unwrap(), Some(token(3)));
    assert_eq!(a.token_of("3f2a9c1b0d4e77").unwrap(), None);
    let new: Vec<std::net::IpAddr> = vec!["10.89.0.7".parse().unwrap()];
    let nets = vec!["10.89.0.7/24".parse().unwrap()];
    assert!(
        !a.set_addrs("3f2a9c1b0d4e77", &new, &nets).unwrap(),
        "not A's"
    );
    assert!(b.set_addrs("3f2a9c1b0d4e77", &new, &nets).unwrap());
    assert!(
        !b.set_addrs("3f2a9c1b0d4e77", &new, &nets).unwrap(),
        "unchanged"
    );
    assert_eq!(a.lookup("default", "db").unwrap().unwrap().addrs, new);
}
