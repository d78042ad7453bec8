//! `bench`: percentiles, fuel, failures by kind.

use anyhow::Result;
use serde_json::json;

use crate::{ECHO, Sandbox};

#[test]
fn bench_prints_percentiles_and_exits_0() -> Result<()> {
    let sb = Sandbox::with("echo.wat", ECHO)?;
    sb.file("request.bin", b"hello")?;
    let out = sb.run(&[
        "bench",
        "echo.wat",
        "echo",
        "-n",
        "20",
        "--input",
        "request.bin",
    ])?;
    assert_eq!(out.code, 0, "{out:?}");
    let text = out.stdout()?;
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 5, "{text}");
    assert!(
        lines[0].starts_with("load: ") && lines[0].ends_with(" us"),
        "{text}"
    );
    assert_eq!(lines[1], "calls: 20 (0 failed)");
    let latency: Vec<&str> = lines[2].split_whitespace().collect();
    assert_eq!(latency.len(), 12, "{text}");
    assert_eq!(
        [
            latency[0],
            latency[1],
            latency[2],
            latency[4],
            latency[6],
            latency[8],
            latency[10]
        ],
        ["latency", "(us):", "p50", "p90", "p99", "max", "mean"]
    );
    let figures: Vec<u64> = [3, 5, 7, 9]
        .iter()
        .map(|i| latency[*i].parse())
        .collect::<Result<_, _>>()?;
    assert!(figures.windows(2).all(|w| w[0] <= w[1]), "{text}");

    // The median fuel is the fuel of one identical call.
    let run = sb.run(&[
        "run",
        "echo.wat",
        "echo",
        "--input",
        "request.bin",
        "--json",
    ])?;
    let fuel = run.json()?["metrics"]["fuel_used"]
        .as_u64()
        .unwrap_or_default();
    assert_eq!(lines[3], format!("fuel per call (median): {fuel}"));
    assert_eq!(lines[4], "failed calls by kind: none");
    Ok(())
}

#[test]
fn bench_json() -> Result<()> {
    let sb = Sandbox::with("echo.wat", ECHO)?;
    let out = sb.run(&["bench", "echo.wat", "echo", "-n", "20", "--json"])?;
    assert_eq!(out.code, 0);
    let v = out.json()?;
    assert_eq!(v["ok"], true);
    assert_eq!(v["error"], json!(null));
    assert_eq!(v["calls"], 20);
    assert_eq!(v["failed"], 0);
    assert_eq!(v["failures"], json!({}));
    let l = &v["latency_us"];
    let p: Vec<u64> = ["p50", "p90", "p99", "max"]
        .iter()
        .map(|k| l[*k].as_u64().unwrap_or(u64::MAX))
        .collect();
    assert!(p.windows(2).all(|w| w[0] <= w[1]), "{l}");
    assert!(l["mean"].as_u64().is_some_and(|m| m <= p[3]), "{l}");
    assert!(
        v["fuel_per_call_median"].as_u64().is_some_and(|f| f > 0),
        "{v}"
    );
    Ok(())
}

#[test]
fn failed_calls_are_counted_by_kind_and_set_the_exit_status() -> Result<()> {
    let sb = Sandbox::with(
        "spin.wat",
        r#"(module (func (export "spin") (result i32) (loop $l (br $l)) (i32.const 0)))"#,
    )?;
    let out = sb.run(&[
        "bench", "spin.wat", "spin", "-n", "5", "--fuel", "1000", "--json",
    ])?;
    assert_eq!(out.code, 10);
    let v = out.json()?;
    assert_eq!(v["ok"], false);
    assert_eq!(v["calls"], 5);
    assert_eq!(v["failed"], 5);
    assert_eq!(v["failures"], json!({ "fuel_exhausted": 5 }));
    assert_eq!(v["fuel_per_call_median"], 1000);
    assert_eq!(
        v["error"],
        json!({ "kind": "fuel_exhausted", "message": "fuel exhausted after 1000 units", "limit": 1000 })
    );

    let out = sb.run(&["bench", "spin.wat", "spin", "-n", "3", "--fuel", "1000"])?;
    assert_eq!(out.code, 10);
    let text = out.stdout()?;
    assert!(text.contains("\ncalls: 3 (3 failed)\n"), "{text}");
    assert!(
        text.ends_with("\nfailed calls by kind: fuel_exhausted 3\n"),
        "{text}"
    );
    Ok(())
}
