//! `bitvault-plugin bench`: load a module once, then time many fresh
//! invocations of one export.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Result;
use bitvault_runtime::{ErrorKind, LogRecord, LogSink};

use crate::host::{self, GrantArgs, InputArg, LimitArgs};
use crate::json::{self, Failure, micros};

/// Arguments of `bench`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The plugin: a `.wasm` binary or WebAssembly text.
    module: PathBuf,
    /// The export to invoke, a `() -> i32` function (or a WASI command's
    /// `_start`, `() -> ()`).
    export: String,
    #[command(flatten)]
    input: InputArg,
    /// Number of invocations.
    #[arg(short = 'n', value_name = "N", default_value_t = 1000,
          value_parser = clap::value_parser!(u64).range(1..))]
    calls: u64,
    #[command(flatten)]
    limits: LimitArgs,
    #[command(flatten)]
    grant: GrantArgs,
    /// Print one JSON object instead of the summary.
    #[arg(long)]
    json: bool,
}

/// Latency percentiles, in microseconds.
#[derive(Debug, Clone, Copy)]
pub struct Latency {
    /// Median.
    pub p50: u64,
    /// 90th percentile.
    pub p90: u64,
    /// 99th percentile.
    pub p99: u64,
    /// Slowest call.
    pub max: u64,
    /// Mean, rounded down.
    pub mean: u64,
}

/// What a benchmark measured.
#[derive(Debug)]
pub struct Summary {
    /// Invocations made.
    pub calls: u64,
    /// Admission and compilation time, in microseconds.
    pub load_us: u64,
    /// Latency of every call, failed ones included.
    pub latency: Latency,
    /// Median fuel used per call.
    pub fuel_median: u64,
    /// Failed calls per kind, in [`ErrorKind::ALL`] order, kinds with none
    /// left out.
    pub failures: Vec<(ErrorKind, u64)>,
    /// The first failed call's failure.
    pub first_failure: Option<Failure>,
}

impl Summary {
    /// Number of failed calls.
    pub fn failed(&self) -> u64 {
        self.failures.iter().map(|(_, n)| n).sum()
    }
}

/// Plugin log messages are dropped while benchmarking (they still count
/// against the log limits).
struct Discard;

impl LogSink for Discard {
    fn log(&self, _: &LogRecord<'_>) {}
}

/// Runs the command and returns the exit status.
///
/// # Errors
/// Host errors: the module or input cannot be read, the runtime cannot
/// start, stdout cannot be written.
pub fn bench(args: &Args) -> Result<u8> {
    let wasm = host::read_module(&args.module)?;
    let input = args.input.read()?;
    let runtime = host::runtime()?;
    let limits = args.limits.limits(&runtime.config().limits);
    let grants = args.grant.grants()?;

    let started = Instant::now();
    let plugin = match wasm.and_then(|w| host::load(&runtime, &w, &grants)) {
        Ok(p) => p,
        Err(failure) => return host::fail_before_running(&failure, args.json),
    };
    let load_us = micros(started.elapsed());

    let ctx = args
        .grant
        .context(&args.module, limits, Arc::new(Discard), &grants)?;
    let mut latencies = Vec::new();
    let mut fuel = Vec::new();
    let mut counts = vec![0u64; ErrorKind::ALL.len()];
    let mut first_failure = None;
    for _ in 0..args.calls {
        let request = input.clone();
        let t = Instant::now();
        let outcome = plugin.invoke(&args.export, request, &ctx);
        latencies.push(micros(t.elapsed()));
        fuel.push(outcome.metrics.fuel_used);
        if let Err(e) = outcome.result {
            if let Some(i) = ErrorKind::ALL.iter().position(|k| *k == e.kind()) {
                counts[i] += 1;
            }
            first_failure.get_or_insert_with(|| Failure::from_invoke(&e));
        }
    }
    latencies.sort_unstable();
    fuel.sort_unstable();
    let summary = Summary {
        calls: args.calls,
        load_us,
        latency: Latency {
            p50: percentile(&latencies, 50),
            p90: percentile(&latencies, 90),
            p99: percentile(&latencies, 99),
            max: latencies.last().copied().unwrap_or(0),
            mean: mean(&latencies),
        },
        fuel_median: percentile(&fuel, 50),
        failures: ErrorKind::ALL
            .iter()
            .copied()
            .zip(counts)
            .filter(|(_, n)| *n > 0)
            .collect(),
        first_failure,
    };

    if args.json {
        host::print_json(&json::bench(&summary))?;
    } else {
        host::write_stdout(human(&summary).as_bytes())?;
    }
    Ok(summary
        .first_failure
        .as_ref()
        .map_or(crate::exit::SUCCESS, Failure::exit_code))
}

/// The nearest-rank `p`th percentile of an ascending slice; 0 when empty.
fn percentile(sorted: &[u64], p: u64) -> u64 {
    let n = sorted.len() as u64;
    let rank = (p * n).div_ceil(100).max(1);
    sorted
        .get(usize::try_from(rank - 1).unwrap_or(usize::MAX))
        .copied()
        .unwrap_or(0)
}

fn mean(values: &[u64]) -> u64 {
    let sum: u128 = values.iter().map(|v| u128::from(*v)).sum();
    u64::try_from(sum / values.len().max(1) as u128).unwrap_or(u64::MAX)
}

fn human(s: &Summary) -> String {
    let l = &s.latency;
    let failures = if s.failures.is_empty() {
        "none".to_owned()
    } else {
        s.failures
            .iter()
            .map(|(k, n)| format!("{k} {n}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    format!(
        "load: {} us\n\
         calls: {} ({} failed)\n\
         latency (us): p50 {}  p90 {}  p99 {}  max {}  mean {}\n\
         fuel per call (median): {}\n\
         failed calls by kind: {failures}\n",
        s.load_us,
        s.calls,
        s.failed(),
        l.p50,
        l.p90,
        l.p99,
        l.max,
        l.mean,
        s.fuel_median,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_use_the_nearest_rank() {
        let v: Vec<u64> = (1..=100).collect();
        assert_eq!(percentile(&v, 50), 50);
        assert_eq!(percentile(&v, 90), 90);
        assert_eq!(percentile(&v, 99), 99);
        assert_eq!(percentile(&v, 100), 100);
        assert_eq!(percentile(&[7], 50), 7);
        assert_eq!(percentile(&[1, 2, 3], 50), 2);
        assert_eq!(percentile(&[], 50), 0);
        assert_eq!(mean(&[1, 2, 4]), 2);
        assert_eq!(mean(&[]), 0);
    }
}
