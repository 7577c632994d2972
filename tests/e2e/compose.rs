//! Docker Compose `links:` and `expose:` on podman-compose (PyPI, set up by
//! scripts/setup.sh) with podman's hooks.d file: the file holds no linkshim
//! annotation; `linkshim compose` writes the override that carries them,
//! and the linker gets Docker's variables, the hosts line and a fetch
//! through the alias.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use serde_json::Value;
use testkit::*;

use crate::pods::import_image;
use crate::services::Setup;

const T: Duration = Duration::from_secs(120);

/// A `podman` for podman-compose's `--podman-path`: this test's private podman.
fn podman_script(podman: &Podman, dir: &Path) -> String {
    let cmd = podman.cmd();
    let args: Vec<String> = cmd
        .get_args()
        .map(|a| format!("'{}'", a.to_string_lossy()))
        .collect();
    let conf = podman.dir().join("containers.conf");
    let path = dir.join("podman");
    fs::write(
        &path,
        format!(
            "#!/bin/sh\nCONTAINERS_CONF='{}' exec podman {} \"$@\"\n",
            conf.display(),
            args.join(" ")
        ),
    )
    .unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
    path.to_str().unwrap().to_string()
}

/// `podman-compose down` (and its network gone) when the test ends.
struct Project<'a> {
    podman: &'a Podman,
    compose: Vec<String>,
    name: String,
}

impl Project<'_> {
    fn cmd(&self) -> Command {
        let mut c = Command::new("podman-compose");
        c.args(&self.compose);
        c
    }
}

impl Drop for Project<'_> {
    fn drop(&mut self) {
        run_quiet(self.cmd().args(["down", "-t", "0"]), T);
        run_quiet(
            self.podman
                .cmd()
                .args(["network", "rm", "-f", &format!("{}_default", self.name)]),
            T,
        );
    }
}

pub fn links_and_expose_of_a_compose_file_on_podman_compose() {
    let world = Setup::new();
    let podman = &world.podman;
    let image = "localhost/linkshim-e2e:compose";
    import_image(&world, image);
    let tmp = tempfile::tempdir().unwrap();
    let script = format!(
        "{}; sleep 300",
        linker_script("database", 3306).replace('$', "$$")
    );
    let compose = format!(
        r#"# A Docker Compose file, as written for Docker: no linkshim in it.
services:
  db:
    image: {image}
    command: ["httpd", "-f", "-p", "3306", "-h", "/www"]
    environment:
      MYSQL_ROOT_PASSWORD: secret
    expose:
      - "3306"
      - 33060/udp
  web:
    image: {image}
    command: ["sh", "-c", {script:?}]
    links:
      - db:database
"#
    );
    let file = tmp.path().join("compose.yml");
    fs::write(&file, &compose).unwrap();
    let over = tmp.path().join("linkshim.yml");
    let name = unique_name("lshc").replace('-', "");
    world.linkshim(&[
        "compose",
        file.to_str().unwrap(),
        "-o",
        over.to_str().unwrap(),
        "--scope",
        &name,
    ]);
    assert_eq!(
        fs::read_to_string(&file).unwrap(),
        compose,
        "the file is not written"
    );

    let project = Project {
        podman,
        compose: vec![
            "--podman-path".into(),
            podman_script(podman, tmp.path()),
            "-p".into(),
            name.clone(),
            "-f".into(),
            file.to_str().unwrap().into(),
            "-f".into(),
            over.to_str().unwrap().into(),
        ],
        name: name.clone(),
    };
    run_ok(project.cmd().args(["up", "-d"]), T);
    let (db, web) = (format!("{name}_db_1"), format!("{name}_web_1"));
    let logs = || podman.run_ok(&["logs", &web], T);
    assert!(
        wait_until(Duration::from_secs(30), || logs().contains("linkshim-ok")),
        "the linker did not fetch through the alias:\n{}\nlinkshim.log:\n{}",
        logs(),
        linkshim_log(&world.state())
    );
    let out = logs();
    let seen = LinkerOutput::parse(&out);
    let records: Vec<Value> =
        serde_json::from_str(&world.linkshim(&["ls", "--json", "--show-env"])).unwrap();
    let rec = records
        .iter()
        .find(|r| r["name"] == "db")
        .unwrap_or_else(|| panic!("db not registered: {records:#?}"));
    assert_eq!(rec["scope"], name.as_str(), "the project's scope");
    let ip = rec["addrs"][0].as_str().unwrap().to_string();
    let host = podman
        .run_ok(&["inspect", "-f", "{{.Config.Hostname}}", &db], T)
        .trim()
        .to_string();
    seen.assert_hosts_line(&ip, &format!("database {host} db"));
    let env = |k: &str| seen.env.get(k).map(String::as_str);
    assert_eq!(env("DATABASE_NAME"), Some("/web/database"), "{out}");
    assert_eq!(
        env("DATABASE_PORT"),
        Some(format!("tcp://{ip}:3306").as_str())
    );
    assert_eq!(
        env("DATABASE_PORT_33060_UDP"),
        Some(format!("udp://{ip}:33060").as_str())
    );
    assert_eq!(
        env("DATABASE_PORTS"),
        Some(format!("tcp://{ip}:3306,udp://{ip}:33060").as_str())
    );
    assert_eq!(env("DATABASE_ENV_MYSQL_ROOT_PASSWORD"), Some("secret"));
    assert_eq!(env("LINKSHIM_NAME"), Some("web"));
    drop(project);
}
