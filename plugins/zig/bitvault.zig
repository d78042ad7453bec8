//! bitvault.zig: the BitVault Plugins ABI, version 1, for Zig plugins
//! compiled to `wasm32-freestanding`. The Zig counterpart of
//! `crates/abi/include/bitvault.h`; `docs/abi.md` is the specification.
//!
//! `raw` declares every `bitvault_v1` host function exactly as the host
//! links it (pointers and lengths are 32-bit on wasm32). The functions
//! below it wrap the ones most plugins need: they turn the negative codes
//! into `HostError` and hide the read-until-zero loops. A module imports
//! only the host functions it calls, so each import still needs its
//! capability granted.
//!
//! Use it as a module named `bitvault`:
//!
//! ```sh
//! python3 -m ziglang build-exe -target wasm32-freestanding -O ReleaseSmall \
//!     -fno-entry -rdynamic --dep bitvault -Mroot=plugin.zig -Mbitvault=bitvault.zig
//! ```
//!
//! and export each entry point as `export fn name() i32`.

/// The ABI version (the import module is `bitvault_v1`).
pub const abi_version = 1;

/// The host functions, as imported from `bitvault_v1`. They return a
/// negative code of `ErrorCode` when they refuse a request.
pub const raw = struct {
    pub extern "bitvault_v1" fn input_len() i32;
    pub extern "bitvault_v1" fn read_input(offset: u32, ptr: [*]u8, len: u32) i32;
    pub extern "bitvault_v1" fn write_output(ptr: [*]const u8, len: u32) i32;
    pub extern "bitvault_v1" fn set_error(ptr: [*]const u8, len: u32) i32;
    pub extern "bitvault_v1" fn log(level: i32, ptr: [*]const u8, len: u32) i32;
    pub extern "bitvault_v1" fn result_read(offset: u32, ptr: [*]u8, len: u32) i32;
    pub extern "bitvault_v1" fn config_get(key_ptr: [*]const u8, key_len: u32) i32;
    pub extern "bitvault_v1" fn clock_now(clock: i32) i64;
    pub extern "bitvault_v1" fn random_fill(ptr: [*]u8, len: u32) i32;
    pub extern "bitvault_v1" fn kv_get(key_ptr: [*]const u8, key_len: u32) i32;
    pub extern "bitvault_v1" fn kv_put(key_ptr: [*]const u8, key_len: u32, value_ptr: [*]const u8, value_len: u32) i32;
    pub extern "bitvault_v1" fn kv_delete(key_ptr: [*]const u8, key_len: u32) i32;
    pub extern "bitvault_v1" fn kv_list(prefix_ptr: [*]const u8, prefix_len: u32, cursor_ptr: [*]const u8, cursor_len: i32, limit: i32) i32;
    pub extern "bitvault_v1" fn emit_event(topic_ptr: [*]const u8, topic_len: u32, payload_ptr: [*]const u8, payload_len: u32) i32;
    pub extern "bitvault_v1" fn http_request(head_ptr: [*]const u8, head_len: u32, body_ptr: [*]const u8, body_len: u32) i32;
};

/// The host's error codes (`docs/abi.md` §6).
pub const ErrorCode = enum(i32) {
    out_of_bounds = -1,
    no_memory = -2,
    invalid_argument = -3,
    too_large = -4,
    invalid_utf8 = -5,
    not_found = -6,
    not_permitted = -7,
    quota_exceeded = -8,
    unavailable = -9,
    depth_exceeded = -10,
    timed_out = -11,
    connection_failed = -12,
    _,
};

/// A host function refused the request; `ErrorCode` names the codes.
pub const HostError = error{
    OutOfBounds,
    NoMemory,
    InvalidArgument,
    TooLarge,
    InvalidUtf8,
    NotFound,
    NotPermitted,
    QuotaExceeded,
    Unavailable,
    DepthExceeded,
    TimedOut,
    ConnectionFailed,
    /// A negative code this binding does not know.
    Unknown,
};

/// `rc` as a count, or its error.
pub fn check(rc: i32) HostError!u32 {
    if (rc >= 0) return @intCast(rc);
    return switch (@as(ErrorCode, @fromBackingInt(@intCast(rc)))) {
        .out_of_bounds => error.OutOfBounds,
        .no_memory => error.NoMemory,
        .invalid_argument => error.InvalidArgument,
        .too_large => error.TooLarge,
        .invalid_utf8 => error.InvalidUtf8,
        .not_found => error.NotFound,
        .not_permitted => error.NotPermitted,
        .quota_exceeded => error.QuotaExceeded,
        .unavailable => error.Unavailable,
        .depth_exceeded => error.DepthExceeded,
        .timed_out => error.TimedOut,
        .connection_failed => error.ConnectionFailed,
        _ => error.Unknown,
    };
}

/// Log levels for `log`.
pub const Level = enum(i32) { trace = 0, debug = 1, info = 2, warn = 3, err = 4 };

/// Clocks for `clockNow`.
pub const Clock = enum(i32) {
    /// Milliseconds since the Unix epoch.
    wall = 0,
    /// Milliseconds since the invocation started.
    monotonic = 1,
};

/// The length of the request in bytes.
pub fn inputLen() u32 {
    return @intCast(raw.input_len());
}

/// Reads the request into `buf` from request offset `offset`, looping until
/// `buf` is full or the request ends; returns the bytes read.
pub fn readInput(offset: u32, buf: []u8) HostError!u32 {
    var done: u32 = 0;
    while (done < buf.len) {
        const n = try check(raw.read_input(offset + done, buf.ptr + done, @intCast(buf.len - done)));
        if (n == 0) break;
        done += n;
    }
    return done;
}

/// The whole request, in memory from `allocator`.
pub fn input(allocator: anytype) (HostError || error{OutOfMemory})![]u8 {
    const buf = try allocator.alloc(u8, inputLen());
    return buf[0..try readInput(0, buf)];
}

/// Appends `bytes` to the response.
pub fn writeOutput(bytes: []const u8) HostError!void {
    _ = try check(raw.write_output(bytes.ptr, @intCast(bytes.len)));
}

/// Sets the message reported with a non-zero result of the entry point.
pub fn setError(message: []const u8) HostError!void {
    _ = try check(raw.set_error(message.ptr, @intCast(message.len)));
}

/// Sets the error message (ignoring a refusal) and returns `code`, for
/// `return bitvault.fail(22, "...")` in an entry point.
pub fn fail(code: i32, message: []const u8) i32 {
    setError(message) catch {};
    return code;
}

/// Logs a UTF-8 message (needs the `log` capability).
pub fn log(level: Level, message: []const u8) HostError!void {
    _ = try check(raw.log(@backingInt(level), message.ptr, @intCast(message.len)));
}

/// Reads the staged result (of `config_get`, `kv_get`, …) of `len` bytes
/// into memory from `allocator`.
pub fn readResult(allocator: anytype, len: u32) (HostError || error{OutOfMemory})![]u8 {
    const buf = try allocator.alloc(u8, len);
    var done: u32 = 0;
    while (done < len) {
        const n = try check(raw.result_read(done, buf.ptr + done, len - done));
        if (n == 0) break;
        done += n;
    }
    return buf[0..done];
}

/// The configuration value of `key`, or null when it has none (needs the
/// `config` capability).
pub fn config(allocator: anytype, key: []const u8) (HostError || error{OutOfMemory})!?[]u8 {
    const len = check(raw.config_get(key.ptr, @intCast(key.len))) catch |e| switch (e) {
        error.NotFound => return null,
        else => return e,
    };
    return try readResult(allocator, len);
}

/// The time on `clock` in milliseconds (`error.NotPermitted` when the
/// `clock` capability is withheld).
pub fn clockNow(clock: Clock) HostError!i64 {
    const t = raw.clock_now(@backingInt(clock));
    if (t < 0) {
        _ = try check(@intCast(t));
    }
    return t;
}

/// Fills `buf` (at most 65 536 bytes) from the host's CSPRNG
/// (`error.NotPermitted` when the `random` capability is withheld).
pub fn randomFill(buf: []u8) HostError!void {
    _ = try check(raw.random_fill(buf.ptr, @intCast(buf.len)));
}
