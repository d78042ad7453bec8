//! `bitvault-conformance`: runs the extension points' conformance suites
//! over plugin modules and prints a table per plugin (`cargo xtask
//! conformance` runs it). Without modules, it runs every reference plugin
//! against its points. Exit status 0 when every case passed, 1 when one
//! failed, 2 for usage errors and modules that cannot be read or loaded.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use bitvault_conformance::{Subject, TransformSample, reference, run, table};
use bitvault_extpoints::Point;
use bitvault_runtime::{Runtime, RuntimeConfig};
use clap::Parser;

/// Runs the extension points' conformance suites.
#[derive(Parser)]
#[command(name = "bitvault-conformance")]
struct Args {
    /// Only these points (content_transform, event_handler,
    /// storage_provider, auth_provider, policy_hook, search); repeatable
    /// [default: every point a module implements]
    #[arg(long = "point", value_name = "POINT")]
    points: Vec<String>,
    /// Configuration for the given modules, KEY=VALUE; repeatable
    #[arg(long, value_name = "KEY=VALUE")]
    config: Vec<String>,
    /// Event topics the given modules may emit on; repeatable
    #[arg(long = "topic", value_name = "PATTERN")]
    topics: Vec<String>,
    /// A sample input a content transform must accept, MEDIA_TYPE=FILE;
    /// repeatable
    #[arg(long = "sample", value_name = "TYPE=FILE")]
    samples: Vec<String>,
    /// Fuel per call for the given modules [default: the runtime's
    /// default, 10^8, or a polyglot plugin's own]
    #[arg(long, value_name = "N")]
    fuel: Option<u64>,
    /// Plugin modules [default: the reference plugins]
    modules: Vec<PathBuf>,
}

fn parse_points(names: &[String]) -> Result<Vec<Point>> {
    names
        .iter()
        .map(|n| Point::from_name(n).with_context(|| format!("unknown point `{n}`")))
        .collect()
}

fn subjects(args: &Args, only: &[Point]) -> Result<Vec<(Subject, Vec<Point>)>> {
    let runtime = Runtime::new(RuntimeConfig::new())?;
    if args.modules.is_empty() {
        let dir = reference::plugins_dir().map_err(anyhow::Error::msg)?;
        let mut all = reference::subjects(&dir).context("reading the reference plugins")?;
        all.extend(
            reference::polyglot_subjects(&reference::polyglot_dir())
                .context("reading the plugins in other languages")?,
        );
        if !only.is_empty() {
            for (_, points) in &mut all {
                points.retain(|p| only.contains(p));
            }
            all.retain(|(_, points)| !points.is_empty());
        }
        return Ok(all);
    }
    let mut out = Vec::new();
    for path in &args.modules {
        let wasm =
            std::fs::read(path).with_context(|| format!("cannot read `{}`", path.display()))?;
        let implemented = bitvault_extpoints::implemented(
            runtime
                .inspect(&wasm)
                .with_context(|| format!("`{}` is not a valid module", path.display()))?
                .exports
                .iter()
                .map(|e| e.name.as_str()),
        );
        let points = if only.is_empty() {
            implemented
        } else {
            only.to_vec()
        };
        if points.is_empty() {
            bail!("`{}` implements no extension point", path.display());
        }
        let name = path
            .file_stem()
            .map_or_else(|| "plugin".into(), |s| s.to_string_lossy().into_owned());
        // A polyglot plugin built by `cargo xtask build-plugins` runs with
        // its own subject: grants, fuel and samples.
        let in_polyglot = match (
            path.parent().and_then(|p| p.canonicalize().ok()),
            reference::polyglot_dir().canonicalize(),
        ) {
            (Some(dir), Ok(polyglot)) => dir == polyglot,
            _ => false,
        };
        let known = in_polyglot
            .then(|| reference::polyglot_subject(&name, wasm.clone()))
            .flatten();
        let mut subject = known.map_or_else(|| Subject::new(name, wasm), |(s, _)| s);
        if let Some(fuel) = args.fuel {
            subject = subject.fuel(fuel);
        }
        for pair in &args.config {
            let (k, v) = pair
                .split_once('=')
                .with_context(|| format!("--config `{pair}` is not KEY=VALUE"))?;
            subject = subject.config(k, v);
        }
        if !args.topics.is_empty() {
            let topics: Vec<&str> = args.topics.iter().map(String::as_str).collect();
            subject = subject.topics(&topics);
        }
        for pair in &args.samples {
            let (media_type, file) = pair
                .split_once('=')
                .with_context(|| format!("--sample `{pair}` is not TYPE=FILE"))?;
            subject.transform_samples.push(TransformSample {
                media_type: media_type.into(),
                content: std::fs::read(file)
                    .with_context(|| format!("cannot read sample `{file}`"))?,
                parameters: Vec::new(),
            });
        }
        out.push((subject, points));
    }
    Ok(out)
}

fn main() -> ExitCode {
    let args = Args::parse();
    let result = (|| -> Result<bool> {
        let only = parse_points(&args.points)?;
        let runtime = Runtime::new(RuntimeConfig::new())?;
        let mut all_passed = true;
        for (subject, points) in subjects(&args, &only)? {
            let report = run(&runtime, &subject, &points)
                .with_context(|| format!("cannot load `{}` for {points:?}", subject.name))?;
            print!("{}", table(&report));
            println!();
            all_passed &= report.passed();
        }
        Ok(all_passed)
    })();
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}
