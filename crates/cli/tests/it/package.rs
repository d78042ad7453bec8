//! `keygen`, `sign` and `verify`: a package signed with a new key verifies
//! under a policy that trusts it, and is refused, exit 30 with its reason,
//! when the module is tampered with, when unsigned, or when the key is not
//! trusted.

use anyhow::Result;

use crate::Sandbox;

const SOURCE: &str = r#"
name = "echo"
version = "1.0.0"
publisher = "acme.example"
description = "returns its request"
extension_points = []

[capabilities]
io = true
"#;

#[test]
fn keygen_sign_verify_and_each_refusal() -> Result<()> {
    let sb = Sandbox::with("echo.toml", SOURCE)?;
    sb.file("echo.wasm", b"\0asm\x01\0\0\0")?;
    let out = sb.run(&["keygen", "--out", "acme", "--json"])?;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let fp = out.json()?["fingerprint"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(fp.starts_with("sha256:"), "{fp}");
    // A second keygen does not replace the key.
    assert_eq!(sb.run(&["keygen", "--out", "acme"])?.code, 1);

    let out = sb.run(&[
        "sign",
        "echo.toml",
        "echo.wasm",
        "--key",
        "acme.key",
        "--json",
    ])?;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.json()?["key"], fp.as_str());

    let public = std::fs::read_to_string(sb.path("acme.pub"))?;
    sb.file(
        "trust.toml",
        format!(
            "[publishers.\"acme.example\"]\nkeys = [{{ public_key = \"\"\"{public}\"\"\", status = \"active\" }}]\n"
        ),
    )?;
    let verify = [
        "verify",
        "echo-1.0.0.manifest.json",
        "echo.wasm",
        "--policy",
        "trust.toml",
        "--json",
    ];
    let out = sb.run(&verify)?;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let v = out.json()?;
    assert_eq!(v["package"]["name"], "echo");
    assert_eq!(v["package"]["key_status"], "active");

    let reason = |code: i32, out: &crate::Output| -> Result<String> {
        assert_eq!(out.code, code, "{}", out.stderr);
        let v = out.json()?;
        assert_eq!(v["error"]["kind"], "package_refused");
        Ok(v["error"]["reason"].as_str().unwrap_or_default().to_owned())
    };
    // A tampered module.
    sb.file("echo.wasm", b"\0asm\x01\0\0\x01")?;
    assert_eq!(reason(30, &sb.run(&verify)?)?, "module_digest");
    sb.file("echo.wasm", b"\0asm\x01\0\0\0")?;
    // Unsigned: the signature file is gone.
    std::fs::rename(sb.path("echo-1.0.0.sig.json"), sb.path("kept.sig.json"))?;
    assert_eq!(reason(30, &sb.run(&verify)?)?, "unsigned");
    // A policy trusting another key.
    let mut other = verify.to_vec();
    other.extend(["--signature", "kept.sig.json"]);
    sb.run(&["keygen", "--out", "other"])?;
    let public = std::fs::read_to_string(sb.path("other.pub"))?;
    sb.file(
        "trust.toml",
        format!(
            "[publishers.\"acme.example\"]\nkeys = [{{ public_key = \"\"\"{public}\"\"\", status = \"active\" }}]\n"
        ),
    )?;
    assert_eq!(reason(30, &sb.run(&other)?)?, "untrusted_key");
    // Plain text names the reason too.
    let plain: Vec<&str> = other.iter().copied().filter(|a| *a != "--json").collect();
    let out = sb.run(&plain)?;
    assert_eq!(out.code, 30);
    assert!(
        out.stderr
            .starts_with("error: package_refused: key sha256:"),
        "{}",
        out.stderr
    );
    Ok(())
}
