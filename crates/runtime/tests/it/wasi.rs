//! The `wasi_snapshot_preview1` shim: every function links, stdout and
//! stderr reach the log, stdio mode serves the request and response, nothing
//! reaches files, sockets or the environment, bad pointers are errnos, and a
//! Rust program built for `wasm32-wasip1` runs under the core grants.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};
use bitvault_abi::{Grants, LimitName, Limits, LogGrant, LogLevel};
use bitvault_runtime::wasi::{COMMAND_EXPORT, Errno, NAMESPACE, WasiFn};
use bitvault_runtime::{
    DeniedImport, DenyReason, InvokeError, Link, LinkedFn, LoadError, OwnedLogRecord, Prepared,
    Runtime,
};

use crate::{assert_serves, ctx, ctx_logged, ctx_with, defaults, runtime};

fn load_with(rt: &Runtime, wat: &str, grants: &Grants) -> Result<Prepared> {
    Ok(rt.load(&wat::parse_str(wat)?, grants)?)
}

fn stdio() -> Grants {
    Grants {
        stdio: true,
        ..Grants::core()
    }
}

/// The response as little-endian `i32`s.
fn words(bytes: &[u8]) -> Vec<i32> {
    bytes
        .chunks_exact(4)
        .map(|c| i32::from_le_bytes(c.try_into().expect("4 bytes")))
        .collect()
}

fn u64_at(bytes: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(bytes[at..at + 8].try_into().expect("8 bytes"))
}

fn record(level: LogLevel, message: &str, invocation_id: u64) -> OwnedLogRecord {
    OwnedLogRecord {
        tenant: "tenant-a".into(),
        plugin: "plugin-x".into(),
        invocation_id,
        level,
        message: message.into(),
    }
}

/// A module importing every preview1 function, with its exact signature.
fn import_everything() -> String {
    let mut wat = crate::imports_wat(
        NAMESPACE,
        WasiFn::ALL.iter().map(|f| (f.name(), f.signature())),
    );
    wat.push_str("  (memory (export \"memory\") 1)\n");
    wat.push_str("  (func (export \"run\") (result i32) (i32.const 0)))\n");
    wat
}

#[test]
fn every_preview1_function_links_under_no_grants_at_all() -> Result<()> {
    let rt = runtime();
    let p = load_with(&rt, &import_everything(), &Grants::none())?;
    let expected: Vec<LinkedFn> = WasiFn::ALL.iter().copied().map(LinkedFn::Wasi).collect();
    let linked: Vec<LinkedFn> = p.linked().iter().filter_map(Link::host).collect();
    assert_eq!(linked, expected);
    assert_eq!(p.linked().len(), 46);
    // Instantiation checks each host function's type against the import.
    assert_eq!(p.invoke("run", Vec::new(), &ctx()).result?, b"");
    Ok(())
}

#[test]
fn unknown_and_mistyped_wasi_imports_are_refused_at_admission() -> Result<()> {
    let rt = runtime();
    let wasm = wat::parse_str(
        r#"
        (module
          (import "wasi_snapshot_preview1" "fd_open" (func (param i32) (result i32)))
          (import "wasi_snapshot_preview1" "fd_write" (func (param i32) (result i32)))
          (import "wasi_snapshot_preview1" "random_get" (func (param i32 i32) (result i32)))
          (import "wasi_unstable" "fd_write" (func (param i32 i32 i32 i32) (result i32))))
        "#,
    )?;
    let err = rt.load(&wasm, &Grants::core()).unwrap_err();
    assert_eq!(
        err,
        LoadError::CapabilityDenied {
            imports: vec![
                DeniedImport {
                    module: NAMESPACE.into(),
                    name: "fd_open".into(),
                    reason: DenyReason::Unknown,
                },
                DeniedImport {
                    module: NAMESPACE.into(),
                    name: "fd_write".into(),
                    reason: DenyReason::WrongSignature {
                        expected: "(i32, i32, i32, i32) -> i32".into(),
                        found: "(i32) -> i32".into(),
                    },
                },
                DeniedImport {
                    module: "wasi_unstable".into(),
                    name: "fd_write".into(),
                    reason: DenyReason::Unknown,
                },
            ]
        }
    );
    assert_eq!(err.kind().name(), "capability_denied");
    Ok(())
}

/// Writes "hello\nwor" and "ld\n" to stdout in one call with two iovecs,
/// "oops" (no newline) to stderr, and "x" to fd 5; the response is each
/// call's errno and `nwritten` (-1 where it was not written).
const STDOUT: &str = r#"
(module
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "bitvault_v1" "write_output" (func $out (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 256) "hello\nwor")
  (data (i32.const 272) "ld\n")
  (data (i32.const 288) "oops")
  (func $write (param $fd i32) (param $iovs i32) (param $n i32)
    (i32.store (i32.const 516) (i32.const -1))
    (i32.store (i32.const 512) (call $fd_write (local.get $fd) (local.get $iovs) (local.get $n) (i32.const 516)))
    (drop (call $out (i32.const 512) (i32.const 8))))
  (func (export "run") (result i32)
    ;; two iovecs at 0: (256, 9) and (272, 3)
    (i32.store (i32.const 0) (i32.const 256)) (i32.store (i32.const 4) (i32.const 9))
    (i32.store (i32.const 8) (i32.const 272)) (i32.store (i32.const 12) (i32.const 3))
    (call $write (i32.const 1) (i32.const 0) (i32.const 2))
    ;; one iovec at 16: (288, 4)
    (i32.store (i32.const 16) (i32.const 288)) (i32.store (i32.const 20) (i32.const 4))
    (call $write (i32.const 2) (i32.const 16) (i32.const 1))
    (call $write (i32.const 5) (i32.const 16) (i32.const 1))
    (call $write (i32.const 0) (i32.const 16) (i32.const 1))
    (i32.const 0)))
"#;

#[test]
fn stdout_and_stderr_lines_go_to_the_log() -> Result<()> {
    let rt = runtime();
    let p = load_with(&rt, STDOUT, &Grants::core())?;
    let (ctx, sink) = ctx_logged(defaults());
    let out = p.invoke("run", Vec::new(), &ctx);
    let id = out.invocation_id;
    assert_eq!(
        words(&out.result?),
        [0, 12, 0, 4, Errno::Badf.code(), -1, Errno::Badf.code(), -1]
    );
    assert_eq!(
        sink.take(),
        [
            record(LogLevel::Info, "hello", id),
            record(LogLevel::Info, "world", id),
            // No newline: delivered when the call ends.
            record(LogLevel::Warn, "oops", id),
        ]
    );
    assert_eq!(out.metrics.log_lines, 3);
    assert_eq!(out.metrics.log_bytes, 16);
    Ok(())
}

#[test]
fn without_log_stdout_is_accepted_and_dropped() -> Result<()> {
    let rt = runtime();
    let grants = Grants {
        log: None,
        ..Grants::core()
    };
    let p = load_with(&rt, STDOUT, &grants)?;
    let (ctx, sink) = ctx_logged(defaults());
    let out = p.invoke("run", Vec::new(), &ctx);
    assert_eq!(words(&out.result?)[..4], [0, 12, 0, 4]);
    assert_eq!(sink.take(), []);
    assert_eq!(out.metrics.log_lines, 0);
    assert_eq!(out.metrics.log_bytes, 0);
    Ok(())
}

#[test]
fn stdout_below_the_granted_level_is_counted_but_not_delivered() -> Result<()> {
    let rt = runtime();
    let grants = Grants {
        log: Some(LogGrant {
            min_level: LogLevel::Warn,
        }),
        ..Grants::core()
    };
    let p = load_with(&rt, STDOUT, &grants)?;
    let (ctx, sink) = ctx_logged(defaults());
    let out = p.invoke("run", Vec::new(), &ctx);
    let id = out.invocation_id;
    out.result?;
    assert_eq!(sink.take(), [record(LogLevel::Warn, "oops", id)]);
    assert_eq!(out.metrics.log_lines, 3);
    Ok(())
}

#[test]
fn stdout_counts_against_the_log_limits() -> Result<()> {
    let rt = runtime();
    let p = load_with(&rt, STDOUT, &Grants::core())?;
    let lines = Limits {
        log_lines: 1,
        ..defaults()
    };
    assert_eq!(
        p.invoke("run", Vec::new(), &ctx_with(lines))
            .result
            .unwrap_err(),
        InvokeError::LimitExceeded {
            limit: LimitName::LogLines,
            value: 1,
        }
    );
    let bytes = Limits {
        log_bytes: 11,
        ..defaults()
    };
    assert_eq!(
        p.invoke("run", Vec::new(), &ctx_with(bytes))
            .result
            .unwrap_err(),
        InvokeError::LimitExceeded {
            limit: LimitName::LogBytes,
            value: 11,
        }
    );
    assert_serves(&rt)
}

/// Calls functions of the shim and writes their errnos (and what they
/// wrote) as the response.
const PROBE: &str = r#"
(module
  (import "wasi_snapshot_preview1" "path_open" (func $path_open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_prestat_get" (func $fd_prestat_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_fdstat_get" (func $fd_fdstat_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_read" (func $fd_read (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_close" (func $fd_close (param i32) (result i32)))
  (import "wasi_snapshot_preview1" "sock_send" (func $sock_send (param i32 i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_raise" (func $proc_raise (param i32) (result i32)))
  (import "wasi_snapshot_preview1" "sched_yield" (func $sched_yield (result i32)))
  (import "wasi_snapshot_preview1" "random_get" (func $random_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "clock_time_get" (func $clock_time_get (param i32 i64 i32) (result i32)))
  (import "wasi_snapshot_preview1" "clock_res_get" (func $clock_res_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "args_sizes_get" (func $args_sizes_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "args_get" (func $args_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "environ_sizes_get" (func $environ_sizes_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "environ_get" (func $environ_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
  (import "bitvault_v1" "write_output" (func $out (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 100) "/etc/passwd")
  (func $emit (param $v i32)
    (i32.store (i32.const 60000) (local.get $v))
    (drop (call $out (i32.const 60000) (i32.const 4))))

  (func (export "files_and_sockets") (result i32)
    (call $emit (call $path_open (i32.const 3) (i32.const 0) (i32.const 100) (i32.const 11)
      (i32.const 0) (i64.const -1) (i64.const -1) (i32.const 0) (i32.const 200)))
    (call $emit (call $fd_prestat_get (i32.const 3) (i32.const 200)))
    (call $emit (call $fd_fdstat_get (i32.const 3) (i32.const 200)))
    (call $emit (call $fd_close (i32.const 1)))
    (call $emit (call $sock_send (i32.const 3) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 200)))
    (call $emit (call $proc_raise (i32.const 9)))
    (call $emit (call $sched_yield))
    (i32.const 0))

  ;; fdstat of fd 0, 1 and 2 (24 bytes each)
  (func (export "fdstat") (result i32)
    (call $emit (call $fd_fdstat_get (i32.const 0) (i32.const 1000)))
    (call $emit (call $fd_fdstat_get (i32.const 1) (i32.const 1024)))
    (call $emit (call $fd_fdstat_get (i32.const 2) (i32.const 1048)))
    (drop (call $out (i32.const 1000) (i32.const 72)))
    (i32.const 0))

  (func (export "random") (result i32)
    (call $emit (call $random_get (i32.const 1000) (i32.const 32)))
    (drop (call $out (i32.const 1000) (i32.const 32)))
    (i32.const 0))

  ;; realtime, monotonic, the realtime resolution, then the errno of the
  ;; process CPU-time clock
  (func (export "clocks") (result i32)
    (call $emit (call $clock_time_get (i32.const 0) (i64.const 1) (i32.const 1000)))
    (call $emit (call $clock_time_get (i32.const 1) (i64.const 1) (i32.const 1008)))
    (call $emit (call $clock_res_get (i32.const 0) (i32.const 1016)))
    (drop (call $out (i32.const 1000) (i32.const 24)))
    (call $emit (call $clock_time_get (i32.const 2) (i64.const 1) (i32.const 1000)))
    (i32.const 0))

  ;; the sizes land on memory filled with 0xff
  (func (export "sizes") (result i32)
    (memory.fill (i32.const 1000) (i32.const 255) (i32.const 16))
    (call $emit (call $args_sizes_get (i32.const 1000) (i32.const 1004)))
    (call $emit (call $environ_sizes_get (i32.const 1008) (i32.const 1012)))
    (call $emit (call $args_get (i32.const 2000) (i32.const 2100)))
    (call $emit (call $environ_get (i32.const 2000) (i32.const 2100)))
    (drop (call $out (i32.const 1000) (i32.const 16)))
    (i32.const 0))

  ;; fd 0 with one iovec (1000, 16); the errno, then nread
  (func (export "stdin") (result i32)
    (i32.store (i32.const 0) (i32.const 1000)) (i32.store (i32.const 4) (i32.const 16))
    (i32.store (i32.const 8) (i32.const -1))
    (call $emit (call $fd_read (i32.const 0) (i32.const 0) (i32.const 1) (i32.const 8)))
    (call $emit (i32.load (i32.const 8)))
    (i32.const 0))

  (func (export "bad_pointers") (result i32)
    ;; an iovec array running off the end of memory
    (call $emit (call $fd_write (i32.const 1) (i32.const 65532) (i32.const 1) (i32.const 8)))
    ;; an iovec whose buffer runs off the end
    (i32.store (i32.const 0) (i32.const 65530)) (i32.store (i32.const 4) (i32.const 100))
    (call $emit (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))
    ;; a buffer whose end wraps past 2^32
    (i32.store (i32.const 0) (i32.const -1)) (i32.store (i32.const 4) (i32.const 2))
    (call $emit (call $fd_write (i32.const 2) (i32.const 0) (i32.const 1) (i32.const 8)))
    ;; a good buffer, but `nwritten` out of bounds
    (i32.store (i32.const 0) (i32.const 100)) (i32.store (i32.const 4) (i32.const 1))
    (call $emit (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 65535)))
    ;; more iovecs than IOV_MAX
    (call $emit (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1025) (i32.const 8)))
    ;; fd_read into a buffer off the end
    (i32.store (i32.const 0) (i32.const 65535)) (i32.store (i32.const 4) (i32.const 2))
    (call $emit (call $fd_read (i32.const 0) (i32.const 0) (i32.const 1) (i32.const 8)))
    (call $emit (call $random_get (i32.const 65535) (i32.const 2)))
    (call $emit (call $clock_time_get (i32.const 0) (i64.const 1) (i32.const 65532)))
    (call $emit (call $args_sizes_get (i32.const 0) (i32.const 65534)))
    (call $emit (call $fd_fdstat_get (i32.const 1) (i32.const 65530)))
    (i32.const 0))

  (func (export "exit0") (result i32)
    (drop (call $out (i32.const 100) (i32.const 4)))
    (call $proc_exit (i32.const 0))
    (unreachable))

  (func (export "exit3") (result i32)
    (drop (call $out (i32.const 100) (i32.const 4)))
    (call $proc_exit (i32.const 3))
    (unreachable)))
"#;

#[test]
fn files_sockets_and_signals_are_not_capable() -> Result<()> {
    let rt = runtime();
    let p = load_with(&rt, PROBE, &Grants::core())?;
    let out = p.invoke("files_and_sockets", Vec::new(), &ctx());
    let notcapable = Errno::Notcapable.code();
    assert_eq!(notcapable, 76);
    assert_eq!(
        words(&out.result?),
        [
            notcapable,
            Errno::Badf.code(),
            Errno::Badf.code(),
            notcapable,
            notcapable,
            notcapable,
            0
        ]
    );
    Ok(())
}

#[test]
fn standard_descriptors_are_character_devices() -> Result<()> {
    let rt = runtime();
    let fdstat = |grants: &Grants| -> Result<Vec<u8>> {
        let p = load_with(&rt, PROBE, grants)?;
        Ok(p.invoke("fdstat", Vec::new(), &ctx()).result?)
    };
    // filetype u8 @0 (2: character device), flags u16 @2, rights_base u64
    // @8 (fd_read 1<<1, fd_write 1<<6, poll_fd_readwrite 1<<27),
    // rights_inheriting u64 @16.
    let read = (1 << 1) | (1 << 27);
    let write = (1 << 6) | (1 << 27);
    for (grants, stdin_rights) in [(Grants::core(), 0), (stdio(), read)] {
        let out = fdstat(&grants)?;
        assert_eq!(words(&out[..12]), [0, 0, 0]);
        let stats = &out[12..];
        for (i, rights) in [stdin_rights, write, write].into_iter().enumerate() {
            let stat = &stats[i * 24..(i + 1) * 24];
            assert_eq!(stat[0], 2);
            assert_eq!(u16::from_le_bytes([stat[2], stat[3]]), 0);
            assert_eq!(u64_at(stat, 8), rights, "fd {i}");
            assert_eq!(u64_at(stat, 16), 0);
        }
    }
    Ok(())
}

#[test]
fn random_get_fills_from_the_host_csprng() -> Result<()> {
    let rt = runtime();
    let p = load_with(&rt, PROBE, &Grants::core())?;
    let a = p.invoke("random", Vec::new(), &ctx()).result?;
    let b = p.invoke("random", Vec::new(), &ctx()).result?;
    assert_eq!(a.len(), 36);
    assert_eq!(words(&a[..4]), [0]);
    assert_ne!(a[4..], [0u8; 32]);
    assert_ne!(a[4..], b[4..]);
    Ok(())
}

#[test]
fn clocks_read_in_whole_milliseconds() -> Result<()> {
    let rt = runtime();
    let p = load_with(&rt, PROBE, &Grants::core())?;
    let before = SystemTime::now().duration_since(UNIX_EPOCH)?.as_millis() as u64;
    let out = p.invoke("clocks", Vec::new(), &ctx()).result?;
    let after = SystemTime::now().duration_since(UNIX_EPOCH)?.as_millis() as u64;
    assert_eq!(words(&out[..12]), [0, 0, 0]);
    let (realtime, monotonic, resolution) = (u64_at(&out, 12), u64_at(&out, 20), u64_at(&out, 28));
    assert_eq!(realtime % 1_000_000, 0);
    assert!(
        (before * 1_000_000..=after * 1_000_000).contains(&realtime),
        "{before} <= {realtime} <= {after}"
    );
    // The monotonic clock starts at 1 ms when the invocation does.
    assert_eq!(monotonic % 1_000_000, 0);
    assert!(
        (1_000_000..1_000_000_000).contains(&monotonic),
        "{monotonic}"
    );
    assert_eq!(resolution, 1_000_000);
    assert_eq!(words(&out[36..]), [Errno::Inval.code()]);
    Ok(())
}

#[test]
fn withheld_clock_and_randomness_answer_not_capable() -> Result<()> {
    let rt = runtime();
    let grants = Grants {
        clock: false,
        random: false,
        ..Grants::core()
    };
    let p = load_with(&rt, PROBE, &grants)?;
    let notcapable = Errno::Notcapable.code();
    let random = p.invoke("random", Vec::new(), &ctx()).result?;
    assert_eq!(words(&random[..4]), [notcapable]);
    let clocks = p.invoke("clocks", Vec::new(), &ctx()).result?;
    assert_eq!(words(&clocks[..12]), [notcapable; 3]);
    Ok(())
}

#[test]
fn args_and_environment_are_empty() -> Result<()> {
    let rt = runtime();
    let p = load_with(&rt, PROBE, &Grants::core())?;
    let out = p.invoke("sizes", Vec::new(), &ctx()).result?;
    assert_eq!(words(&out), [0, 0, 0, 0, 0, 0, 0, 0]);
    Ok(())
}

#[test]
fn bad_pointers_answer_efault_and_never_trap() -> Result<()> {
    let rt = runtime();
    let p = load_with(&rt, PROBE, &stdio())?;
    let (ctx, sink) = ctx_logged(defaults());
    let out = p.invoke("bad_pointers", b"request".to_vec(), &ctx);
    let fault = Errno::Fault.code();
    assert_eq!(fault, 21);
    assert_eq!(
        words(&out.result?),
        [
            fault,
            fault,
            fault,
            fault,
            Errno::Inval.code(),
            fault,
            fault,
            fault,
            fault,
            fault
        ]
    );
    assert_eq!(sink.take(), []);
    assert_serves(&rt)
}

#[test]
fn without_stdio_mode_fd_0_is_a_bad_descriptor() -> Result<()> {
    let rt = runtime();
    let p = load_with(&rt, PROBE, &Grants::core())?;
    let out = p.invoke("stdin", b"request".to_vec(), &ctx());
    assert_eq!(words(&out.result?), [Errno::Badf.code(), -1]);
    let p = load_with(&rt, PROBE, &stdio())?;
    let out = p.invoke("stdin", b"request".to_vec(), &ctx());
    let got = out.result?;
    assert_eq!(words(&got), [0, 7]);
    Ok(())
}

#[test]
fn proc_exit_ends_the_call_with_its_code() -> Result<()> {
    let rt = runtime();
    let p = load_with(&rt, PROBE, &Grants::core())?;
    // 0 is success: the output so far is the response.
    assert_eq!(p.invoke("exit0", Vec::new(), &ctx()).result?, b"/etc");
    assert_eq!(
        p.invoke("exit3", Vec::new(), &ctx()).result.unwrap_err(),
        InvokeError::PluginError {
            code: 3,
            message: None
        }
    );
    assert_serves(&rt)
}

#[test]
fn a_command_that_exits_0_succeeds_and_an_exit_in_the_start_function_ends_the_call() -> Result<()> {
    let rt = runtime();
    let p = load_with(
        &rt,
        r#"
        (module
          (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
          (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
          (memory (export "memory") 1)
          (data (i32.const 0) "\10\00\00\00\07\00\00\00")  ;; one iovec: (16, 7)
          (data (i32.const 16) "partial")
          (func (export "_start")
            (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))
            (call $proc_exit (i32.const 0))
            (unreachable)))
        "#,
        &stdio(),
    )?;
    assert_eq!(
        p.invoke(COMMAND_EXPORT, Vec::new(), &ctx()).result?,
        b"partial"
    );

    // An exit in the start function ends the call with its code, as it
    // would end a process: the export does not run.
    let p = load_with(
        &rt,
        r#"
        (module
          (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
          (func $start (call $proc_exit (i32.const 4)))
          (start $start)
          (func (export "run") (result i32) (i32.const 0)))
        "#,
        &Grants::none(),
    )?;
    assert_eq!(
        p.invoke("run", Vec::new(), &ctx()).result.unwrap_err(),
        InvokeError::PluginError {
            code: 4,
            message: None
        }
    );
    Ok(())
}

/// A command: `_start` copies fd 0 to fd 1 through a 7-byte buffer, then
/// says so on fd 2.
const ECHO_COMMAND: &str = r#"
(module
  (import "wasi_snapshot_preview1" "fd_read" (func $fd_read (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
  (memory (export "memory") 1)
  (data (i32.const 2048) "echoed\n")
  (func (export "_start") (local $n i32) (local $errno i32)
    (i32.store (i32.const 0) (i32.const 1024))
    (i32.store (i32.const 4) (i32.const 7))
    (block $done
      (loop $copy
        (local.set $errno (call $fd_read (i32.const 0) (i32.const 0) (i32.const 1) (i32.const 8)))
        (if (local.get $errno) (then (call $proc_exit (i32.add (i32.const 100) (local.get $errno)))))
        (local.set $n (i32.load (i32.const 8)))
        (br_if $done (i32.eqz (local.get $n)))
        (i32.store (i32.const 16) (i32.const 1024))
        (i32.store (i32.const 20) (local.get $n))
        (drop (call $fd_write (i32.const 1) (i32.const 16) (i32.const 1) (i32.const 24)))
        (br $copy)))
    (i32.store (i32.const 16) (i32.const 2048))
    (i32.store (i32.const 20) (i32.const 7))
    (drop (call $fd_write (i32.const 2) (i32.const 16) (i32.const 1) (i32.const 24))))
  (func (export "finish") (call $proc_exit (i32.const 0))))
"#;

#[test]
fn a_command_in_stdio_mode_echoes_its_request() -> Result<()> {
    let rt = runtime();
    let p = load_with(&rt, ECHO_COMMAND, &stdio())?;
    let (ctx, sink) = ctx_logged(defaults());
    let request = b"hello, stdio world: longer than one buffer".to_vec();
    let out = p.invoke(COMMAND_EXPORT, request.clone(), &ctx);
    let id = out.invocation_id;
    assert_eq!(out.result?, request);
    assert_eq!(out.metrics.output_bytes, request.len() as u64);
    assert_eq!(sink.take(), [record(LogLevel::Warn, "echoed", id)]);

    // An empty request is an empty response.
    assert_eq!(p.invoke(COMMAND_EXPORT, Vec::new(), &ctx).result?, b"");
    Ok(())
}

#[test]
fn a_command_without_stdio_mode_reads_ebadf() -> Result<()> {
    let rt = runtime();
    let p = load_with(&rt, ECHO_COMMAND, &Grants::core())?;
    assert_eq!(
        p.invoke(COMMAND_EXPORT, b"hello".to_vec(), &ctx())
            .result
            .unwrap_err(),
        InvokeError::PluginError {
            code: 100 + Errno::Badf.code(),
            message: None
        }
    );
    Ok(())
}

#[test]
fn stdout_in_stdio_mode_is_bounded_by_the_output_limit() -> Result<()> {
    let rt = runtime();
    let p = load_with(&rt, ECHO_COMMAND, &stdio())?;
    let limits = Limits {
        output_bytes: 10,
        ..defaults()
    };
    assert_eq!(
        p.invoke(
            COMMAND_EXPORT,
            b"hello, stdio world".to_vec(),
            &ctx_with(limits)
        )
        .result
        .unwrap_err(),
        InvokeError::OutputLimit {
            limit: 10,
            attempted: 14
        }
    );
    assert_serves(&rt)
}

#[test]
fn only_start_is_invocable_as_a_command() -> Result<()> {
    let rt = runtime();
    let p = load_with(&rt, ECHO_COMMAND, &stdio())?;
    // `finish` is `() -> ()` but not `_start`: not invocable.
    assert_eq!(
        p.invoke("finish", Vec::new(), &ctx()).result.unwrap_err(),
        InvokeError::MissingExport {
            export: "finish".into(),
            found: Some("a function () -> ()".into()),
        }
    );
    let typed = load_with(
        &rt,
        r#"(module (func (export "_start") (param i32)))"#,
        &Grants::core(),
    )?;
    let err = typed
        .invoke(COMMAND_EXPORT, Vec::new(), &ctx())
        .result
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "export `_start` is a function (i32) -> (), expected a function () -> () or () -> i32"
    );
    Ok(())
}

#[test]
fn clock_sleeps_are_served_within_the_deadline() -> Result<()> {
    let rt = runtime();
    let p = load_with(
        &rt,
        r#"
        (module
          (import "wasi_snapshot_preview1" "poll_oneoff" (func $poll (param i32 i32 i32 i32) (result i32)))
          (import "bitvault_v1" "write_output" (func $out (param i32 i32) (result i32)))
          (memory (export "memory") 1)
          (func $subscribe (param $tag i32) (param $ns i64)
            (memory.fill (i32.const 0) (i32.const 0) (i32.const 48))
            (i64.store (i32.const 0) (i64.const 0x1234))  ;; userdata
            (i32.store8 (i32.const 8) (local.get $tag))   ;; 0 clock, 1 fd_read
            (i32.store (i32.const 16) (i32.const 1))       ;; monotonic
            (i64.store (i32.const 24) (local.get $ns)))    ;; relative timeout
          (func $poll_once (result i32)
            (i32.store (i32.const 200) (call $poll (i32.const 0) (i32.const 100) (i32.const 1) (i32.const 204)))
            (call $out (i32.const 200) (i32.const 8)))
          (func (export "sleep") (result i32)
            (call $subscribe (i32.const 0) (i64.const 5000000))
            (drop (call $poll_once))
            ;; the event: userdata, error, type
            (call $out (i32.const 100) (i32.const 12)))
          (func (export "read") (result i32)
            (call $subscribe (i32.const 1) (i64.const 0))
            (call $poll_once))
          (func (export "oversleep") (result i32)
            (call $subscribe (i32.const 0) (i64.const 10000000000))
            (call $poll_once)))
        "#,
        &Grants::core(),
    )?;
    let started = Instant::now();
    let out = p.invoke("sleep", Vec::new(), &ctx()).result?;
    assert!(started.elapsed() >= Duration::from_millis(5));
    assert_eq!(words(&out[..8]), [0, 1]);
    assert_eq!(u64_at(&out, 8), 0x1234);
    assert_eq!(out[16..20], [0, 0, 0, 0]);

    let out = p.invoke("read", Vec::new(), &ctx()).result?;
    assert_eq!(words(&out[..4]), [Errno::Notcapable.code()]);

    // Ten seconds cannot fit in a 200 ms deadline: the call ends at once.
    let limits = Limits {
        deadline_ms: 200,
        ..defaults()
    };
    let out = p.invoke("oversleep", Vec::new(), &ctx_with(limits));
    assert_eq!(
        out.result.unwrap_err(),
        InvokeError::Deadline { deadline_ms: 200 }
    );
    assert!(
        out.metrics.wall < Duration::from_millis(200),
        "{:?}",
        out.metrics.wall
    );
    Ok(())
}

// A real toolchain: `tests/wasi-hello`, Rust's std for wasm32-wasip1.

const TARGET: &str = "wasm32-wasip1";

fn build_wasi_hello() -> Result<Vec<u8>> {
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let project = manifest_dir.join("tests/wasi-hello");
    let target_dir: PathBuf = manifest_dir.join("../../target/wasi-hello");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let output = Command::new(&cargo)
        .args(["build", "--release", "--quiet", "--target", TARGET])
        .arg("--manifest-path")
        .arg(project.join("Cargo.toml"))
        .arg("--target-dir")
        .arg(&target_dir)
        // Flags meant for the host build do not apply to a wasm target.
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("CARGO_BUILD_RUSTFLAGS")
        .env_remove("CARGO_BUILD_TARGET")
        .output()
        .with_context(|| format!("cannot run `{}`", Path::new(&cargo).display()))?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        if stderr.contains("may not be installed") || stderr.contains("can't find crate for `std`")
        {
            bail!(
                "the {TARGET} target is not installed; add it with \
                 `rustup target add {TARGET}`:\n{}",
                stderr.trim()
            );
        }
        bail!(
            "building {} for {TARGET} failed ({}):\n{}",
            project.display(),
            output.status,
            stderr.trim()
        );
    }
    let wasm = target_dir.join(TARGET).join("release/wasi-hello.wasm");
    std::fs::read(&wasm).with_context(|| format!("cannot read {}", wasm.display()))
}

/// The program, built once per test binary.
fn wasi_hello() -> Result<&'static [u8]> {
    static WASM: OnceLock<Result<Vec<u8>, String>> = OnceLock::new();
    match WASM.get_or_init(|| build_wasi_hello().map_err(|e| format!("{e:#}"))) {
        Ok(wasm) => Ok(wasm),
        Err(e) => bail!("{e}"),
    }
}

#[test]
fn a_rust_wasip1_program_runs_under_the_core_grants() -> Result<()> {
    let wasm = wasi_hello()?;
    let rt = runtime();
    let report = rt.inspect(wasm)?;
    assert_eq!(report.namespaces(), [NAMESPACE]);

    // Stdio mode: the request is stdin, the response stdout, stderr the log.
    let p = rt.load(wasm, &stdio())?;
    let (ctx, sink) = ctx_logged(defaults());
    let out = p.invoke(
        COMMAND_EXPORT,
        b"the cat saw the dog\nthe end".to_vec(),
        &ctx,
    );
    let id = out.invocation_id;
    assert_eq!(
        String::from_utf8(out.result?)?,
        "the 3\ncat 1\ndog 1\nend 1\nsaw 1\n"
    );
    assert_eq!(
        sink.take(),
        [record(LogLevel::Warn, "5 distinct words", id)]
    );

    // `std::process::exit(3)` is the plugin's error code.
    assert_eq!(
        p.invoke(COMMAND_EXPORT, b"exit 3".to_vec(), &ctx)
            .result
            .unwrap_err(),
        InvokeError::PluginError {
            code: 3,
            message: None
        }
    );

    // The core grants alone: stdin is empty and stdout is the log.
    let p = rt.load(wasm, &Grants::core())?;
    let out = p.invoke(COMMAND_EXPORT, b"ignored".to_vec(), &ctx);
    let id = out.invocation_id;
    assert_eq!(out.result?, b"");
    assert_eq!(
        sink.take(),
        [record(LogLevel::Info, "hello from wasm32-wasip1", id)]
    );
    Ok(())
}

/// An AssemblyScript-style string: its byte length in the `u32` before it,
/// then UTF-16LE code units, as WAT data at `at` (the length at `at - 4`).
fn as_string(at: u32, text: &str) -> String {
    let units: Vec<u8> = text.encode_utf16().flat_map(u16::to_le_bytes).collect();
    let mut bytes = (units.len() as u32).to_le_bytes().to_vec();
    bytes.extend_from_slice(&units);
    let escaped: String = bytes.iter().map(|b| format!("\\{b:02x}")).collect();
    format!("(data (i32.const {}) \"{escaped}\")", at - 4)
}

#[test]
fn assemblyscript_abort_ends_the_call_with_its_message() -> Result<()> {
    let rt = runtime();
    let wat = format!(
        r#"(module
          (import "env" "abort" (func $abort (param i32 i32 i32 i32)))
          (memory (export "memory") 1)
          {}
          {}
          (func (export "fail") (result i32)
            (call $abort (i32.const 64) (i32.const 256) (i32.const 12) (i32.const 5))
            (i32.const 0))
          (func (export "fail_bad_pointers") (result i32)
            (call $abort (i32.const -2) (i32.const 0) (i32.const 1) (i32.const 1))
            (i32.const 0)))"#,
        as_string(64, "index out of range ✗"),
        as_string(256, "assembly/index.ts"),
    );
    // It links under no grant at all.
    let p = load_with(&rt, &wat, &Grants::none())?;
    match p.invoke("fail", Vec::new(), &ctx()).result {
        Err(InvokeError::Trap(t)) => {
            assert_eq!(t.code.as_deref(), Some("abort"));
            assert_eq!(
                t.message,
                "abort: index out of range ✗ at assembly/index.ts:12:5"
            );
        }
        other => bail!("expected an abort trap, got {other:?}"),
    }
    // Pointers outside memory, or null, still end the call cleanly.
    match p.invoke("fail_bad_pointers", Vec::new(), &ctx()).result {
        Err(InvokeError::Trap(t)) => assert_eq!(t.message, "abort: (no message)"),
        other => bail!("expected an abort trap, got {other:?}"),
    }
    // Another signature is refused at admission.
    let wrong = r#"(module (import "env" "abort" (func (param i32))))"#;
    match rt.load(&wat::parse_str(wrong)?, &Grants::core()) {
        Err(LoadError::CapabilityDenied { imports }) => {
            assert!(matches!(
                imports[0].reason,
                DenyReason::WrongSignature { .. }
            ));
        }
        other => bail!("expected a refusal, got {other:?}"),
    }
    Ok(())
}
