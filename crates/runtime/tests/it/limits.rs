//! Limits are bounded by the host's maxima, and compilers are selectable.

use anyhow::Result;
use bitvault_abi::{Grants, LimitPolicy, Limits};
use bitvault_runtime::{Compiler, InvokeError, Runtime, RuntimeConfig};

use crate::{ECHO, ctx, ctx_with, defaults};

#[test]
fn requested_limits_are_bounded_by_the_host_maxima() -> Result<()> {
    let mut config = RuntimeConfig::new();
    config.limits = LimitPolicy {
        max: Limits {
            fuel: 5_000,
            ..LimitPolicy::standard().max
        },
        ..LimitPolicy::standard()
    };
    let rt = Runtime::new(config)?;
    let p = rt.load(
        &wat::parse_str(
            r#"(module (func (export "spin") (result i32) (loop $l (br $l)) (i32.const 0)))"#,
        )?,
        &Grants::core(),
    )?;
    // The caller asks for far more fuel than the host allows.
    let out = p.invoke(
        "spin",
        Vec::new(),
        &ctx_with(Limits {
            fuel: u64::MAX,
            ..defaults()
        }),
    );
    assert_eq!(
        out.result.unwrap_err(),
        InvokeError::FuelExhausted { limit: 5_000 }
    );
    Ok(())
}

#[test]
fn singlepass_runs_the_same_plugins() -> Result<()> {
    let mut config = RuntimeConfig::new();
    config.compiler = Compiler::Singlepass;
    let rt = Runtime::new(config)?;
    let p = rt.load(&wat::parse_str(ECHO)?, &Grants::core())?;
    assert_eq!(
        p.invoke("echo", b"single".to_vec(), &ctx()).result?,
        b"single"
    );
    let spin = rt.load(
        &wat::parse_str(
            r#"(module (func (export "spin") (result i32) (loop $l (br $l)) (i32.const 0)))"#,
        )?,
        &Grants::core(),
    )?;
    let out = spin.invoke(
        "spin",
        Vec::new(),
        &ctx_with(Limits {
            fuel: 10_000,
            ..defaults()
        }),
    );
    assert_eq!(
        out.result.unwrap_err(),
        InvokeError::FuelExhausted { limit: 10_000 }
    );
    Ok(())
}
