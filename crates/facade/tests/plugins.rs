//! The reference plugins under `plugins/`, written with the Rust PDK and
//! built for wasm32, run through the public API under their grants.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, OnceLock};

use anyhow::{Context, Result, ensure};
use bitvault_plugins::abi::EventsGrant;
use bitvault_plugins::events::{EventLimits, InProcessBus};
use bitvault_plugins::kv::{KvQuotas, KvStore, MemoryKv};
use bitvault_plugins::{
    CallContext, Grants, InvokeError, LimitPolicy, Prepared, Runtime, RuntimeConfig,
};

fn root() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

/// Builds the reference plugins once per test run (as `cargo xtask
/// build-plugins` does) and returns the directory of the `.wasm` files.
fn plugins_dir() -> Result<PathBuf> {
    static BUILT: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            let target = root().join("target/plugins");
            let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
            let out = Command::new(cargo)
                .args(["build", "--release", "--target", "wasm32-unknown-unknown"])
                .arg("--manifest-path")
                .arg(root().join("plugins/Cargo.toml"))
                .arg("--target-dir")
                .arg(&target)
                .output()
                .map_err(|e| format!("cannot run cargo: {e}"))?;
            if !out.status.success() {
                return Err(format!(
                    "building the reference plugins failed (is the target installed? \
                     `rustup target add wasm32-unknown-unknown`, or run `cargo xtask build-plugins`):\n{}",
                    String::from_utf8_lossy(&out.stderr)
                ));
            }
            Ok(target.join("wasm32-unknown-unknown/release"))
        })
        .clone()
        .map_err(anyhow::Error::msg)
}

fn load(name: &str, grants: &Grants) -> Result<Prepared> {
    let path = plugins_dir()?.join(format!("{name}.wasm"));
    let wasm = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
    ensure!(wasm.len() < 1 << 20, "{name}.wasm is {} bytes", wasm.len());
    Ok(Runtime::new(RuntimeConfig::new())?.load(&wasm, grants)?)
}

fn ctx() -> CallContext {
    CallContext::new(LimitPolicy::standard().default).for_plugin("tenant-a", "ref")
}

#[test]
fn echo_returns_its_request() -> Result<()> {
    let p = load("echo", &Grants::core())?;
    let big: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    assert_eq!(p.invoke("echo", big.clone(), &ctx()).result?, big);
    assert_eq!(p.invoke("echo", Vec::new(), &ctx()).result?, b"");
    Ok(())
}

#[test]
fn greeter_reads_its_configuration_and_reports_errors() -> Result<()> {
    let p = load("greeter", &Grants::core())?;
    let mut config = bitvault_plugins::PluginConfig::new();
    config.insert("greeting".into(), "Hej".into());
    let c = ctx().with_config(config);
    assert_eq!(p.invoke("greet", b"Ada".to_vec(), &c).result?, b"Hej, Ada!");
    assert_eq!(
        p.invoke("greet", b"Ada".to_vec(), &ctx()).result?,
        b"Hello, Ada!"
    );
    assert_eq!(
        p.invoke("greet", b"  ".to_vec(), &c).result.unwrap_err(),
        InvokeError::PluginError {
            code: 10,
            message: Some("no name to greet".into())
        }
    );
    assert_eq!(
        p.invoke("greet", vec![0xff], &c).result.unwrap_err(),
        InvokeError::PluginError {
            code: 2,
            message: Some("request is not UTF-8".into())
        }
    );
    Ok(())
}

#[test]
fn counter_keeps_state_in_kv_and_publishes_events() -> Result<()> {
    let grants = Grants {
        events: Some(EventsGrant {
            topics: vec!["counter.*".into()],
        }),
        ..Grants::core_with_kv()
    };
    let p = load("counter", &grants)?;
    let store: Arc<dyn KvStore> = Arc::new(MemoryKv::new());
    let bus = Arc::new(InProcessBus::new(64));
    let rx = bus.subscribe();
    let c = ctx()
        .with_kv(store, KvQuotas::standard(), None)?
        .with_events(bus.clone(), 0, EventLimits::standard());
    for expected in ["1", "2", "3"] {
        assert_eq!(
            p.invoke("hit", b"/a.png".to_vec(), &c).result?,
            expected.as_bytes()
        );
    }
    assert_eq!(p.invoke("hit", b"/b.png".to_vec(), &c).result?, b"1");
    assert_eq!(
        p.invoke("report", Vec::new(), &c).result?,
        b"/a.png=3\n/b.png=1\n"
    );
    let events: Vec<_> = rx
        .try_iter()
        .map(|e| (e.topic, e.payload.to_vec()))
        .collect();
    assert_eq!(events.len(), 4);
    assert_eq!(
        events[3],
        ("counter.updated".to_string(), b"/b.png=1".to_vec())
    );

    // Without the events grant the module is refused before it compiles.
    let err = load("counter", &Grants::core_with_kv()).unwrap_err();
    assert!(err.to_string().contains("emit_event"), "{err}");
    Ok(())
}

#[test]
fn dice_uses_the_soft_capabilities_and_reports_when_withheld() -> Result<()> {
    let p = load("dice", &Grants::core())?;
    let out = String::from_utf8(p.invoke("roll", Vec::new(), &ctx()).result?)?;
    let roll: u8 = out["{\"roll\":".len()..out.find(',').context("no comma")?].parse()?;
    assert!((1..=6).contains(&roll), "{out}");
    let withheld = load(
        "dice",
        &Grants {
            random: false,
            ..Grants::core()
        },
    )?;
    match withheld
        .invoke("roll", Vec::new(), &ctx())
        .result
        .unwrap_err()
    {
        InvokeError::PluginError { code: 12, message } => {
            assert_eq!(
                message.as_deref(),
                Some("no randomness: not_permitted (-7)")
            );
        }
        other => panic!("{other:?}"),
    }
    Ok(())
}
