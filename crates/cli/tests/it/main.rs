//! Integration tests of the `bitvault-plugin` binary: each test writes inline
//! WAT fixtures to a temporary directory and runs the built binary there,
//! asserting its exit status, stdout and stderr. One module per concern.

mod bench;
mod errors;
mod grants;
mod inspect;
mod outcomes;
mod package;
mod run;
mod stdio;

use std::io::Write;
use std::process::{Command, Stdio};

use anyhow::{Context, Result, ensure};
use serde_json::Value;
use tempfile::TempDir;

/// An echo plugin: the response is the request.
const ECHO: &str = r#"
(module
  (import "bitvault_v1" "input_len" (func $input_len (result i32)))
  (import "bitvault_v1" "read_input" (func $read_input (param i32 i32 i32) (result i32)))
  (import "bitvault_v1" "write_output" (func $write_output (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "echo") (result i32) (local $n i32)
    (local.set $n (call $input_len))
    (if (i32.gt_u (local.get $n) (i32.const 65536)) (then (return (i32.const 1))))
    (drop (call $read_input (i32.const 0) (i32.const 0) (local.get $n)))
    (drop (call $write_output (i32.const 0) (local.get $n)))
    (i32.const 0)))
"#;

/// A temporary directory to hold fixtures, in which the binary runs.
struct Sandbox {
    dir: TempDir,
}

/// What one run of the binary did.
#[derive(Debug)]
struct Output {
    code: i32,
    stdout: Vec<u8>,
    stderr: String,
}

impl Sandbox {
    fn new() -> Result<Sandbox> {
        Ok(Sandbox {
            dir: tempfile::tempdir()?,
        })
    }

    /// A sandbox holding one fixture file.
    fn with(name: &str, contents: impl AsRef<[u8]>) -> Result<Sandbox> {
        let sandbox = Sandbox::new()?;
        sandbox.file(name, contents)?;
        Ok(sandbox)
    }

    fn file(&self, name: &str, contents: impl AsRef<[u8]>) -> Result<()> {
        std::fs::write(self.dir.path().join(name), contents)?;
        Ok(())
    }

    /// The path of a file in the sandbox.
    fn path(&self, name: &str) -> std::path::PathBuf {
        self.dir.path().join(name)
    }

    fn run(&self, args: &[&str]) -> Result<Output> {
        self.run_with_stdin(args, b"")
    }

    fn run_with_stdin(&self, args: &[&str], stdin: &[u8]) -> Result<Output> {
        let mut child = Command::new(env!("CARGO_BIN_EXE_bitvault-plugin"))
            .args(args)
            .current_dir(self.dir.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()?;
        child
            .stdin
            .take()
            .context("no stdin pipe")?
            .write_all(stdin)?;
        let out = child.wait_with_output()?;
        Ok(Output {
            code: out
                .status
                .code()
                .context("the binary was killed by a signal")?,
            stdout: out.stdout,
            stderr: String::from_utf8(out.stderr)?,
        })
    }
}

impl Output {
    /// Stdout parsed as exactly one JSON object.
    fn json(&self) -> Result<Value> {
        let text = std::str::from_utf8(&self.stdout)?;
        ensure!(
            text.ends_with('\n') && text.trim_end().lines().count() == 1,
            "not one JSON line: {text:?}"
        );
        let value: Value = serde_json::from_str(text)?;
        ensure!(value.is_object(), "not an object: {value}");
        Ok(value)
    }

    fn stdout(&self) -> Result<&str> {
        Ok(std::str::from_utf8(&self.stdout)?)
    }
}
