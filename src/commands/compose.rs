//! `linkshim compose FILE [-o OUT]`: the linkshim annotations a Docker
//! Compose file's `links:` and `expose:` stand for, as a compose override
//! file. podman-compose turns `links:` into network aliases and start order
//! only, and `expose:` into `--expose`, which linkshim never sees; with the
//! override next to the file (`podman-compose -f FILE -f OUT up`), each
//! service gets `io.linkshim.name` (its service name; `io.linkshim.service`
//! for one with several replicas), `io.linkshim.links` and
//! `io.linkshim.expose`. The user's file is read, never written: its
//! comments and layout stay, and the override can be made again at any
//! time.
//!
//! A service's own `io.linkshim.*` annotations win over the generated
//! ones. Values are separated by spaces (podman 4 splits an `--annotation`
//! at commas). Each generated value is checked by linkshim's own parsers,
//! so a link or port it would refuse at a start is refused here, naming
//! the service.

use std::io::Write;
use std::path::Path;

use anyhow::{Context as _, bail};
use yaml_rust2::yaml::Hash;
use yaml_rust2::{Yaml, YamlEmitter, YamlLoader};

use crate::links::annotation::{self, EXPOSE, LINKS, NAME, SCOPE, SERVICE};
use crate::model::Name;

/// Write the override for the compose file `file` to `out_path`, or to
/// `out` when there is none; with `scope`, every service is put in it.
pub fn run(
    file: &Path,
    out_path: Option<&Path>,
    scope: Option<&str>,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    // At most 16 MiB, like a config.json.
    let text = crate::oci::config::read_bounded(file)
        .with_context(|| format!("compose file {}", file.display()))?;
    let scope = scope.map(|s| Name::parse(SCOPE, s)).transpose()?;
    let yaml = override_for(&text, scope.as_ref())
        .with_context(|| format!("compose file {}", file.display()))?;
    match out_path {
        Some(p) => crate::oci::config::write_file_atomic(p, yaml.as_bytes(), 0o644, false)
            .with_context(|| format!("writing {}", p.display()))?,
        None => out.write_all(yaml.as_bytes())?,
    }
    Ok(())
}

/// The override file (YAML) of the compose document `text`; with `scope`,
/// every service of it is put in that scope (a project's names then clash
/// with no other project's, and its links stay inside it, as in Compose).
pub fn override_for(text: &str, scope: Option<&Name>) -> anyhow::Result<String> {
    let docs = YamlLoader::load_from_str(text).context("not YAML")?;
    let Some(doc) = docs.first() else {
        bail!("empty");
    };
    let services = match &doc["services"] {
        Yaml::Hash(h) => h,
        Yaml::BadValue => bail!("no services"),
        _ => bail!("services: not a mapping"),
    };
    // Every service a link names is a target, and needs a name.
    let mut targets = std::collections::BTreeSet::new();
    for (name, srv) in services {
        for l in strings(&lookup(srv, "links"), &key(name), "links")? {
            targets.insert(l.split(':').next().unwrap_or_default().to_string());
        }
    }
    let mut out = Hash::new();
    for (name, srv) in services {
        let service = key(name);
        let links = strings(&lookup(srv, "links"), &service, "links")?;
        let expose = strings(&lookup(srv, "expose"), &service, "expose")?;
        if links.is_empty() && expose.is_empty() && !targets.contains(&service) {
            continue;
        }
        let own = annotations_of(&lookup(srv, "annotations"));
        let mut add: Vec<(&str, String)> = Vec::new();
        let name_key = if replicas(srv) > 1 { SERVICE } else { NAME };
        add.push((name_key, service.clone()));
        if !links.is_empty() {
            add.push((LINKS, links.join(" ")));
        }
        if !expose.is_empty() {
            add.push((EXPOSE, expose.join(" ")));
        }
        if let Some(s) = scope {
            add.push((SCOPE, s.to_string()));
        }
        one_each(&service, &links, &expose)?;
        check(&service, &add)?;
        let add: Vec<(&str, String)> = add
            .into_iter()
            .filter(|(k, _)| !own.iter().any(|(o, _)| o == k))
            .collect();
        if add.is_empty() {
            continue;
        }
        let annotations = match lookup(srv, "annotations") {
            // A list stays a list, so that compose can merge it with the
            // service's own.
            Yaml::Array(_) => Yaml::Array(
                add.iter()
                    .map(|(k, v)| Yaml::String(format!("{k}={v}")))
                    .collect(),
            ),
            _ => Yaml::Hash(
                add.iter()
                    .map(|(k, v)| (Yaml::String(k.to_string()), Yaml::String(v.clone())))
                    .collect(),
            ),
        };
        let mut entry = Hash::new();
        entry.insert(Yaml::String("annotations".into()), annotations);
        out.insert(Yaml::String(service), Yaml::Hash(entry));
    }
    let mut root = Hash::new();
    root.insert(Yaml::String("services".into()), Yaml::Hash(out));
    let mut text = String::from(
        "# Made by `linkshim compose`: the linkshim annotations of the links: and\n\
         # expose: of each service. Use it beside the compose file:\n\
         #   podman-compose -f COMPOSE_FILE -f THIS_FILE up\n",
    );
    YamlEmitter::new(&mut text)
        .dump(&Yaml::Hash(root))
        .context("writing YAML")?;
    text.push('\n');
    Ok(text)
}

/// `srv[k]`, or the same key of a mapping merged in with `<<:`.
fn lookup(srv: &Yaml, k: &str) -> Yaml {
    let own = &srv[k];
    if !own.is_badvalue() {
        return own.clone();
    }
    match &srv["<<"] {
        Yaml::Hash(_) => srv["<<"][k].clone(),
        Yaml::Array(list) => list
            .iter()
            .map(|m| &m[k])
            .find(|v| !v.is_badvalue())
            .cloned()
            .unwrap_or(Yaml::BadValue),
        _ => Yaml::BadValue,
    }
}

/// A mapping key as text.
fn key(k: &Yaml) -> String {
    match k {
        Yaml::String(s) | Yaml::Real(s) => s.clone(),
        Yaml::Integer(i) => i.to_string(),
        Yaml::Boolean(b) => b.to_string(),
        _ => String::new(),
    }
}

/// A list of scalars (`links`, `expose`) as text; absent is empty.
fn strings(v: &Yaml, service: &str, field: &str) -> anyhow::Result<Vec<String>> {
    let list = match v {
        Yaml::BadValue | Yaml::Null => return Ok(vec![]),
        Yaml::Array(a) => a,
        _ => bail!("service {service:?}: {field}: not a list"),
    };
    list.iter()
        .map(|item| match item {
            Yaml::String(_) | Yaml::Integer(_) | Yaml::Real(_) => Ok(key(item)),
            _ => bail!("service {service:?}: {field}: {item:?} is not a string or number"),
        })
        .collect()
}

/// The service's own annotations (a mapping or `KEY=VALUE` list).
fn annotations_of(v: &Yaml) -> Vec<(String, String)> {
    match v {
        Yaml::Hash(h) => h.iter().map(|(k, v)| (key(k), key(v))).collect(),
        Yaml::Array(a) => a
            .iter()
            .filter_map(|i| i.as_str())
            .map(|s| match s.split_once('=') {
                Some((k, v)) => (k.to_string(), v.to_string()),
                None => (s.to_string(), String::new()),
            })
            .collect(),
        _ => vec![],
    }
}

/// How many containers compose starts for the service (`scale`, or
/// `deploy.replicas`); 1 when it does not say.
fn replicas(srv: &Yaml) -> i64 {
    [
        lookup(srv, "scale"),
        lookup(srv, "deploy")["replicas"].clone(),
    ]
    .iter()
    .find_map(Yaml::as_i64)
    .unwrap_or(1)
}

/// Refuse an entry that linkshim would read as several (`db:a b`): each
/// `links:` entry is one link, each `expose:` entry one port or range.
fn one_each(service: &str, links: &[String], expose: &[String]) -> anyhow::Result<()> {
    let several = |s: &String| s.contains(|c: char| c == ',' || c.is_whitespace());
    if let Some(bad) = links.iter().chain(expose).find(|s| several(s)) {
        bail!("service {service:?}: {bad:?} is not one link or port (no commas or spaces)");
    }
    Ok(())
}

/// Refuse what linkshim would refuse at the service's start.
fn check(service: &str, add: &[(&str, String)]) -> anyhow::Result<()> {
    for (k, v) in add {
        let checked = match *k {
            LINKS => annotation::parse_links(v).map(drop),
            EXPOSE => annotation::parse_expose(v).map(drop),
            _ => Name::parse(k, v).map(drop).map_err(Into::into),
        };
        checked.with_context(|| format!("service {service:?}"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn services(text: &str) -> Yaml {
        let out = override_for(text, None).unwrap();
        YamlLoader::load_from_str(&out).unwrap()[0]["services"].clone()
    }

    #[test]
    fn links_and_expose_become_annotations() {
        let got = services(
            "# my app\n\
             services:\n\
             \x20 db:\n\
             \x20   image: mysql\n\
             \x20   expose: [\"3306\", 33060/udp, 7000-7002]\n\
             \x20 web:\n\
             \x20   image: app\n\
             \x20   links: [db, \"db:database\"]\n\
             \x20 cache:\n\
             \x20   image: redis\n",
        );
        assert_eq!(got["db"]["annotations"][NAME].as_str(), Some("db"));
        assert_eq!(
            got["db"]["annotations"][EXPOSE].as_str(),
            Some("3306 33060/udp 7000-7002")
        );
        assert!(got["db"]["annotations"][LINKS].is_badvalue());
        assert_eq!(got["web"]["annotations"][NAME].as_str(), Some("web"));
        assert_eq!(
            got["web"]["annotations"][LINKS].as_str(),
            Some("db db:database")
        );
        assert!(got["cache"].is_badvalue(), "no links, no expose, no linker");
    }

    #[test]
    fn a_scope_goes_to_every_service() {
        let scope = Name::parse("t", "shop").unwrap();
        let out = override_for(
            "services:\n  db:\n    expose: [1]\n  web:\n    links: [db]\n",
            Some(&scope),
        )
        .unwrap();
        let got = &YamlLoader::load_from_str(&out).unwrap()[0]["services"];
        for s in ["db", "web"] {
            assert_eq!(got[s]["annotations"][SCOPE].as_str(), Some("shop"), "{s}");
        }
    }

    #[test]
    fn the_services_own_annotations_win_and_keep_their_form() {
        let got = services(
            "services:\n\
             \x20 db:\n\
             \x20   image: x\n\
             \x20   annotations: [\"io.linkshim.name=mysql\"]\n\
             \x20   expose: [3306]\n\
             \x20 web:\n\
             \x20   image: x\n\
             \x20   annotations: {io.linkshim.links: \"db:x\"}\n\
             \x20   links: [db]\n",
        );
        let db: Vec<&str> = got["db"]["annotations"]
            .as_vec()
            .unwrap()
            .iter()
            .filter_map(Yaml::as_str)
            .collect();
        assert_eq!(db, vec!["io.linkshim.expose=3306"]);
        assert_eq!(got["web"]["annotations"][NAME].as_str(), Some("web"));
        assert!(got["web"]["annotations"][LINKS].is_badvalue());
    }

    #[test]
    fn a_scaled_target_is_a_service_and_merge_keys_are_followed() {
        let got = services(
            "x-common: &common\n\
             \x20 expose: [80]\n\
             services:\n\
             \x20 web:\n\
             \x20   <<: *common\n\
             \x20   image: x\n\
             \x20   deploy: {replicas: 3}\n\
             \x20 proxy:\n\
             \x20   image: x\n\
             \x20   links: [web]\n",
        );
        assert_eq!(got["web"]["annotations"][SERVICE].as_str(), Some("web"));
        assert!(got["web"]["annotations"][NAME].is_badvalue());
        assert_eq!(got["web"]["annotations"][EXPOSE].as_str(), Some("80"));
    }

    #[test]
    fn what_linkshim_would_refuse_is_refused_naming_the_service() {
        for (text, want) in [
            (
                "services:\n  web:\n    links: [\"db:a b\"]\n",
                "service \"web\"",
            ),
            (
                "services:\n  db:\n    expose: [\"99999\"]\n",
                "service \"db\"",
            ),
            ("services:\n  web:\n    links: db\n", "links: not a list"),
            ("services: [a]\n", "services: not a mapping"),
            ("version: '3'\n", "no services"),
            ("services:\n  web:\n    links: [{a: b}]\n", "not a string"),
        ] {
            let err = format!("{:#}", override_for(text, None).unwrap_err());
            assert!(err.contains(want), "{text}: {err}");
        }
    }
}
