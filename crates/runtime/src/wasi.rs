//! The `wasi_snapshot_preview1` shim: every preview1 function is linkable,
//! and none gives ambient authority.
//!
//! Mainstream toolchains (Rust's `wasm32-wasip1`, wasi-libc for C and C++,
//! Go's `GOOS=wasip1`, TinyGo, Zig) import preview1 functions even for code
//! that never touches a file. The shim lets their modules load and run under
//! the same grants as the native ABI:
//!
//! - `fd_write` on fd 1 (stdout) and 2 (stderr) goes to the plugin's log, a
//!   line per message (level `info` for stdout, `warn` for stderr), counted
//!   against `log_lines` and `log_bytes` like `log`; without the `log` grant
//!   the bytes are accepted and dropped.
//! - In **stdio mode** (`Grants::stdio`) fd 0 reads the invocation's request
//!   and fd 1 appends to its response, so a command module's `_start`
//!   ([`COMMAND_EXPORT`]) can be a plugin.
//! - `random_get` and the clocks follow the `random` and `clock` grants;
//!   withheld, they answer [`Errno::Notcapable`].
//! - `proc_exit` ends the call with its code; `args_*` and `environ_*` report
//!   nothing; there are no preopened directories.
//! - Every filesystem and socket function answers [`Errno::Notcapable`].
//!
//! Each function here counts against `host_calls`, checks the deadline and
//! contains panics exactly like the native functions, and reaches guest
//! memory only through the crate's bounds-checked `guest_mem` module: a bad
//! pointer answers [`Errno::Fault`] and never traps. `docs/abi.md` §13 is the
//! normative description.

use std::fmt;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bitvault_abi::{LimitName, LogLevel, Signature, ValType};
use wasmer::{Function, FunctionEnv, FunctionEnvMut, MemoryView, Store};

use crate::guest_mem;
use crate::host::{HostResult, HostState, LogRecord, Tags, Termination, guarded};

/// The import module of the shim.
pub const NAMESPACE: &str = "wasi_snapshot_preview1";

/// The export of a WASI command module (`() -> ()`), invocable like an entry
/// point: returning from it, or calling `proc_exit(0)`, is success.
pub const COMMAND_EXPORT: &str = "_start";

/// The most iovecs one `fd_read` or `fd_write` call may pass (POSIX's
/// `IOV_MAX`, as in wasi-libc); more answer [`Errno::Inval`].
pub const IOV_MAX: u32 = 1024;

/// The preview1 error numbers the shim answers with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u16)]
pub enum Errno {
    /// No error (0).
    Success = 0,
    /// Bad file descriptor (8): an fd other than 0, 1 and 2, fd 0 outside
    /// stdio mode, or a descriptor used against its direction.
    Badf = 8,
    /// Bad address (21): a pointer or `(ptr, len)` pair outside linear
    /// memory, or no exported memory at all.
    Fault = 21,
    /// Invalid argument (28): an unknown clock, more than [`IOV_MAX`]
    /// iovecs, buffers totalling 4 GiB or more, or no subscriptions.
    Inval = 28,
    /// Capabilities insufficient (76): every filesystem and socket function,
    /// `proc_raise`, `poll_oneoff` on anything but clocks, and clocks or
    /// randomness withheld by the grants.
    Notcapable = 76,
}

impl Errno {
    /// The value returned to the guest.
    pub const fn code(self) -> i32 {
        self as i32
    }

    /// The preview1 name (`badf`, `fault`, …).
    pub const fn name(self) -> &'static str {
        match self {
            Errno::Success => "success",
            Errno::Badf => "badf",
            Errno::Fault => "fault",
            Errno::Inval => "inval",
            Errno::Notcapable => "notcapable",
        }
    }
}

impl fmt::Display for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.name(), self.code())
    }
}

use ValType::{I32, I64};

/// Declares [`WasiFn`]: each variant with its import name, exact preview1
/// signature and one line of documentation, in one table.
macro_rules! wasi_functions {
    ($($variant:ident $name:literal ($($p:ident),*) -> ($($r:ident),*) $doc:literal;)*) => {
        /// Every function of `wasi_snapshot_preview1`, with its exact
        /// signature. All are linked for any grant set; what each may do is
        /// decided when it is called.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum WasiFn {
            $(#[doc = $doc] $variant,)*
        }

        impl WasiFn {
            /// Every preview1 function, in the order of the preview1
            /// specification.
            pub const ALL: &'static [WasiFn] = &[$(WasiFn::$variant,)*];

            /// The import name inside [`NAMESPACE`].
            pub const fn name(self) -> &'static str {
                match self {
                    $(WasiFn::$variant => $name,)*
                }
            }

            /// The exact signature a module must import the function with.
            pub const fn signature(self) -> Signature {
                match self {
                    $(WasiFn::$variant => Signature {
                        params: &[$($p),*],
                        results: &[$($r),*],
                    },)*
                }
            }
        }
    };
}

wasi_functions! {
    ArgsGet "args_get" (I32, I32) -> (I32) "Writes nothing: there are no arguments.";
    ArgsSizesGet "args_sizes_get" (I32, I32) -> (I32) "Reports zero arguments of zero bytes.";
    EnvironGet "environ_get" (I32, I32) -> (I32) "Writes nothing: the environment is empty.";
    EnvironSizesGet "environ_sizes_get" (I32, I32) -> (I32) "Reports zero variables of zero bytes.";
    ClockResGet "clock_res_get" (I32, I32) -> (I32) "1 ms for the realtime and monotonic clocks (grant `clock`).";
    ClockTimeGet "clock_time_get" (I32, I64, I32) -> (I32) "The realtime or monotonic time in ns, coarsened to 1 ms (grant `clock`).";
    FdAdvise "fd_advise" (I32, I64, I64, I32) -> (I32) "Not capable.";
    FdAllocate "fd_allocate" (I32, I64, I64) -> (I32) "Not capable.";
    FdClose "fd_close" (I32) -> (I32) "Not capable.";
    FdDatasync "fd_datasync" (I32) -> (I32) "Not capable.";
    FdFdstatGet "fd_fdstat_get" (I32, I32) -> (I32) "Character devices for fds 0, 1 and 2; `badf` for any other.";
    FdFdstatSetFlags "fd_fdstat_set_flags" (I32, I32) -> (I32) "Not capable.";
    FdFdstatSetRights "fd_fdstat_set_rights" (I32, I64, I64) -> (I32) "Not capable.";
    FdFilestatGet "fd_filestat_get" (I32, I32) -> (I32) "Not capable.";
    FdFilestatSetSize "fd_filestat_set_size" (I32, I64) -> (I32) "Not capable.";
    FdFilestatSetTimes "fd_filestat_set_times" (I32, I64, I64, I32) -> (I32) "Not capable.";
    FdPread "fd_pread" (I32, I32, I32, I64, I32) -> (I32) "Not capable.";
    FdPrestatGet "fd_prestat_get" (I32, I32) -> (I32) "`badf` for every fd: there are no preopened directories.";
    FdPrestatDirName "fd_prestat_dir_name" (I32, I32, I32) -> (I32) "`badf` for every fd: there are no preopened directories.";
    FdPwrite "fd_pwrite" (I32, I32, I32, I64, I32) -> (I32) "Not capable.";
    FdRead "fd_read" (I32, I32, I32, I32) -> (I32) "Reads the request on fd 0 in stdio mode; `badf` otherwise.";
    FdReaddir "fd_readdir" (I32, I32, I32, I64, I32) -> (I32) "Not capable.";
    FdRenumber "fd_renumber" (I32, I32) -> (I32) "Not capable.";
    FdSeek "fd_seek" (I32, I64, I32, I32) -> (I32) "Not capable.";
    FdSync "fd_sync" (I32) -> (I32) "Not capable.";
    FdTell "fd_tell" (I32, I32) -> (I32) "Not capable.";
    FdWrite "fd_write" (I32, I32, I32, I32) -> (I32) "Fd 1 and 2 to the log (fd 1 to the response in stdio mode); `badf` otherwise.";
    PathCreateDirectory "path_create_directory" (I32, I32, I32) -> (I32) "Not capable.";
    PathFilestatGet "path_filestat_get" (I32, I32, I32, I32, I32) -> (I32) "Not capable.";
    PathFilestatSetTimes "path_filestat_set_times" (I32, I32, I32, I32, I64, I64, I32) -> (I32) "Not capable.";
    PathLink "path_link" (I32, I32, I32, I32, I32, I32, I32) -> (I32) "Not capable.";
    PathOpen "path_open" (I32, I32, I32, I32, I32, I64, I64, I32, I32) -> (I32) "Not capable.";
    PathReadlink "path_readlink" (I32, I32, I32, I32, I32, I32) -> (I32) "Not capable.";
    PathRemoveDirectory "path_remove_directory" (I32, I32, I32) -> (I32) "Not capable.";
    PathRename "path_rename" (I32, I32, I32, I32, I32, I32) -> (I32) "Not capable.";
    PathSymlink "path_symlink" (I32, I32, I32, I32, I32) -> (I32) "Not capable.";
    PathUnlinkFile "path_unlink_file" (I32, I32, I32) -> (I32) "Not capable.";
    PollOneoff "poll_oneoff" (I32, I32, I32, I32) -> (I32) "Sleeps for clock subscriptions within the deadline (grant `clock`); not capable for others.";
    ProcExit "proc_exit" (I32) -> () "Ends the call with the exit code: 0 is success.";
    ProcRaise "proc_raise" (I32) -> (I32) "Not capable.";
    SchedYield "sched_yield" () -> (I32) "Succeeds at once.";
    RandomGet "random_get" (I32, I32) -> (I32) "Bytes from the host's CSPRNG (grant `random`).";
    SockAccept "sock_accept" (I32, I32, I32) -> (I32) "Not capable.";
    SockRecv "sock_recv" (I32, I32, I32, I32, I32, I32) -> (I32) "Not capable.";
    SockSend "sock_send" (I32, I32, I32, I32, I32) -> (I32) "Not capable.";
    SockShutdown "sock_shutdown" (I32, I32) -> (I32) "Not capable.";
}

impl WasiFn {
    /// The preview1 function imported as `module`.`name`, if there is one.
    pub fn lookup(module: &str, name: &str) -> Option<WasiFn> {
        if module != NAMESPACE {
            return None;
        }
        WasiFn::ALL.iter().copied().find(|f| f.name() == name)
    }
}

impl fmt::Display for WasiFn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{NAMESPACE}.{}", self.name())
    }
}

/// One line of fd 1 or fd 2 not yet ended by a newline.
#[derive(Debug, Default)]
struct Line {
    bytes: Vec<u8>,
    /// Whether a line has been started (and counted against `log_lines`),
    /// possibly still empty.
    open: bool,
}

/// The shim's part of one invocation's state. Building it allocates
/// nothing, so modules that do not import WASI pay nothing for it.
#[derive(Debug)]
pub(crate) struct WasiState {
    /// Stdio mode: fd 0 is the request, fd 1 the response.
    stdio: bool,
    /// Whether `log` is granted; without it fd 1 and fd 2 are dropped.
    log: bool,
    /// How many request bytes fd 0 has delivered.
    stdin_offset: usize,
    /// The unterminated lines of fd 1 (index 0) and fd 2 (index 1).
    lines: [Line; 2],
}

impl WasiState {
    pub(crate) fn new(stdio: bool, log: bool) -> WasiState {
        WasiState {
            stdio,
            log,
            stdin_offset: 0,
            lines: [Line::default(), Line::default()],
        }
    }
}

/// The log level of a standard stream's lines.
const STREAM_LEVELS: [LogLevel; 2] = [LogLevel::Info, LogLevel::Warn];

/// Delivers one finished line of a standard stream to the log sink, if its
/// level passes the grant's `min_level`. Lines are already counted.
fn deliver(tags: &Tags, level: LogLevel, bytes: &[u8]) {
    if level >= tags.min_level {
        let message = String::from_utf8_lossy(bytes);
        tags.sink.log(&LogRecord {
            tenant: &tags.tenant,
            plugin: &tags.plugin,
            invocation_id: tags.invocation_id,
            level,
            message: &message,
        });
    }
}

/// Delivers the unterminated lines of fd 1 and fd 2 at the end of the call.
pub(crate) fn flush(state: &mut HostState) {
    for (line, level) in state.wasi.lines.iter_mut().zip(STREAM_LEVELS) {
        if line.open {
            deliver(&state.tags, level, &line.bytes);
            line.open = false;
            line.bytes = Vec::new();
        }
    }
}

fn errno(e: Errno) -> HostResult {
    Ok(e.code())
}

/// Turns a guest-memory refusal into the errno the guest sees.
fn fault<T>(r: Result<T, bitvault_abi::ErrorCode>) -> Result<T, Errno> {
    r.map_err(|_| Errno::Fault)
}

/// Reads and checks an iovec array: every `(buf, len)` must lie in memory.
/// Returns the buffers and their total length.
fn iovecs(
    view: &MemoryView<'_>,
    iovs: i32,
    iovs_len: i32,
) -> Result<(Vec<(u32, u32)>, u32), Errno> {
    let count = iovs_len as u32;
    if count > IOV_MAX {
        return Err(Errno::Inval);
    }
    fault(guest_mem::check(iovs as u32, count * 8, view.data_size()))?;
    let mut bufs = Vec::with_capacity(count as usize);
    let mut total = 0u64;
    for i in 0..count {
        let at = (iovs as u32).checked_add(i * 8).ok_or(Errno::Fault)?;
        let raw: [u8; 8] = fault(guest_mem::read_array(view, at))?;
        let buf = u32::from_le_bytes([raw[0], raw[1], raw[2], raw[3]]);
        let len = u32::from_le_bytes([raw[4], raw[5], raw[6], raw[7]]);
        fault(guest_mem::check(buf, len, view.data_size()))?;
        total += u64::from(len);
        bufs.push((buf, len));
    }
    let total = u32::try_from(total).map_err(|_| Errno::Inval)?;
    Ok((bufs, total))
}

/// Checks that a 4- or 8-byte result pointer lies in memory.
fn check_out(view: &MemoryView<'_>, ptr: i32, len: u32) -> Result<(), Errno> {
    fault(guest_mem::check(ptr as u32, len, view.data_size())).map(drop)
}

/// Runs `body` with the guest memory view, or answers `fault` when the
/// module exports no memory.
fn with_memory(
    env: &mut FunctionEnvMut<'_, HostState>,
    body: impl FnOnce(&mut HostState, &MemoryView<'_>) -> Result<Result<(), Errno>, Termination>,
) -> HostResult {
    let (state, store) = env.data_and_store_mut();
    let Some(memory) = state.memory.clone() else {
        return errno(Errno::Fault);
    };
    let view = memory.view(&store);
    Ok(match body(state, &view)? {
        Ok(()) => Errno::Success.code(),
        Err(e) => e.code(),
    })
}

fn args_sizes_get(mut env: FunctionEnvMut<'_, HostState>, count: i32, size: i32) -> HostResult {
    guarded(&mut env, |env| {
        with_memory(env, |_, view| {
            Ok(check_out(view, count, 4)
                .and_then(|()| check_out(view, size, 4))
                .and_then(|()| fault(guest_mem::write_u32(view, count as u32, 0)))
                .and_then(|()| fault(guest_mem::write_u32(view, size as u32, 0))))
        })
    })
}

/// `args_get` and `environ_get`: there is nothing to write.
fn nothing_to_list(mut env: FunctionEnvMut<'_, HostState>, _: i32, _: i32) -> HostResult {
    guarded(&mut env, |_| errno(Errno::Success))
}

const NANOS_PER_MILLI: u64 = 1_000_000;

/// Where the monotonic clock starts: 1 ms, not 0, because some runtimes
/// (Go's) treat a zero monotonic reading as an unset clock.
const MONOTONIC_ORIGIN: Duration = Duration::from_millis(1);

/// A duration in nanoseconds, rounded down to whole milliseconds.
fn coarse(d: Duration) -> u64 {
    u64::try_from(d.as_millis())
        .unwrap_or(u64::MAX / NANOS_PER_MILLI)
        .saturating_mul(NANOS_PER_MILLI)
}

/// Precise time on a preview1 clock: realtime (0) since the Unix epoch,
/// monotonic (1) since the invocation started plus [`MONOTONIC_ORIGIN`].
fn clock_now(state: &HostState, id: i32) -> Result<Duration, Errno> {
    match id {
        0 => Ok(SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()),
        1 => Ok(state.started.elapsed() + MONOTONIC_ORIGIN),
        _ => Err(Errno::Inval),
    }
}

fn clock_res_get(mut env: FunctionEnvMut<'_, HostState>, id: i32, out: i32) -> HostResult {
    guarded(&mut env, |env| {
        if !env.data().clock {
            return errno(Errno::Notcapable);
        }
        if !matches!(id, 0 | 1) {
            return errno(Errno::Inval);
        }
        with_memory(env, |_, view| {
            Ok(fault(guest_mem::write_u64(
                view,
                out as u32,
                NANOS_PER_MILLI,
            )))
        })
    })
}

fn clock_time_get(
    mut env: FunctionEnvMut<'_, HostState>,
    id: i32,
    _precision: i64,
    out: i32,
) -> HostResult {
    guarded(&mut env, |env| {
        if !env.data().clock {
            return errno(Errno::Notcapable);
        }
        let now = match clock_now(env.data(), id) {
            Ok(t) => coarse(t),
            Err(e) => return errno(e),
        };
        with_memory(env, |_, view| {
            Ok(fault(guest_mem::write_u64(view, out as u32, now)))
        })
    })
}

/// Rights of `fd_fdstat_get`: `fd_read`, `fd_write`, `poll_fd_readwrite`.
const RIGHT_FD_READ: u64 = 1 << 1;
const RIGHT_FD_WRITE: u64 = 1 << 6;
const RIGHT_POLL_FD_READWRITE: u64 = 1 << 27;
/// `filetype::character_device`.
const FILETYPE_CHARACTER_DEVICE: u8 = 2;

fn fd_fdstat_get(mut env: FunctionEnvMut<'_, HostState>, fd: i32, out: i32) -> HostResult {
    guarded(&mut env, |env| {
        let rights = match fd {
            0 if env.data().wasi.stdio => RIGHT_FD_READ | RIGHT_POLL_FD_READWRITE,
            0 => 0,
            1 | 2 => RIGHT_FD_WRITE | RIGHT_POLL_FD_READWRITE,
            _ => return errno(Errno::Badf),
        };
        // fdstat: filetype u8 @0, flags u16 @2, rights_base u64 @8,
        // rights_inheriting u64 @16; 24 bytes.
        let mut stat = [0u8; 24];
        stat[0] = FILETYPE_CHARACTER_DEVICE;
        stat[8..16].copy_from_slice(&rights.to_le_bytes());
        with_memory(env, |_, view| {
            Ok(fault(guest_mem::write(view, out as u32, &stat)))
        })
    })
}

/// `fd_prestat_get` and `fd_prestat_dir_name`: no fd is a preopened
/// directory, which is how libc learns there are none.
fn no_preopen(mut env: FunctionEnvMut<'_, HostState>, _: i32, _: i32) -> HostResult {
    guarded(&mut env, |_| errno(Errno::Badf))
}

fn fd_prestat_dir_name(
    mut env: FunctionEnvMut<'_, HostState>,
    _: i32,
    _: i32,
    _: i32,
) -> HostResult {
    guarded(&mut env, |_| errno(Errno::Badf))
}

fn fd_read(
    mut env: FunctionEnvMut<'_, HostState>,
    fd: i32,
    iovs: i32,
    iovs_len: i32,
    nread: i32,
) -> HostResult {
    guarded(&mut env, |env| {
        if fd != 0 || !env.data().wasi.stdio {
            return errno(Errno::Badf);
        }
        with_memory(env, |state, view| {
            let (bufs, _) = match iovecs(view, iovs, iovs_len) {
                Ok(b) => b,
                Err(e) => return Ok(Err(e)),
            };
            if let Err(e) = check_out(view, nread, 4) {
                return Ok(Err(e));
            }
            let input = &state.input;
            let mut offset = state.wasi.stdin_offset.min(input.len());
            let mut read = 0u32;
            for (buf, len) in bufs {
                let n = (input.len() - offset).min(len as usize);
                if n == 0 {
                    break;
                }
                if let Err(e) = fault(guest_mem::write(view, buf, &input[offset..offset + n])) {
                    return Ok(Err(e));
                }
                offset += n;
                read += n as u32;
            }
            state.wasi.stdin_offset = offset;
            Ok(fault(guest_mem::write_u32(view, nread as u32, read)))
        })
    })
}

/// Where a write on fd 1 or fd 2 goes.
#[derive(Clone, Copy)]
enum Stream {
    /// The response (fd 1 in stdio mode).
    Response,
    /// The log: index 0 (fd 1, `info`) or 1 (fd 2, `warn`).
    Log(usize),
}

fn fd_write(
    mut env: FunctionEnvMut<'_, HostState>,
    fd: i32,
    iovs: i32,
    iovs_len: i32,
    nwritten: i32,
) -> HostResult {
    guarded(&mut env, |env| {
        let stream = match (fd, env.data().wasi.stdio) {
            (1, true) => Stream::Response,
            (1, false) => Stream::Log(0),
            (2, _) => Stream::Log(1),
            _ => return errno(Errno::Badf),
        };
        with_memory(env, |state, view| {
            // Bad pointers are the guest's errors to handle, checked before
            // any limit that would end the call.
            let (bufs, total) = match iovecs(view, iovs, iovs_len) {
                Ok(b) => b,
                Err(e) => return Ok(Err(e)),
            };
            if let Err(e) = check_out(view, nwritten, 4) {
                return Ok(Err(e));
            }
            match stream {
                Stream::Response => {
                    let attempted = state.output.len() as u64 + u64::from(total);
                    if attempted > state.limits.output_bytes {
                        return Err(Termination::OutputLimit {
                            limit: state.limits.output_bytes,
                            attempted,
                        });
                    }
                    for (buf, len) in bufs {
                        if let Err(e) =
                            fault(guest_mem::read_into(view, buf, len, &mut state.output))
                        {
                            return Ok(Err(e));
                        }
                    }
                }
                Stream::Log(index) if state.wasi.log => {
                    // Every byte written counts against `log_bytes`,
                    // newlines included; checked before copying.
                    let bytes = state.log_bytes + u64::from(total);
                    if bytes > state.limits.log_bytes {
                        return Err(Termination::Limit {
                            limit: LimitName::LogBytes,
                            value: state.limits.log_bytes,
                        });
                    }
                    let mut data = Vec::with_capacity(total as usize);
                    for (buf, len) in bufs {
                        if let Err(e) = fault(guest_mem::read_into(view, buf, len, &mut data)) {
                            return Ok(Err(e));
                        }
                    }
                    let lines = state.log_lines + new_lines(&state.wasi.lines[index], &data);
                    if lines > state.limits.log_lines {
                        return Err(Termination::Limit {
                            limit: LimitName::LogLines,
                            value: u64::from(state.limits.log_lines),
                        });
                    }
                    state.log_bytes = bytes;
                    state.log_lines = lines;
                    append_lines(
                        &mut state.wasi.lines[index],
                        &state.tags,
                        STREAM_LEVELS[index],
                        &data,
                    );
                }
                // Without `log`, the bytes are accepted and dropped.
                Stream::Log(_) => {}
            }
            Ok(fault(guest_mem::write_u32(view, nwritten as u32, total)))
        })
    })
}

/// How many lines writing `data` after `line` starts: each newline ends
/// one, and a line starts with its first byte, or with its newline when it
/// is empty.
fn new_lines(line: &Line, data: &[u8]) -> u32 {
    let mut open = line.open;
    let mut started = 0u32;
    let mut pieces = data.split(|b| *b == b'\n').peekable();
    while let Some(piece) = pieces.next() {
        let ended = pieces.peek().is_some();
        if piece.is_empty() && !ended {
            continue;
        }
        if !open {
            started += 1;
        }
        open = !ended;
    }
    started
}

/// Appends `data` to `line`, delivering every line a newline ends.
fn append_lines(line: &mut Line, tags: &Tags, level: LogLevel, data: &[u8]) {
    let mut pieces = data.split(|b| *b == b'\n').peekable();
    while let Some(piece) = pieces.next() {
        let ended = pieces.peek().is_some();
        if piece.is_empty() && !ended {
            continue;
        }
        line.open = true;
        line.bytes.extend_from_slice(piece);
        if ended {
            deliver(tags, level, &line.bytes);
            line.bytes.clear();
            line.open = false;
        }
    }
}

/// Subscription tag `clock` (`eventtype::clock`).
const EVENTTYPE_CLOCK: u8 = 0;
/// `subclockflags::subscription_clock_abstime`.
const SUBSCRIPTION_CLOCK_ABSTIME: u16 = 1;
const SUBSCRIPTION_SIZE: u32 = 48;
const EVENT_SIZE: u32 = 32;

/// Reads one clock subscription and returns its userdata and how long from
/// now it expires.
fn clock_subscription(state: &HostState, raw: &[u8; 48]) -> Result<(u64, Duration), Errno> {
    let u64_at = |at: usize| {
        let mut b = [0u8; 8];
        b.copy_from_slice(&raw[at..at + 8]);
        u64::from_le_bytes(b)
    };
    let userdata = u64_at(0);
    if raw[8] != EVENTTYPE_CLOCK {
        return Err(Errno::Notcapable);
    }
    if !state.clock {
        return Err(Errno::Notcapable);
    }
    // subscription_clock: id u32 @16, timeout u64 @24, precision u64 @32,
    // flags u16 @40.
    let id = i32::from_le_bytes([raw[16], raw[17], raw[18], raw[19]]);
    let timeout = Duration::from_nanos(u64_at(24));
    let flags = u16::from_le_bytes([raw[40], raw[41]]);
    let now = clock_now(state, id)?;
    let wait = if flags & SUBSCRIPTION_CLOCK_ABSTIME != 0 {
        timeout.saturating_sub(now)
    } else {
        timeout
    };
    Ok((userdata, wait))
}

fn poll_oneoff(
    mut env: FunctionEnvMut<'_, HostState>,
    subscriptions: i32,
    events: i32,
    count: i32,
    nevents: i32,
) -> HostResult {
    guarded(&mut env, |env| {
        let count = count as u32;
        if count == 0 {
            return errno(Errno::Inval);
        }
        with_memory(env, |state, view| {
            let size = view.data_size();
            let checked = u32::try_from(u64::from(count) * u64::from(SUBSCRIPTION_SIZE))
                .map_err(|_| Errno::Fault)
                .and_then(|len| fault(guest_mem::check(subscriptions as u32, len, size)))
                .and_then(|_| {
                    u32::try_from(u64::from(count) * u64::from(EVENT_SIZE))
                        .map_err(|_| Errno::Fault)
                })
                .and_then(|len| fault(guest_mem::check(events as u32, len, size)))
                .and_then(|_| check_out(view, nevents, 4));
            if let Err(e) = checked {
                return Ok(Err(e));
            }
            let mut waits = Vec::with_capacity(count.min(IOV_MAX) as usize);
            for i in 0..count {
                let at = subscriptions as u32 + i * SUBSCRIPTION_SIZE;
                let raw = match fault(guest_mem::read_array::<48>(view, at)) {
                    Ok(r) => r,
                    Err(e) => return Ok(Err(e)),
                };
                match clock_subscription(state, &raw) {
                    Ok(w) => waits.push(w),
                    Err(e) => return Ok(Err(e)),
                }
            }
            let Some(shortest) = waits.iter().map(|(_, w)| *w).min() else {
                return Ok(Err(Errno::Inval));
            };
            // A sleep that would outlast the deadline ends the call now:
            // the guest could not run again before it.
            let now = Instant::now();
            if now + shortest >= state.deadline {
                return Err(Termination::Deadline);
            }
            std::thread::sleep(shortest);
            let mut written = 0u32;
            for (userdata, wait) in waits {
                if wait > shortest {
                    continue;
                }
                // event: userdata u64 @0, error u16 @8, type u8 @10; the
                // fd_readwrite fields are zero for clocks. 32 bytes.
                let mut event = [0u8; 32];
                event[0..8].copy_from_slice(&userdata.to_le_bytes());
                event[10] = EVENTTYPE_CLOCK;
                let at = events as u32 + written * EVENT_SIZE;
                if let Err(e) = fault(guest_mem::write(view, at, &event)) {
                    return Ok(Err(e));
                }
                written += 1;
            }
            Ok(fault(guest_mem::write_u32(view, nevents as u32, written)))
        })
    })
}

fn proc_exit(mut env: FunctionEnvMut<'_, HostState>, code: i32) -> HostResult<()> {
    guarded(&mut env, |_| Err(Termination::Exit(code)))
}

fn sched_yield(mut env: FunctionEnvMut<'_, HostState>) -> HostResult {
    guarded(&mut env, |_| errno(Errno::Success))
}

/// The largest chunk `random_get` fills at a time; the deadline is checked
/// between chunks.
const RANDOM_CHUNK: usize = 64 * 1024;

fn random_get(mut env: FunctionEnvMut<'_, HostState>, buf: i32, len: i32) -> HostResult {
    guarded(&mut env, |env| {
        if !env.data().random {
            return errno(Errno::Notcapable);
        }
        with_memory(env, |state, view| {
            let (buf, len) = (buf as u32, len as u32);
            if let Err(e) = fault(guest_mem::check(buf, len, view.data_size())) {
                return Ok(Err(e));
            }
            let mut chunk = vec![0u8; (len as usize).min(RANDOM_CHUNK)];
            let mut done = 0u32;
            while done < len {
                if done > 0 && Instant::now() >= state.deadline {
                    return Err(Termination::Deadline);
                }
                let n = ((len - done) as usize).min(RANDOM_CHUNK);
                if let Err(e) = getrandom::fill(&mut chunk[..n]) {
                    return Err(Termination::Panic(format!("host CSPRNG failed: {e}")));
                }
                if let Err(e) = fault(guest_mem::write(view, buf + done, &chunk[..n])) {
                    return Ok(Err(e));
                }
                done += n as u32;
            }
            Ok(Ok(()))
        })
    })
}

/// Declares functions that only count the call, check the deadline and
/// answer [`Errno::Notcapable`], one per parameter list.
macro_rules! not_capable {
    ($($name:ident($($t:ty),*);)*) => {$(
        // The parameter lists are preview1's, not ours to shorten.
        #[allow(clippy::too_many_arguments)]
        fn $name(mut env: FunctionEnvMut<'_, HostState>, $(_: $t),*) -> HostResult {
            guarded(&mut env, |_| errno(Errno::Notcapable))
        }
    )*};
}

not_capable! {
    refuse_i(i32);
    refuse_ii(i32, i32);
    refuse_iii(i32, i32, i32);
    refuse_iiiii(i32, i32, i32, i32, i32);
    refuse_iiiiii(i32, i32, i32, i32, i32, i32);
    refuse_iiiiiii(i32, i32, i32, i32, i32, i32, i32);
    refuse_il(i32, i64);
    refuse_ill(i32, i64, i64);
    refuse_illi(i32, i64, i64, i32);
    refuse_ilii(i32, i64, i32, i32);
    refuse_iiili(i32, i32, i32, i64, i32);
    refuse_iiiilli(i32, i32, i32, i32, i64, i64, i32);
    refuse_path_open(i32, i32, i32, i32, i32, i64, i64, i32, i32);
}

/// Builds the preview1 function `f` for one invocation's store.
pub(crate) fn function(store: &mut Store, env: &FunctionEnv<HostState>, f: WasiFn) -> Function {
    use WasiFn as W;
    macro_rules! f {
        ($body:expr) => {
            Function::new_typed_with_env(store, env, $body)
        };
    }
    match f {
        W::ArgsGet | W::EnvironGet => f!(nothing_to_list),
        W::ArgsSizesGet | W::EnvironSizesGet => f!(args_sizes_get),
        W::ClockResGet => f!(clock_res_get),
        W::ClockTimeGet => f!(clock_time_get),
        W::FdAdvise | W::FdFilestatSetTimes => f!(refuse_illi),
        W::FdAllocate | W::FdFdstatSetRights => f!(refuse_ill),
        W::FdClose | W::FdDatasync | W::FdSync | W::ProcRaise => f!(refuse_i),
        W::FdFdstatGet => f!(fd_fdstat_get),
        W::FdFdstatSetFlags | W::FdFilestatGet | W::FdRenumber | W::FdTell | W::SockShutdown => {
            f!(refuse_ii)
        }
        W::FdFilestatSetSize => f!(refuse_il),
        W::FdPread | W::FdPwrite | W::FdReaddir => f!(refuse_iiili),
        W::FdPrestatGet => f!(no_preopen),
        W::FdPrestatDirName => f!(fd_prestat_dir_name),
        W::FdRead => f!(fd_read),
        W::FdSeek => f!(refuse_ilii),
        W::FdWrite => f!(fd_write),
        W::PathCreateDirectory | W::PathRemoveDirectory | W::PathUnlinkFile | W::SockAccept => {
            f!(refuse_iii)
        }
        W::PathFilestatGet | W::PathSymlink | W::SockSend => f!(refuse_iiiii),
        W::PathFilestatSetTimes => f!(refuse_iiiilli),
        W::PathLink => f!(refuse_iiiiiii),
        W::PathOpen => f!(refuse_path_open),
        W::PathReadlink | W::PathRename | W::SockRecv => f!(refuse_iiiiii),
        W::PollOneoff => f!(poll_oneoff),
        W::ProcExit => f!(proc_exit),
        W::SchedYield => f!(sched_yield),
        W::RandomGet => f!(random_get),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_preview1_function_is_in_the_table_once() {
        assert_eq!(WasiFn::ALL.len(), 46);
        for f in WasiFn::ALL {
            assert_eq!(WasiFn::lookup(NAMESPACE, f.name()), Some(*f));
            assert_eq!(WasiFn::lookup("bitvault_v1", f.name()), None);
        }
        let mut names: Vec<_> = WasiFn::ALL.iter().map(|f| f.name()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), WasiFn::ALL.len());
    }

    #[test]
    fn signatures_are_preview1s() {
        assert_eq!(
            WasiFn::FdWrite.signature().to_string(),
            "(i32, i32, i32, i32) -> i32"
        );
        assert_eq!(
            WasiFn::PathOpen.signature().to_string(),
            "(i32, i32, i32, i32, i32, i64, i64, i32, i32) -> i32"
        );
        assert_eq!(WasiFn::ProcExit.signature().to_string(), "(i32) -> ()");
        assert_eq!(WasiFn::SchedYield.signature().to_string(), "() -> i32");
    }

    #[test]
    fn lines_start_with_their_first_byte_or_their_newline() {
        let closed = Line::default();
        let open = Line {
            bytes: b"par".to_vec(),
            open: true,
        };
        assert_eq!(new_lines(&closed, b""), 0);
        assert_eq!(new_lines(&closed, b"a"), 1);
        assert_eq!(new_lines(&closed, b"a\n"), 1);
        assert_eq!(new_lines(&closed, b"a\nb"), 2);
        assert_eq!(new_lines(&closed, b"\n\n"), 2);
        assert_eq!(new_lines(&open, b"t\n"), 0);
        assert_eq!(new_lines(&open, b"\n"), 0);
        assert_eq!(new_lines(&open, b"t\nnext"), 1);
    }

    #[test]
    fn clocks_are_coarsened_to_milliseconds() {
        assert_eq!(coarse(Duration::from_nanos(1_999_999)), 1_000_000);
        assert_eq!(coarse(Duration::from_millis(5)), 5_000_000);
        assert_eq!(coarse(Duration::ZERO), 0);
    }
}
