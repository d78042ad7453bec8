//! `bitvault-plugin release` on a project directory: its `build.sh` runs,
//! the suites of the manifest's points run under the manifest's grant, and
//! only a module that passes them is signed and pushed. The projects here
//! build by copying a reference plugin, so no toolchain is needed.

use std::path::Path;
use std::process::{Command, Output};

use anyhow::{Context, Result, ensure};
use serde_json::Value;

/// A policy-hook project whose `build.sh` copies the reference plugin
/// `plugin` into `policy.wasm`, at `version`.
fn project(dir: &Path, plugin: &str, version: &str) -> Result<()> {
    let plugins = bitvault_conformance::reference::plugins_dir().map_err(anyhow::Error::msg)?;
    std::fs::write(
        dir.join("build.sh"),
        format!(
            "#!/bin/sh\nset -e\ncp '{}' policy.wasm\n",
            plugins.join(format!("{plugin}.wasm")).display()
        ),
    )?;
    std::fs::write(
        dir.join("manifest.toml"),
        format!(
            "name = \"policy\"\nversion = \"{version}\"\npublisher = \"you.example\"\n\
             extension_points = [\"policy_hook\"]\n\n[capabilities]\nio = true\nconfig = true\n"
        ),
    )?;
    Ok(())
}

fn release(dir: &Path, home: &Path, extra: &[&str]) -> Result<(Output, Value)> {
    let out = Command::new(env!("CARGO_BIN_EXE_bitvault-plugin"))
        .args(["release", "--key", "dev.key", "--json"])
        .args(["--config", "max_size=10485760"])
        .args(extra)
        .current_dir(dir)
        .env("BITVAULT_HOME", home)
        .output()?;
    let v = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    Ok((out, v))
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn a_project_that_passes_its_suites_is_signed_and_pushed_and_one_that_fails_is_not() -> Result<()> {
    let tmp = tempfile::tempdir()?;
    let (dir, home) = (tmp.path().join("policy"), tmp.path().join("home"));
    std::fs::create_dir_all(&dir)?;
    let keygen = Command::new(env!("CARGO_BIN_EXE_bitvault-plugin"))
        .args(["keygen", "--out", "dev"])
        .current_dir(&dir)
        .output()?;
    ensure!(keygen.status.success(), "{}", stderr(&keygen));

    // Builds, passes, signs, pushes.
    project(&dir, "policy", "0.1.0")?;
    let (out, v) = release(&dir, &home, &[])?;
    ensure!(out.status.code() == Some(0), "{}", stderr(&out));
    ensure!(v["ok"] == true, "{v}");
    assert_eq!(
        v["conformance"],
        serde_json::json!([{"point": "policy_hook", "passed": 13, "failed": 0}])
    );
    assert_eq!(
        (v["name"].as_str(), v["version"].as_str()),
        (Some("policy"), Some("0.1.0"))
    );
    assert!(dir.join("pkg/policy-0.1.0.manifest.json").is_file());
    assert!(dir.join("pkg/policy-0.1.0.sig.json").is_file());
    assert!(
        stderr(&out).contains("13 cases, 13 passed, 0 failed"),
        "{}",
        stderr(&out)
    );
    let search = Command::new(env!("CARGO_BIN_EXE_bitvault-plugin"))
        .args(["search", "--json"])
        .env("BITVAULT_HOME", &home)
        .output()?;
    let found: Value = serde_json::from_slice(&search.stdout)?;
    let packages = found["packages"].as_array().context("packages")?;
    assert_eq!(packages.len(), 1, "{found}");
    assert_eq!(packages[0]["digest"], v["digest"]);
    assert_eq!(packages[0]["signed_by"]["publisher"], "you.example");

    // The same version again: its package files exist; nothing is pushed.
    let (out, _) = release(&dir, &home, &["--no-build"])?;
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("must not exist yet"),
        "{}",
        stderr(&out)
    );

    // A module that fails its suite exits 33, and nothing is signed.
    project(&dir, "broken", "0.2.0")?;
    let (out, v) = release(&dir, &home, &[])?;
    assert_eq!(out.status.code(), Some(33), "{}", stderr(&out));
    assert_eq!(v["error"]["kind"], "conformance_failed", "{v}");
    let failed: Vec<&str> = v["error"]["failed"]
        .as_array()
        .context("failed")?
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        failed.contains(&"policy_hook/allow_and_deny_carry_reasons"),
        "{failed:?}"
    );
    assert!(!dir.join("pkg/policy-0.2.0.manifest.json").exists());

    // A build that fails stops everything before the suites.
    std::fs::write(
        dir.join("build.sh"),
        "#!/bin/sh\necho cannot build >&2\nexit 3\n",
    )?;
    let (out, _) = release(&dir, &home, &[])?;
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("cannot build") && err.contains("build.sh` failed"),
        "{err}"
    );
    assert!(!dir.join("pkg/policy-0.2.0.manifest.json").exists());
    Ok(())
}
