//! Host and usage errors: never a JSON object claiming a plugin outcome.

use anyhow::Result;

use crate::{ECHO, Sandbox};

#[test]
fn an_unreadable_module_is_a_host_error() -> Result<()> {
    let sb = Sandbox::new()?;
    for command in [
        &["run", "missing.wasm", "echo", "--json"][..],
        &["run", "missing.wasm", "echo"][..],
        &["inspect", "missing.wasm", "--json"][..],
        &["bench", "missing.wasm", "echo", "-n", "1", "--json"][..],
    ] {
        let out = sb.run(command)?;
        assert_eq!(out.code, 1, "{command:?}");
        assert_eq!(out.stdout, b"", "{command:?}");
        assert!(
            out.stderr
                .starts_with("error: cannot read module `missing.wasm`: "),
            "{}",
            out.stderr
        );
    }
    // A directory is not a readable module either.
    std::fs::create_dir(sb.dir.path().join("dir.wasm"))?;
    let out = sb.run(&["run", "dir.wasm", "echo", "--json"])?;
    assert_eq!(out.code, 1);
    assert_eq!(out.stdout, b"");
    Ok(())
}

#[test]
fn an_unreadable_input_is_a_host_error() -> Result<()> {
    let sb = Sandbox::with("echo.wat", ECHO)?;
    let out = sb.run(&["run", "echo.wat", "echo", "--input", "nope.bin", "--json"])?;
    assert_eq!(out.code, 1);
    assert_eq!(out.stdout, b"");
    assert!(
        out.stderr
            .starts_with("error: cannot read input `nope.bin`: "),
        "{}",
        out.stderr
    );
    Ok(())
}

#[test]
fn bad_arguments_are_usage_errors() -> Result<()> {
    let sb = Sandbox::with("echo.wat", ECHO)?;
    for command in [
        &["run", "echo.wat"][..],
        &["run", "echo.wat", "echo", "--fuel", "lots"][..],
        &["bench", "echo.wat", "echo", "-n", "0"][..],
        &["frobnicate"][..],
    ] {
        let out = sb.run(command)?;
        assert_eq!(out.code, 2, "{command:?}");
        assert_eq!(out.stdout, b"", "{command:?}");
        assert!(out.stderr.starts_with("error: "), "{}", out.stderr);
    }
    // No command at all: the usage, on stderr.
    let out = sb.run(&[])?;
    assert_eq!(out.code, 2);
    assert_eq!(out.stdout, b"");
    assert!(
        out.stderr.contains("Usage: bitvault-plugin <COMMAND>"),
        "{}",
        out.stderr
    );
    Ok(())
}
