//! `run` with a plugin built by the official Extism Rust PDK
//! (`plugins/extism-suite`): the same flags and `--json` outcome as native
//! plugins, Extism's error rules, and its imports checked against the grant.

use std::process::{Command, Output};

use anyhow::Result;
use serde_json::Value;

fn suite() -> Result<std::path::PathBuf> {
    let dir = bitvault_conformance::reference::plugins_dir().map_err(anyhow::Error::msg)?;
    Ok(dir.join("extism_suite.wasm"))
}

fn cli(args: &[&str], grant: Option<&str>) -> Result<Output> {
    let dir = tempfile::tempdir()?;
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_bitvault-plugin"));
    cmd.args(args);
    if let Some(text) = grant {
        let path = dir.path().join("grant.toml");
        std::fs::write(&path, text)?;
        cmd.arg("--grant").arg(path);
    }
    Ok(cmd.output()?)
}

const ALL: &str = "io = true\nconfig = true\nkv = true\nlog = { min_level = \"info\" }\n\
                   [http]\norigins = [\"http://127.0.0.1:9/\"]\n";

#[test]
fn an_extism_pdk_plugin_runs_with_the_same_outcome_format() -> Result<()> {
    let wasm = suite()?;
    let wasm = wasm.to_string_lossy();
    let dir = tempfile::tempdir()?;
    let input = dir.path().join("in.txt");
    std::fs::write(&input, "hello extism")?;
    let input = input.to_string_lossy();

    let out = cli(
        &["run", &wasm, "echo", "--input", &input, "--json"],
        Some(ALL),
    )?;
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout)?;
    assert_eq!(v["ok"], true);
    assert_eq!(v["output_base64"], "aGVsbG8gZXh0aXNt");
    assert!(v["metrics"]["fuel_used"].as_u64() > Some(0));

    // An Err from the plugin: Extism's error message, exit 20.
    let out = cli(
        &["run", &wasm, "fail", "--input", &input, "--json"],
        Some(ALL),
    )?;
    assert_eq!(out.status.code(), Some(20));
    let v: Value = serde_json::from_slice(&out.stdout)?;
    assert_eq!(v["error"]["kind"], "plugin_error");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("refused: hello extism"),
        "{v}"
    );

    // Without a grant: the Extism imports are refused before anything runs.
    let out = cli(&["run", &wasm, "echo", "--json"], None)?;
    assert_eq!(out.status.code(), Some(17));
    let v: Value = serde_json::from_slice(&out.stdout)?;
    let refused: Vec<&str> = v["error"]["imports"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|i| i["name"].as_str())
        .collect();
    assert!(
        refused.contains(&"var_get") && refused.contains(&"http_request"),
        "{v}"
    );
    Ok(())
}

#[test]
fn host_functions_are_reported_by_inspect_and_refused_by_run_which_registers_none() -> Result<()> {
    let dir = bitvault_conformance::reference::plugins_dir().map_err(anyhow::Error::msg)?;
    let wasm = dir.join("extism_hostfns.wasm");
    let wasm = wasm.to_string_lossy();

    let out = cli(&["inspect", &wasm, "--json"], None)?;
    assert_eq!(out.status.code(), Some(0));
    let v: Value = serde_json::from_slice(&out.stdout)?;
    assert_eq!(v["needs"], serde_json::json!(["io", "host_functions"]));
    let user: Vec<(&str, &str)> = v["imports"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|i| i["module"] == "extism:host/user")
        .map(|i| {
            (
                i["name"].as_str().unwrap_or_default(),
                i["capability"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        user,
        [
            ("lookup_user", "host_functions"),
            ("record", "host_functions")
        ]
    );

    // Granted by name, but `run` registers no functions: refused as unknown.
    let grant = "io = true\nhost_functions = [\"lookup_user\", \"record\"]\n";
    let out = cli(&["run", &wasm, "greet", "--json"], Some(grant))?;
    assert_eq!(out.status.code(), Some(17));
    let v: Value = serde_json::from_slice(&out.stdout)?;
    let reasons: Vec<(&str, &str)> = v["error"]["imports"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|i| {
            (
                i["name"].as_str().unwrap_or_default(),
                i["reason"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(reasons, [("lookup_user", "unknown"), ("record", "unknown")]);
    Ok(())
}
