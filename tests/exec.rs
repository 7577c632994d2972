//! The wrapper's `exec --process FILE ID`, before a fake runtime that
//! answers `state ID` with a bundle and records the process file it is
//! given: the linker's link variables are added, the exec's own win.

mod support;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use serde_json::{Value, json};
use support::Fixture;

/// A fake runtime: `state ID` prints `{"bundle": BUNDLE}` (fails for any
/// other id), `exec` copies the `--process` file to `seen.json`.
fn fake_runtime(dir: &Path, bundle: &Path) -> std::path::PathBuf {
    let script = dir.join("fake-runc");
    fs::write(
        &script,
        format!(
            "#!/bin/sh\n\
             [ \"$1\" = --root ] && shift 2\n\
             case \"$1\" in\n\
             state) [ \"$2\" = web1 ] || {{ echo \"container $2 does not exist\" >&2; exit 1; }}\n\
                    echo '{{\"ociVersion\":\"1.0.2\",\"id\":\"web1\",\"bundle\":\"{}\"}}' ;;\n\
             exec) while [ $# -gt 0 ]; do [ \"$1\" = --process ] && cp \"$2\" {}/seen.json; shift; done ;;\n\
             esac\n",
            bundle.display(),
            dir.display()
        ),
    )
    .unwrap();
    fs::set_permissions(&script, fs::Permissions::from_mode(0o755)).unwrap();
    script
}

fn exec(fx: &Fixture, fake: &Path, process: &Path, id: &str) -> std::process::Output {
    fx.cmd(&["runtime", "--runtime", fake.to_str().unwrap(), "--"])
        .args([
            "--root",
            "/run/x",
            "exec",
            "--pid-file",
            "/dev/null",
            "--process",
        ])
        .arg(process)
        .args(["--detach", id])
        .output()
        .unwrap()
}

#[test]
fn an_exec_in_a_linker_gets_its_link_variables_and_keeps_its_own() {
    let fx = Fixture::new();
    let bundle = fx.dir.path().join("bundle");
    fs::create_dir_all(&bundle).unwrap();
    fs::write(
        bundle.join("config.json"),
        json!({
            "process": {"env": ["PATH=/bin", "OWN=o", "DB_PORT=tcp://10.0.0.2:80", "DB_NAME=/web/db", "LINKSHIM_NAME=web"]},
            "annotations": {"io.linkshim.links": "db", "io.linkshim.internal.added-env": "[\"DB_PORT\",\"DB_NAME\",\"LINKSHIM_NAME\"]"}
        })
        .to_string(),
    )
    .unwrap();
    let fake = fake_runtime(fx.dir.path(), &bundle);
    let process = fx.dir.path().join("exec-process.json");
    let write_process = || {
        fs::write(
            &process,
            json!({"args": ["env"], "env": ["PATH=/bin", "DB_NAME=mine"], "cwd": "/", "x-engine": true})
                .to_string(),
        )
        .unwrap()
    };
    write_process();
    let out = exec(&fx, &fake, &process, "web1");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let seen: Value =
        serde_json::from_str(&fs::read_to_string(fx.dir.path().join("seen.json")).unwrap())
            .unwrap();
    assert_eq!(
        seen,
        json!({"args": ["env"], "env": ["PATH=/bin", "DB_NAME=mine", "DB_PORT=tcp://10.0.0.2:80", "LINKSHIM_NAME=web"], "cwd": "/", "x-engine": true}),
        "the runtime got the merged process, the exec's DB_NAME kept"
    );

    // An id the runtime does not know: the exec goes on untouched, and the
    // log says why.
    write_process();
    let before = fs::read_to_string(&process).unwrap();
    let out = exec(&fx, &fake, &process, "other");
    assert!(out.status.success());
    assert_eq!(fs::read_to_string(&process).unwrap(), before);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("state other") && stderr.contains("without the link variables"),
        "{stderr}"
    );
}
