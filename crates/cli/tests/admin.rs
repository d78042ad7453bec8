//! The registry and admin commands end to end, through the built binary in
//! a temporary home: a package is signed, pushed, found, installed,
//! upgraded, rolled back and revoked, every decision in the audit log; and
//! each kind of refusal exits with its code and reason.

use std::path::PathBuf;
use std::process::Command;

use anyhow::{Context, Result, ensure};
use serde_json::Value;
use tempfile::TempDir;

/// A module importing one `io` function: nothing to export for a package
/// that implements no extension point.
const MODULE: &str = r#"
(module
  (import "bitvault_v1" "input_len" (func $input_len (result i32)))
  (memory (export "memory") 1))
"#;

/// A manifest source for `echo` at `version`, requesting `io` and the
/// `extra` TOML lines in `[capabilities]`.
fn source(version: &str, extra: &str) -> String {
    format!(
        r#"name = "echo"
version = "{version}"
publisher = "acme.example"
description = "returns its request"
extension_points = []

[capabilities]
io = true
{extra}
"#
    )
}

/// A working directory and, in it, the home the binary keeps its state in
/// (`BITVAULT_HOME`); the binary runs as user `alice`.
struct Home {
    dir: TempDir,
}

/// What one run of the binary did.
#[derive(Debug)]
struct Output {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Output {
    /// Stdout parsed as exactly one JSON object.
    fn json(&self) -> Result<Value> {
        ensure!(
            self.stdout.ends_with('\n') && self.stdout.trim_end().lines().count() == 1,
            "not one JSON line: {:?} (stderr {})",
            self.stdout,
            self.stderr
        );
        let value: Value = serde_json::from_str(&self.stdout)?;
        ensure!(value.is_object(), "not an object: {value}");
        Ok(value)
    }

    /// Checks a success with `--json`, and returns the object.
    fn ok(&self) -> Result<Value> {
        ensure!(self.code == 0, "exit {}: {}", self.code, self.stderr);
        let v = self.json()?;
        ensure!(v["ok"] == true, "{v}");
        Ok(v)
    }

    /// Checks a refusal with `--json`: exit `code`, error `kind`; returns
    /// the error object.
    fn refused(&self, code: i32, kind: &str) -> Result<Value> {
        ensure!(
            self.code == code,
            "exit {} (expected {code}): {} {}",
            self.code,
            self.stdout,
            self.stderr
        );
        let v = self.json()?;
        ensure!(v["ok"] == false, "{v}");
        ensure!(v["error"]["kind"] == kind, "{v}");
        ensure!(v["error"]["message"].is_string(), "{v}");
        Ok(v["error"].clone())
    }
}

impl Home {
    fn new() -> Result<Home> {
        let home = Home {
            dir: tempfile::tempdir()?,
        };
        home.file("echo.wasm", wat::parse_str(MODULE)?)?;
        Ok(home)
    }

    fn file(&self, name: &str, contents: impl AsRef<[u8]>) -> Result<()> {
        std::fs::write(self.dir.path().join(name), contents)?;
        Ok(())
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn run(&self, args: &[&str]) -> Result<Output> {
        let out = Command::new(env!("CARGO_BIN_EXE_bitvault-plugin"))
            .args(args)
            .current_dir(self.dir.path())
            .env("BITVAULT_HOME", self.path("home"))
            .env("USER", "alice")
            .env_remove("BITVAULT_REGISTRY_USERNAME")
            .env_remove("BITVAULT_REGISTRY_PASSWORD")
            .output()?;
        Ok(Output {
            code: out
                .status
                .code()
                .context("the binary was killed by a signal")?,
            stdout: String::from_utf8(out.stdout)?,
            stderr: String::from_utf8(out.stderr)?,
        })
    }

    /// A new key pair `PREFIX.key`, `PREFIX.pub`; returns its fingerprint.
    fn keygen(&self, prefix: &str) -> Result<String> {
        let v = self.run(&["keygen", "--out", prefix, "--json"])?.ok()?;
        Ok(v["fingerprint"].as_str().unwrap_or_default().to_owned())
    }

    /// Signs `echo` at `version` (requesting `io` and `extra`) with
    /// `key`, writing `echo-VERSION.*` in the working directory.
    fn sign(&self, version: &str, extra: &str, key: &str) -> Result<()> {
        let toml = format!("echo-{version}.toml");
        self.file(&toml, source(version, extra))?;
        self.run(&["sign", &toml, "echo.wasm", "--key", key, "--json"])?
            .ok()?;
        Ok(())
    }

    /// Pushes `echo-VERSION` to the home's registry; returns the JSON.
    fn push(&self, version: &str) -> Result<Value> {
        let manifest = format!("echo-{version}.manifest.json");
        self.run(&["push", &manifest, "echo.wasm", "--json"])?.ok()
    }

    /// Writes a trust policy `FILE` trusting key `PREFIX.pub` for
    /// `publisher`.
    fn policy(&self, file: &str, publisher: &str, prefix: &str) -> Result<()> {
        let public = std::fs::read_to_string(self.path(&format!("{prefix}.pub")))?;
        self.file(
            file,
            format!(
                "[publishers.\"{publisher}\"]\nkeys = [{{ public_key = \"\"\"{public}\"\"\", status = \"active\" }}]\n"
            ),
        )
    }

    /// The audit log of `tenant`, as JSON entries.
    fn audit(&self, tenant: &str) -> Result<Vec<Value>> {
        let v = self.run(&["audit", tenant, "--json"])?.ok()?;
        Ok(v["entries"].as_array().cloned().unwrap_or_default())
    }
}

fn is_rfc3339_utc(text: &Value) -> bool {
    let t = text.as_str().unwrap_or_default();
    t.len() == 20 && t.ends_with('Z') && t.as_bytes()[10] == b'T'
}

#[test]
fn a_plugins_life_from_push_to_revoke() -> Result<()> {
    let home = Home::new()?;
    let fp = home.keygen("acme")?;
    home.sign("1.0.0", "", "acme.key")?;

    let out = home.run(&["push", "echo-1.0.0.manifest.json", "echo.wasm", "--json"])?;
    let v = out.ok()?;
    assert_eq!(v["name"], "echo");
    assert_eq!(v["version"], "1.0.0");
    assert_eq!(v["tag"], "1.0.0");
    assert_eq!(v["signed"], true);
    let digest = v["digest"].as_str().unwrap_or_default().to_owned();
    assert!(digest.starts_with("sha256:"), "{v}");
    assert!(
        out.stderr.contains("pushing module sha256:"),
        "{}",
        out.stderr
    );

    // search: the package, signed by acme's key.
    let v = home.run(&["search", "--json"])?.ok()?;
    let p = &v["packages"][0];
    assert_eq!(p["name"], "echo");
    assert_eq!(p["version"], "1.0.0");
    assert_eq!(p["digest"], digest.as_str());
    assert_eq!(p["capabilities"], serde_json::json!(["io"]));
    assert_eq!(p["signed_by"]["publisher"], "acme.example");
    assert_eq!(p["signed_by"]["key"], fp.as_str());
    let out = home.run(&["search", "ech"])?;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.starts_with("NAME"), "{}", out.stdout);
    let short = &fp[..19];
    assert!(
        out.stdout.contains(&format!("acme.example {short}")),
        "{}",
        out.stdout
    );
    assert!(!out.stdout.contains("unsigned"), "{}", out.stdout);
    let v = home.run(&["search", "nothing-like-it", "--json"])?.ok()?;
    assert_eq!(v["packages"], serde_json::json!([]));

    // trust, install.
    home.policy("trust.toml", "acme.example", "acme")?;
    let v = home
        .run(&["trust", "acme", "--policy", "trust.toml", "--json"])?
        .ok()?;
    assert_eq!(v["publishers"], serde_json::json!(["acme.example"]));
    assert_eq!(v["keys"], 1);
    let v = home
        .run(&[
            "install",
            "acme",
            "echo",
            "--config",
            "greeting=hi",
            "--json",
        ])?
        .ok()?;
    assert_eq!(v["action"], "install");
    let i = &v["installation"];
    assert_eq!(i["version"], "1.0.0");
    assert_eq!(i["digest"], digest.as_str());
    assert_eq!(i["key"], fp.as_str());
    assert_eq!(i["granted_by"], "alice");
    assert_eq!(i["config_keys"], serde_json::json!(["greeting"]));

    // list-installed.
    let v = home.run(&["list-installed", "--json"])?.ok()?;
    assert_eq!(v["installations"].as_array().map(Vec::len), Some(1));
    assert_eq!(v["installations"][0]["name"], "echo");
    assert_eq!(v["installations"][0]["tenant"], "acme");
    let out = home.run(&["list-installed", "acme"])?;
    assert!(
        out.stdout.starts_with("TENANT") && out.stdout.contains("echo"),
        "{}",
        out.stdout
    );

    // show: granted is what was requested.
    let v = home.run(&["show", "acme", "echo", "--json"])?.ok()?;
    assert_eq!(v["installation"]["requested"], v["installation"]["granted"]);
    let caps = v["capabilities"].as_array().cloned().unwrap_or_default();
    assert!(!caps.is_empty());
    for c in &caps {
        assert_eq!(c["requested"], c["granted"], "{c}");
    }
    assert_eq!(caps[0]["capability"], "io");
    assert!(is_rfc3339_utc(&v["installation"]["granted_at"]), "{v}");
    assert_eq!(v["limits"][0]["limit"], "fuel");
    assert_eq!(v["limits"][0]["requested"], Value::Null);
    assert!(v["limits"][0]["effective"].as_u64().is_some_and(|f| f > 0));
    assert_eq!(v["history"].as_array().map(Vec::len), Some(1));
    let out = home.run(&["show", "acme", "echo"])?;
    assert!(
        out.stdout.contains("CAPABILITY  REQUESTED  GRANTED"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("granted by:  alice at "),
        "{}",
        out.stdout
    );

    // audit: the trust change and the install.
    let log = home.audit("acme")?;
    assert_eq!(log.len(), 2, "{log:?}");
    assert_eq!(log[0]["action"], "trust");
    assert_eq!(log[1]["action"], "install");
    assert_eq!(log[1]["plugin"], "echo@1.0.0");
    assert_eq!(log[1]["allowed"], true);
    assert_eq!(log[1]["actor"], "alice");
    assert!(is_rfc3339_utc(&log[1]["time"]), "{}", log[1]);

    // Installing again is refused: that is upgrade's job.
    let e = home
        .run(&["install", "acme", "echo", "--json"])?
        .refused(31, "admission_refused")?;
    assert_eq!(e["reason"], "already_installed");
    let out = home.run(&["install", "acme", "echo"])?;
    assert_eq!(out.code, 31);
    assert!(
        out.stderr
            .contains("error: admission_refused: already_installed: "),
        "{}",
        out.stderr
    );

    // 1.1.0 asks for kv too: keeping the grant needs a review.
    home.sign("1.1.0", "kv = true", "acme.key")?;
    home.push("1.1.0")?;
    let e = home
        .run(&["upgrade", "acme", "echo", "--json"])?
        .refused(31, "admission_refused")?;
    assert_eq!(e["reason"], "review_required");
    assert_eq!(e["new_capabilities"], serde_json::json!(["kv"]));
    let out = home.run(&["upgrade", "acme", "echo@1.1.0"])?;
    assert_eq!(out.code, 31);
    assert!(
        out.stderr.contains("new capabilities to review:\n  kv\n"),
        "{}",
        out.stderr
    );
    let v = home
        .run(&[
            "upgrade",
            "acme",
            "echo",
            "--grant-requested",
            "--actor",
            "bob",
            "--json",
        ])?
        .ok()?;
    assert_eq!(v["action"], "upgrade");
    assert_eq!(v["previous_version"], "1.0.0");
    assert_eq!(v["installation"]["version"], "1.1.0");
    assert_eq!(v["installation"]["granted_by"], "bob");
    assert_eq!(v["installation"]["granted"]["kv"], true);
    // The configuration is kept across the upgrade.
    assert_eq!(
        v["installation"]["config_keys"],
        serde_json::json!(["greeting"])
    );

    // A rollback must be forced.
    let e = home
        .run(&["rollback", "acme", "echo", "--json"])?
        .refused(31, "admission_refused")?;
    assert_eq!(e["reason"], "rollback_refused");
    let v = home
        .run(&["rollback", "acme", "echo", "--force", "--json"])?
        .ok()?;
    assert_eq!(v["action"], "rollback");
    assert_eq!(v["previous_version"], "1.1.0");
    assert_eq!(v["installation"]["version"], "1.0.0");
    assert_eq!(v["installation"]["granted"]["kv"], false);
    let v = home.run(&["show", "acme", "echo", "--json"])?.ok()?;
    let versions: Vec<&Value> = v["history"]
        .as_array()
        .map(|h| h.iter().map(|e| &e["version"]).collect())
        .unwrap_or_default();
    assert_eq!(versions, ["1.0.0", "1.1.0", "1.0.0"]);

    // revoke: nothing left installed.
    let v = home.run(&["revoke", "acme", "echo", "--json"])?.ok()?;
    assert_eq!(v["revoked"]["version"], "1.0.0");
    let v = home.run(&["list-installed", "acme", "--json"])?.ok()?;
    assert_eq!(v["installations"], serde_json::json!([]));
    let out = home.run(&["list-installed", "acme"])?;
    assert_eq!(out.stdout, "nothing installed for tenant acme\n");
    let e = home
        .run(&["revoke", "acme", "echo", "--json"])?
        .refused(31, "admission_refused")?;
    assert_eq!(e["reason"], "not_installed");
    let e = home
        .run(&["show", "acme", "echo", "--json"])?
        .refused(31, "admission_refused")?;
    assert_eq!(e["reason"], "not_installed");

    // The audit log holds every decision, the refusals with their reasons.
    let log = home.audit("acme")?;
    let summary: Vec<(String, bool, String)> = log
        .iter()
        .map(|e| {
            (
                e["action"].as_str().unwrap_or_default().to_owned(),
                e["allowed"] == true,
                e["reason"].as_str().unwrap_or("-").to_owned(),
            )
        })
        .collect();
    let expected = [
        ("trust", true, "-"),
        ("install", true, "-"),
        ("install", false, "already_installed"),
        ("install", false, "already_installed"),
        ("upgrade", false, "review_required"),
        ("upgrade", false, "review_required"),
        ("upgrade", true, "-"),
        ("rollback", false, "rollback_refused"),
        ("rollback", true, "-"),
        ("revoke", true, "-"),
        ("revoke", false, "not_installed"),
    ];
    let expected: Vec<(String, bool, String)> = expected
        .iter()
        .map(|(a, ok, r)| ((*a).to_owned(), *ok, (*r).to_owned()))
        .collect();
    assert_eq!(summary, expected);
    let seqs: Vec<u64> = log.iter().filter_map(|e| e["seq"].as_u64()).collect();
    assert_eq!(seqs, (1..=11).collect::<Vec<u64>>());
    assert_eq!(log[6]["actor"], "bob");
    let out = home.run(&["audit"])?;
    assert!(out.stdout.starts_with("SEQ"), "{}", out.stdout);
    assert!(
        out.stdout.contains("refused  rollback_refused"),
        "{}",
        out.stdout
    );
    Ok(())
}

#[test]
fn untrusted_keys_and_excess_grants_are_refused() -> Result<()> {
    let home = Home::new()?;
    home.keygen("acme")?;
    home.keygen("other")?;
    home.sign("1.0.0", "clock = true", "acme.key")?;
    home.push("1.0.0")?;

    let refusal = |tenant: &str, extra: &[&str]| -> Result<Value> {
        let mut args = vec!["install", tenant, "echo@1.0.0", "--json"];
        args.extend_from_slice(extra);
        home.run(&args)?.refused(31, "admission_refused")
    };
    // No trust policy: nothing is trusted.
    assert_eq!(refusal("nopolicy", &[])?["reason"], "no_trust_policy");
    // Another key for the same publisher.
    home.policy("other-key.toml", "acme.example", "other")?;
    home.run(&["trust", "beta", "--policy", "other-key.toml", "--json"])?
        .ok()?;
    assert_eq!(refusal("beta", &[])?["reason"], "untrusted_key");
    // Another publisher only.
    home.policy("other-publisher.toml", "other.example", "acme")?;
    home.run(&["trust", "gamma", "--policy", "other-publisher.toml"])?;
    assert_eq!(refusal("gamma", &[])?["reason"], "untrusted_publisher");
    // A trust policy that does not parse is refused and changes nothing.
    home.file("broken.toml", "[publishers.x]\nkeys = 3\n")?;
    let e = home
        .run(&["trust", "gamma", "--policy", "broken.toml", "--json"])?
        .refused(31, "admission_refused")?;
    assert_eq!(e["reason"], "bad_trust_policy");

    // The right key, but a grant beyond the request.
    home.policy("trust.toml", "acme.example", "acme")?;
    home.run(&["trust", "acme", "--policy", "trust.toml"])?;
    home.file("grant.toml", "io = true\nkv = true\n")?;
    let e = refusal("acme", &["--grant", "grant.toml"])?;
    assert_eq!(e["reason"], "grant_exceeds_request");
    assert_eq!(e["excess"], serde_json::json!(["kv"]));
    // Less than the module imports is refused before it compiles.
    home.file("none.toml", "")?;
    assert_eq!(
        refusal("acme", &["--grant", "none.toml"])?["reason"],
        "capability_not_granted"
    );
    // Less than requested, but what the module imports, is fine.
    home.file("io.toml", "io = true\n")?;
    let v = home
        .run(&["install", "acme", "echo", "--grant", "io.toml", "--json"])?
        .ok()?;
    assert_eq!(v["installation"]["granted"]["clock"], false);
    // Re-granting beyond the request is refused too, and changes nothing.
    let e = home
        .run(&["grant", "acme", "echo", "--grant", "grant.toml", "--json"])?
        .refused(31, "admission_refused")?;
    assert_eq!(e["reason"], "grant_exceeds_request");
    let v = home.run(&["show", "acme", "echo", "--json"])?.ok()?;
    let rows: Vec<(Value, Value, Value)> = v["capabilities"]
        .as_array()
        .map(|c| {
            c.iter()
                .map(|r| {
                    (
                        r["capability"].clone(),
                        r["requested"].clone(),
                        r["granted"].clone(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(
        rows,
        [
            ("io".into(), "yes".into(), "yes".into()),
            ("clock".into(), "yes".into(), Value::Null),
        ]
    );
    // The grant command changes what is granted, within the request.
    home.file("io-clock.toml", "io = true\nclock = true\n")?;
    let v = home
        .run(&[
            "grant",
            "acme",
            "echo",
            "--grant",
            "io-clock.toml",
            "--json",
        ])?
        .ok()?;
    assert_eq!(v["action"], "grant");
    assert_eq!(v["installation"]["granted"]["clock"], true);

    // A tenant name out of the rules is a usage error.
    assert_eq!(home.run(&["install", "Bad_Tenant", "echo"])?.code, 2);

    let reasons: Vec<Value> = ["nopolicy", "beta", "gamma", "acme"]
        .iter()
        .map(|t| {
            home.audit(t)
                .map(|log| log.iter().map(|e| e["reason"].clone()).collect::<Vec<_>>())
        })
        .collect::<Result<Vec<_>>>()?
        .into_iter()
        .flatten()
        .filter(|r| !r.is_null())
        .collect();
    assert_eq!(
        reasons,
        [
            "no_trust_policy",
            "untrusted_key",
            "untrusted_publisher",
            "grant_exceeds_request",
            "capability_not_granted",
            "grant_exceeds_request",
        ]
    );
    Ok(())
}

#[test]
fn pull_checks_every_digest_and_registry_errors_exit_32() -> Result<()> {
    let home = Home::new()?;
    home.keygen("acme")?;
    home.sign("1.0.0", "", "acme.key")?;
    home.push("1.0.0")?;

    let out = home.run(&["pull", "echo@1.0.0", "--out", "pulled", "--json"])?;
    let v = out.ok()?;
    assert!(
        out.stderr.contains("pulling module sha256:"),
        "{}",
        out.stderr
    );
    assert_eq!(v["version"], "1.0.0");
    for (pulled, original) in [
        ("manifest", "echo-1.0.0.manifest.json"),
        ("signature", "echo-1.0.0.sig.json"),
        ("module", "echo.wasm"),
    ] {
        let path = home.path(v[pulled].as_str().unwrap_or_default());
        assert_eq!(std::fs::read(&path)?, std::fs::read(home.path(original))?);
    }
    assert!(home.path("pulled/echo-1.0.0.wasm").exists());
    // Existing files are not replaced.
    assert_eq!(home.run(&["pull", "echo", "--out", "pulled"])?.code, 1);

    let reason = |args: &[&str]| -> Result<Value> {
        let mut args = args.to_vec();
        args.push("--json");
        Ok(home.run(&args)?.refused(32, "registry_error")?["reason"].clone())
    };
    assert_eq!(reason(&["pull", "missing@1.0.0"])?, "not_found");
    assert_eq!(reason(&["pull", "Not A Name"])?, "invalid_reference");
    assert_eq!(reason(&["install", "acme", "missing"])?, "not_found");
    let out = home.run(&["pull", "missing"])?;
    assert_eq!(out.code, 32);
    assert!(
        out.stderr.starts_with("error: registry_error: not_found: "),
        "{}",
        out.stderr
    );

    // Another directory given with --registry is another registry.
    let v = home
        .run(&[
            "push",
            "echo-1.0.0.manifest.json",
            "echo.wasm",
            "--registry",
            "elsewhere",
            "--json",
        ])?
        .ok()?;
    assert!(
        v["registry"]
            .as_str()
            .is_some_and(|r| r.starts_with("oci-layout:") && r.ends_with("elsewhere")),
        "{v}"
    );
    let out = home.run(&["search", "--home", "empty-home"])?;
    assert!(out.stdout.starts_with("no packages in "), "{}", out.stdout);

    // A module blob changed in place (same size) is refused by pull and by
    // install, by digest.
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(home.path("echo-1.0.0.manifest.json"))?)?;
    let hex = manifest["module"]["sha256"]
        .as_str()
        .unwrap_or_default()
        .trim_start_matches("sha256:")
        .to_owned();
    let blob = home.path(&format!("home/registry/blobs/sha256/{hex}"));
    let mut bytes = std::fs::read(&blob)?;
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(&blob, bytes)?;
    assert_eq!(
        reason(&["pull", "echo", "--out", "tampered"])?,
        "digest_mismatch"
    );
    home.policy("trust.toml", "acme.example", "acme")?;
    home.run(&["trust", "acme", "--policy", "trust.toml"])?;
    assert_eq!(reason(&["install", "acme", "echo"])?, "digest_mismatch");
    let log = home.audit("acme")?;
    assert_eq!(
        log.last().map(|e| e["reason"].clone()),
        Some("digest_mismatch".into())
    );
    Ok(())
}

#[test]
fn a_command_waits_while_another_holds_the_install_store() -> Result<()> {
    let home = Home::new()?;
    home.run(&["list-installed", "--json"])?.ok()?;
    let held = bitvault_plugins::registry::RedbInstallStore::open(
        home.path("home").join("installs.redb"),
    )?;
    let mut child = Command::new(env!("CARGO_BIN_EXE_bitvault-plugin"))
        .args(["list-installed", "--json"])
        .env("BITVAULT_HOME", home.path("home"))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()?;
    std::thread::sleep(std::time::Duration::from_millis(700));
    let waited = child.try_wait()?.is_none();
    drop(held);
    let out = child.wait_with_output()?;
    ensure!(
        waited,
        "the command ended while the store was held: {out:?}"
    );
    ensure!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout)?;
    ensure!(v["ok"] == true, "{v}");
    Ok(())
}
