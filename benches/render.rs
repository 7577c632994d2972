//! Micro-benchmarks of linkshim's pure parts: annotation parsing, env and
//! hosts rendering. Run: `cargo bench --bench render` (about 20 s).
//!
//! The inputs are those of a realistic container with 3 links (the same
//! shape as the whole-process precreate benchmark in `whole_process/`).

use std::collections::BTreeMap;
use std::hint::black_box;
use std::net::IpAddr;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use linkshim::links::annotation::{self, LinkRequest};
use linkshim::links::resolve::{self, Resolved, Target};
use linkshim::model::share::Policy;
use linkshim::registry::Record;
use linkshim::render::{env, hosts};

const LINKS: &str = "db redis:cache api";
const EXPOSE: &str = "80 443/tcp 8000-8009 53/udp";

fn annotations() -> BTreeMap<String, String> {
    [
        ("io.container.manager", "libpod"),
        ("io.linkshim.name", "web"),
        ("io.linkshim.links", LINKS),
        ("io.linkshim.expose", EXPOSE),
        ("io.podman.annotations.autoremove", "TRUE"),
        ("org.opencontainers.image.stopSignal", "15"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

/// Target `n` named `name`, with an IPv4 and an IPv6 address.
fn record(name: &str, n: u8, expose: &str, env: &[(&str, &str)]) -> Record {
    let addrs: [IpAddr; 2] = [
        format!("10.88.0.{n}").parse().unwrap(),
        format!("fd00::{n}").parse().unwrap(),
    ];
    testkit::live_record(
        &format!("{n:02x}{}", "5e".repeat(31)),
        name,
        &addrs,
        expose,
        env,
    )
}

/// The 3 links of `web`, resolved to containers.
fn resolved() -> Vec<Resolved> {
    let targets = [
        record(
            "db",
            2,
            "5432",
            &[
                ("POSTGRES_DB", "app"),
                ("POSTGRES_USER", "app"),
                ("PATH", "/bin"),
            ],
        ),
        record("redis", 3, "6379", &[("REDIS_VERSION", "7.2.4")]),
        record(
            "api",
            4,
            "8000-8009",
            &[("API_MODE", "prod"), ("HOME", "/root")],
        ),
    ];
    let links = annotation::parse_links(LINKS).unwrap();
    links
        .into_iter()
        .zip(targets)
        .map(|(request, rec): (LinkRequest, Record)| Resolved {
            request,
            target: Target::Container(rec),
        })
        .collect()
}

fn parsing(c: &mut Criterion) {
    let ann = annotations();
    let mut g = c.benchmark_group("annotation");
    g.bench_function("parse_request (name, 3 links, 13 ports)", |b| {
        b.iter(|| {
            annotation::parse_request(black_box(&ann), black_box(Some("8edbb8b43fe6"))).unwrap()
        })
    });
    g.bench_function("parse_links (3 links)", |b| {
        b.iter(|| annotation::parse_links(black_box(LINKS)).unwrap())
    });
    g.bench_function("parse_expose (4 entries, 13 ports)", |b| {
        b.iter(|| annotation::parse_expose(black_box(EXPOSE)).unwrap())
    });
    g.finish();
}

fn rendering(c: &mut Criterion) {
    let links = resolved();
    let Target::Container(api) = &links[2].target else {
        unreachable!()
    };
    let mut g = c.benchmark_group("render");
    g.bench_function("docker_link_env (10 ports, 2 env)", |b| {
        let view = env::TargetView {
            ip: api.primary_ip(),
            ports: &api.ports,
            published: &[],
            env: &api.env,
        };
        b.iter(|| {
            env::docker_link_env(
                black_box("API"),
                black_box("web"),
                black_box("api"),
                black_box(view),
            )
        })
    });
    g.bench_function("render_links (3 links)", |b| {
        b.iter(|| resolve::render(black_box("web"), black_box(&links), Policy::All))
    });
    let lines = resolve::render("web", &links, Policy::All).unwrap().hosts;
    let base = "127.0.0.1\tlocalhost\n::1\tlocalhost\n10.88.0.1\thost.containers.internal\n10.88.0.49\t8edbb8b43fe6 web\n";
    let rendered_once = hosts::render(base, &lines);
    g.bench_function("hosts::render (6 lines, fresh base)", |b| {
        b.iter(|| hosts::render(black_box(base), black_box(&lines)))
    });
    g.bench_function("hosts::render (6 lines, replacing its old block)", |b| {
        b.iter(|| hosts::render(black_box(&rendered_once), black_box(&lines)))
    });
    g.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(1))
        .sample_size(50)
        .without_plots()
}

criterion_group! {
    name = benches;
    config = config();
    targets = parsing, rendering
}
criterion_main!(benches);
