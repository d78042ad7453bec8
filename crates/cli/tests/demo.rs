//! `bitvault-plugin demo`, the README's first command: it runs from an
//! empty home directory, calls every extension point, refuses each kind of
//! bad package with its reason, and runs again in the same home.

use std::process::Command;

use anyhow::{Result, ensure};
use serde_json::Value;

fn demo(home: &std::path::Path) -> Result<Value> {
    let out = Command::new(env!("CARGO_BIN_EXE_bitvault-plugin"))
        .args(["demo", "--json", "--home"])
        .arg(home)
        .output()?;
    ensure!(
        out.status.success(),
        "demo failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(serde_json::from_slice(&out.stdout)?)
}

#[test]
fn the_demo_covers_every_point_and_refusal_and_runs_twice() -> Result<()> {
    let home = tempfile::tempdir()?;
    for run in 0..2 {
        let report = demo(home.path())?;
        assert_eq!(report["ok"], true, "run {run}: {report:#}");
        let calls = report["calls"].as_array().expect("calls");
        let mut points: Vec<&str> = calls.iter().filter_map(|c| c["point"].as_str()).collect();
        points.sort_unstable();
        points.dedup();
        assert_eq!(
            points,
            [
                "auth_provider",
                "content_transform",
                "event_handler",
                "policy_hook",
                "search",
                "storage_provider"
            ]
        );
        for c in calls {
            assert!(c["metrics"]["fuel_used"].as_u64() > Some(0), "{c}");
        }
        let reasons: Vec<&str> = report["refusals"]
            .as_array()
            .expect("refusals")
            .iter()
            .filter_map(|r| r["reason"].as_str())
            .collect();
        assert_eq!(
            reasons,
            [
                "module_digest",
                "unsigned",
                "untrusted_key",
                "capability_not_granted",
                "invalidated",
                "not_installed"
            ]
        );
        // A reference plugin per point, and the policy hook on the Extism
        // PDK, called through the Extism kernel.
        assert_eq!(report["published"].as_array().map(Vec::len), Some(7));
        assert!(
            calls
                .iter()
                .any(|c| c["plugin"] == "extism-policy" && c["point"] == "policy_hook"),
            "{calls:?}"
        );
    }
    // The state it leaves is the CLI's: the audit command reads it.
    let out = Command::new(env!("CARGO_BIN_EXE_bitvault-plugin"))
        .args(["audit", "--json", "--home"])
        .arg(home.path().join("demo"))
        .output()?;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let audit: Value = serde_json::from_slice(&out.stdout)?;
    let text = audit.to_string();
    assert!(text.contains("capability_not_granted"), "{text}");

    // `invoke` calls what the demo installed, through the same pipeline.
    let request = home.path().join("analyze.bin");
    let text = b"quick brown fox";
    let mut bytes = vec![0x12, text.len() as u8];
    bytes.extend_from_slice(text);
    std::fs::write(&request, bytes)?;
    let invoke = |tenant: &str, plugin: &str, export: &str| {
        Command::new(env!("CARGO_BIN_EXE_bitvault-plugin"))
            .args(["invoke", tenant, plugin, export, "--json", "--input"])
            .arg(&request)
            .arg("--home")
            .arg(home.path().join("demo"))
            .output()
    };
    let out = invoke("acme", "textsearch", "search_v1_analyze")?;
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout)?;
    assert_eq!(v["ok"], true);
    assert!(v["metrics"]["fuel_used"].as_u64() > Some(0));
    // The demo revoked globex's policy plugin.
    let out = invoke("globex", "policy", "policy_hook_v1_evaluate")?;
    assert_eq!(out.status.code(), Some(31));
    let v: Value = serde_json::from_slice(&out.stdout)?;
    assert_eq!(v["error"]["reason"], "not_installed");
    Ok(())
}
