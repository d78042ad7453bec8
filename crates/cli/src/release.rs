//! `bitvault-plugin release`: a plugin project's build, conformance suites,
//! signature and publication in one command. The project is what `new`
//! writes (or any directory laid out the same way): `manifest.toml`, a
//! `build.sh` that writes `NAME.wasm`, and the module it builds.
//!
//! Each step runs only when the one before it succeeded, so a module that
//! does not build or does not pass its points' suites is never signed, and
//! nothing is pushed without its signature.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use bitvault_conformance::{Subject, TokenSample, TransformSample, table};
use bitvault_extpoints::Point;
use bitvault_registry::publish;
use bitvault_runtime::{Runtime, RuntimeConfig};
use serde_json::json;

use crate::exit;
use crate::host::{print_json, warn_error, write_stdout};
use crate::package::{ManifestSource, read_source, sign_into};
use crate::registry_cmds::{RegistryArgs, StderrProgress, try_registry};

/// Arguments of `release`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The project directory
    #[arg(default_value = ".")]
    dir: PathBuf,
    /// The publisher's private key (PKCS#8 PEM)
    #[arg(long, value_name = "FILE")]
    key: PathBuf,
    /// The module [default: DIR/NAME.wasm, NAME from the manifest]
    #[arg(long, value_name = "FILE")]
    module: Option<PathBuf>,
    /// Do not run DIR/build.sh; release the module as it is
    #[arg(long)]
    no_build: bool,
    /// Configuration the suites run with, KEY=VALUE; repeatable
    #[arg(long, value_name = "KEY=VALUE")]
    config: Vec<String>,
    /// A sample a content transform must accept, MEDIA_TYPE=FILE; repeatable
    #[arg(long = "sample", value_name = "TYPE=FILE")]
    samples: Vec<String>,
    /// A credential an auth provider must accept, SUBJECT=FILE (the file
    /// holds the token); repeatable
    #[arg(long = "token", value_name = "SUBJECT=FILE")]
    tokens: Vec<String>,
    /// Where the signed package is written [default: DIR/pkg]
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    #[command(flatten)]
    registry: RegistryArgs,
    /// Print one JSON object describing the outcome instead of text.
    #[arg(long)]
    json: bool,
}

fn pair<'a>(flag: &str, value: &'a str) -> Result<(&'a str, &'a str)> {
    value
        .split_once('=')
        .with_context(|| format!("--{flag} `{value}` is not KEY=VALUE"))
}

/// Runs DIR/build.sh, its output going to stderr.
fn build(dir: &Path) -> Result<()> {
    let script = dir.join("build.sh");
    if !script.is_file() {
        bail!(
            "`{}` does not exist: build the module yourself and pass --no-build",
            script.display()
        );
    }
    eprintln!("building: {}", script.display());
    let status = Command::new("sh")
        .arg("./build.sh")
        .current_dir(dir)
        .stdout(std::io::stderr())
        .status()
        .with_context(|| format!("cannot run `{}`", script.display()))?;
    if !status.success() {
        bail!("`{}` failed ({status})", script.display());
    }
    Ok(())
}

/// The subject the suites run: the module under exactly the manifest's
/// grant and limits, with the samples and configuration given.
fn subject(args: &Args, wasm: Vec<u8>, source: &ManifestSource) -> Result<Subject> {
    let mut subject = Subject {
        grants: source.capabilities.clone(),
        ..Subject::new(&source.name, wasm)
    };
    if let Some(limits) = source.limits {
        subject.limits = limits;
    }
    for value in &args.config {
        let (k, v) = pair("config", value)?;
        subject = subject.config(k, v);
    }
    for value in &args.samples {
        let (media_type, file) = pair("sample", value)?;
        subject.transform_samples.push(TransformSample {
            media_type: media_type.into(),
            content: std::fs::read(file).with_context(|| format!("cannot read sample `{file}`"))?,
            parameters: Vec::new(),
        });
    }
    for value in &args.tokens {
        let (who, file) = pair("token", value)?;
        let token =
            std::fs::read_to_string(file).with_context(|| format!("cannot read token `{file}`"))?;
        subject.token_samples.push(TokenSample {
            token: token.trim().to_owned(),
            subject: who.into(),
            expired_at_unix_ms: None,
        });
    }
    Ok(subject)
}

/// Runs `release`: exit 0 when the package was published,
/// [`exit::CONFORMANCE_FAILED`] when a suite failed (nothing signed),
/// [`exit::REGISTRY_ERROR`] when publishing failed.
///
/// # Errors
/// Host errors: an unreadable or invalid manifest, a failed build, a
/// module that cannot be loaded for its points, a package already signed
/// at this version, an unreadable key.
pub fn release(args: &Args) -> Result<u8> {
    let manifest_path = args.dir.join("manifest.toml");
    let source = read_source(&manifest_path)?;
    if !args.no_build {
        build(&args.dir)?;
    }
    let module_path = args
        .module
        .clone()
        .unwrap_or_else(|| args.dir.join(format!("{}.wasm", source.name)));
    let wasm = std::fs::read(&module_path)
        .with_context(|| format!("cannot read the module `{}`", module_path.display()))?;

    // The suites of every point the manifest declares.
    let points = source
        .extension_points
        .iter()
        .map(|p| {
            Point::from_name(p).with_context(|| {
                format!("{}: unknown extension point `{p}`", manifest_path.display())
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let mut conformance = Vec::new();
    if points.is_empty() {
        eprintln!("no extension point in the manifest: no conformance suite to run");
    } else {
        let runtime = Runtime::new(RuntimeConfig::new())?;
        let subject = subject(args, wasm.clone(), &source)?;
        let report = bitvault_conformance::run(&runtime, &subject, &points)
            .with_context(|| format!("cannot load `{}` for {points:?}", module_path.display()))?;
        eprint!("{}", table(&report));
        for &point in &points {
            let of_point = || report.results.iter().filter(move |r| r.point == point);
            conformance.push(json!({
                "point": point.name(),
                "passed": of_point().filter(|r| r.outcome.is_ok()).count(),
                "failed": of_point().filter(|r| r.outcome.is_err()).count(),
            }));
        }
        if !report.passed() {
            let failed: Vec<String> = report
                .failures()
                .map(|r| format!("{}/{}", r.point.name(), r.case))
                .collect();
            let message = format!(
                "{} failed {} conformance case(s): {}; nothing was signed",
                source.name,
                failed.len(),
                failed.join(", ")
            );
            if args.json {
                print_json(&json!({
                    "ok": false,
                    "error": {
                        "kind": "conformance_failed",
                        "message": message,
                        "failed": failed,
                    },
                    "conformance": conformance,
                }))?;
            } else {
                warn_error(&format!("conformance_failed: {message}"));
            }
            return Ok(exit::CONFORMANCE_FAILED);
        }
    }

    // Sign, then publish.
    let out = args.out.clone().unwrap_or_else(|| args.dir.join("pkg"));
    std::fs::create_dir_all(&out).with_context(|| format!("cannot create `{}`", out.display()))?;
    let signed = sign_into(source, &wasm, &args.key, &out)?;
    eprintln!(
        "signed {} {} as {} with {}",
        signed.manifest.name, signed.manifest.version, signed.manifest.publisher, signed.key
    );
    let registry: Arc<dyn bitvault_registry::oci::Registry> =
        try_registry!(args.registry.open()?, args.json);
    let manifest_bytes = std::fs::read(&signed.manifest_path)?;
    let signature_bytes = std::fs::read(&signed.signature_path)?;
    let published = try_registry!(
        publish(
            &*registry,
            &manifest_bytes,
            Some(&signature_bytes),
            &wasm,
            &StderrProgress::new("pushing"),
        ),
        args.json
    );
    if args.json {
        print_json(&json!({
            "ok": true,
            "name": published.name,
            "version": published.version,
            "module_sha256": signed.manifest.module.sha256,
            "conformance": conformance,
            "manifest": signed.manifest_path.display().to_string(),
            "signature": signed.signature_path.display().to_string(),
            "key": signed.key,
            "registry": registry.location(),
            "tag": published.tag,
            "digest": published.digest,
        }))?;
    } else {
        write_stdout(
            format!(
                "released {} {} to {}\ntag:    {}\ndigest: {}\n",
                published.name,
                published.version,
                registry.location(),
                published.tag,
                published.digest
            )
            .as_bytes(),
        )?;
    }
    Ok(exit::SUCCESS)
}
