//! The compiled-module caches, and that a forged or corrupted artifact is
//! recompiled, never loaded.

use std::fs;

use anyhow::Result;
use bitvault_abi::Grants;
use bitvault_runtime::{
    CacheKey, CacheOrigin, DiskCache, Rejection, Runtime, RuntimeConfig, sha256,
};

use crate::{ECHO, ctx};

fn disk_runtime(dir: &std::path::Path, key: CacheKey) -> Result<Runtime> {
    let mut config = RuntimeConfig::new();
    config.disk_cache = Some(DiskCache {
        dir: dir.to_path_buf(),
        key,
    });
    Ok(Runtime::new(config)?)
}

fn origin_after_restart(dir: &std::path::Path, key: CacheKey, wasm: &[u8]) -> Result<CacheOrigin> {
    // A new runtime has an empty memory cache, like a restarted host.
    let rt = disk_runtime(dir, key)?;
    let p = rt.load(wasm, &Grants::core())?;
    // Whatever its origin, the module must work.
    assert_eq!(p.invoke("echo", b"ok".to_vec(), &ctx()).result?, b"ok");
    Ok(p.module().origin())
}

#[test]
fn artifacts_are_reused_and_forgeries_recompiled() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let key = CacheKey::new([7; 32]);
    let wasm = wat::parse_str(ECHO)?;
    let digest = sha256(&wasm);

    assert_eq!(
        origin_after_restart(dir.path(), key.clone(), &wasm)?,
        CacheOrigin::Compiled
    );
    assert_eq!(
        origin_after_restart(dir.path(), key.clone(), &wasm)?,
        CacheOrigin::Disk
    );

    let rt = disk_runtime(dir.path(), key.clone())?;
    let path = rt.artifact_path(&digest).expect("disk cache");
    let good = fs::read(&path)?;

    // One flipped payload byte: the MAC fails.
    let mut flipped = good.clone();
    flipped[good.len() / 2] ^= 1;
    fs::write(&path, &flipped)?;
    assert_eq!(
        origin_after_restart(dir.path(), key.clone(), &wasm)?,
        CacheOrigin::Recompiled(Rejection::BadMac)
    );
    // ... and the artifact was rewritten, so the next start loads it.
    assert_eq!(
        origin_after_restart(dir.path(), key.clone(), &wasm)?,
        CacheOrigin::Disk
    );

    // Truncated.
    fs::write(&path, &good[..good.len() / 3])?;
    assert_eq!(
        origin_after_restart(dir.path(), key.clone(), &wasm)?,
        CacheOrigin::Recompiled(Rejection::BadMac)
    );
    fs::write(&path, &good[..10])?;
    assert_eq!(
        origin_after_restart(dir.path(), key.clone(), &wasm)?,
        CacheOrigin::Recompiled(Rejection::Truncated)
    );

    // Written by another host (another key): not trusted.
    fs::write(&path, &good)?;
    assert_eq!(
        origin_after_restart(dir.path(), CacheKey::new([8; 32]), &wasm)?,
        CacheOrigin::Recompiled(Rejection::BadMac)
    );

    // An attacker's own artifact, correctly framed but with a MAC under a
    // key they made up, planted under the right name.
    let mut forged = good.clone();
    let n = forged.len();
    forged[n - 32..].copy_from_slice(&[0xAA; 32]);
    fs::write(&path, &forged)?;
    assert_eq!(
        origin_after_restart(dir.path(), key.clone(), &wasm)?,
        CacheOrigin::Recompiled(Rejection::BadMac)
    );
    Ok(())
}

#[test]
fn an_authentic_artifact_of_another_module_is_not_loaded() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let key = CacheKey::new([9; 32]);
    let echo = wat::parse_str(ECHO)?;
    let other = wat::parse_str(
        r#"(module (memory (export "memory") 1) (func (export "echo") (result i32) (i32.const 5)))"#,
    )?;
    let rt = disk_runtime(dir.path(), key.clone())?;
    rt.load(&other, &Grants::core())?;
    let other_path = rt.artifact_path(&sha256(&other)).unwrap();
    let echo_path = rt.artifact_path(&sha256(&echo)).unwrap();
    // Swap in the other module's (authentic) artifact under echo's name.
    fs::copy(&other_path, &echo_path)?;
    assert_eq!(
        origin_after_restart(dir.path(), key, &echo)?,
        CacheOrigin::Recompiled(Rejection::OtherModule)
    );
    Ok(())
}

#[test]
fn the_memory_cache_shares_one_compiled_module() -> Result<()> {
    let rt = crate::runtime();
    let wasm = wat::parse_str(ECHO)?;
    let a = rt.load(&wasm, &Grants::core())?;
    let b = rt.load(&wasm, &Grants::core())?;
    assert!(std::sync::Arc::ptr_eq(a.module(), b.module()));
    rt.evict(&sha256(&wasm));
    let c = rt.load(&wasm, &Grants::core())?;
    assert!(!std::sync::Arc::ptr_eq(a.module(), c.module()));
    // The evicted module keeps serving the Prepared made from it.
    assert_eq!(a.invoke("echo", b"x".to_vec(), &ctx()).result?, b"x");
    Ok(())
}
