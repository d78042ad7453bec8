// AssemblyScript bindings of the BitVault plugin ABI, version 1: the host
// functions of the import module `bitvault_v1` (docs/abi.md §5), a helper
// that runs an entry point, and an `abort` for the compiler's `--use
// abort=` option.
//
// Only the host functions a plugin calls are imported: the compiler leaves
// out the rest, so a plugin that never calls `config` does not need the
// `config` capability.

// The host functions (docs/abi.md §5). Pointers are addresses in the
// plugin's memory; every length is in bytes.

@external("bitvault_v1", "input_len")
declare function input_len(): i32;
@external("bitvault_v1", "read_input")
declare function read_input(offset: i32, ptr: usize, len: i32): i32;
@external("bitvault_v1", "write_output")
declare function write_output(ptr: usize, len: i32): i32;
@external("bitvault_v1", "set_error")
declare function set_error(ptr: usize, len: i32): i32;
@external("bitvault_v1", "log")
declare function log_message(level: i32, ptr: usize, len: i32): i32;
@external("bitvault_v1", "config_get")
declare function config_get(key_ptr: usize, key_len: i32): i32;
@external("bitvault_v1", "result_read")
declare function result_read(offset: i32, ptr: usize, len: i32): i32;

// WASI's fd_write, which the host links under every grant set (§13): what
// `abort` writes to fd 2 goes to the log at level `warn`.
@external("wasi_snapshot_preview1", "fd_write")
declare function fd_write(fd: i32, iovs: usize, iovs_len: i32, nwritten: usize): i32;

/** The log levels of `log` (docs/abi.md §5.5). */
export enum Level {
  Trace = 0,
  Debug = 1,
  Info = 2,
  Warn = 3,
  Error = 4,
}

/** The host's error codes (docs/abi.md §6): negative results of a host function. */
export namespace HostError {
  export const OUT_OF_BOUNDS: i32 = -1;
  export const NO_MEMORY: i32 = -2;
  export const INVALID_ARGUMENT: i32 = -3;
  export const TOO_LARGE: i32 = -4;
  export const INVALID_UTF8: i32 = -5;
  export const NOT_FOUND: i32 = -6;
  export const NOT_PERMITTED: i32 = -7;
}

/** The code `handle` returns when a host function refused to read the request. */
export const CODE_HOST_REFUSED: i32 = 3;

/** The length of the request in bytes (`input_len`). */
export function inputLen(): i32 {
  return input_len();
}

/**
 * Reads `len` bytes starting at `offset` of a value the host offers with a
 * reader of `read_input`'s signature, or null when it refuses.
 */
function readAll(
  read: (offset: i32, ptr: usize, len: i32) => i32,
  len: i32,
): Uint8Array | null {
  const buf = new Uint8Array(len);
  let off = 0;
  while (off < len) {
    const n = read(off, buf.dataStart + <usize>off, len - off);
    if (n < 0) return null;
    if (n == 0) break;
    off += n;
  }
  return off == len ? buf : buf.subarray(0, off);
}

/** The whole request (`input_len`, then `read_input` until it returns 0), or null when the host refuses. */
export function input(): Uint8Array | null {
  return readAll((offset: i32, ptr: usize, len: i32): i32 => read_input(offset, ptr, len), input_len());
}

/**
 * Appends `bytes` to the response (`write_output`): 0, or the host's
 * error code. A response over the output limit ends the call.
 */
export function output(bytes: Uint8Array): i32 {
  return write_output(bytes.dataStart, bytes.length);
}

/** Sets the message of a non-zero result (`set_error`): 0 or the host's error code. */
export function setError(message: string): i32 {
  const utf8 = String.UTF8.encode(message);
  return set_error(changetype<usize>(utf8), utf8.byteLength);
}

/** Logs `message` at `level` (`log`; needs the `log` capability): 0 or the host's error code. */
export function log(level: Level, message: string): i32 {
  const utf8 = String.UTF8.encode(message);
  return log_message(<i32>level, changetype<usize>(utf8), utf8.byteLength);
}

/**
 * The installation's configuration value for `key` (`config_get`, then
 * `result_read`; needs the `config` capability), or null when it is not
 * set or the host refuses.
 */
export function config(key: string): string | null {
  const utf8 = String.UTF8.encode(key);
  const len = config_get(changetype<usize>(utf8), utf8.byteLength);
  if (len < 0) return null;
  const value = readAll((offset: i32, ptr: usize, len: i32): i32 => result_read(offset, ptr, len), len);
  return value == null ? null : String.UTF8.decodeUnsafe(value.dataStart, value.length);
}

/** What a handler answers: a response, or the plugin's error code and message. */
export class Result {
  constructor(
    public response: Uint8Array | null,
    public code: i32 = 0,
    public message: string = "",
  ) {}
}

/** A successful result with the response `bytes`. */
export function ok(bytes: Uint8Array): Result {
  return new Result(bytes);
}

/** A failure: the entry point returns `code` (not 0) and the host reports `message`. */
export function fail(code: i32, message: string): Result {
  return new Result(null, code == 0 ? 1 : code, message);
}

/**
 * Ends an entry point with the plugin error `code` (not 0) and `message`:
 * `return refuse(21, "too large")`, for failures found before `handle`.
 */
export function refuse(code: i32, message: string): i32 {
  setError(message);
  return code == 0 ? 1 : code;
}

/**
 * Runs an entry point: reads the request, calls `handler`, writes its
 * response, and returns the entry point's result (0, or the failure's
 * code after passing its message to `set_error`).
 */
export function handle(handler: (request: Uint8Array) => Result): i32 {
  const request = input();
  if (request == null) {
    setError("the host refused to read the request");
    return CODE_HOST_REFUSED;
  }
  const result = handler(request);
  const response = result.response;
  if (response != null) {
    const written = output(response);
    if (written < 0) {
      setError("the host refused the response (" + written.toString() + ")");
      return CODE_HOST_REFUSED;
    }
    return 0;
  }
  setError(result.message);
  return result.code;
}

let aborting = false;

/**
 * The plugin's `abort`, for `asc --use abort=…/bitvault/index/abort`: the
 * host links no `env.abort`, so AssemblyScript's default import would be
 * refused at admission. It writes the message and its place to fd 2 (the
 * host's log, level `warn`, when `log` is granted) and traps: a failed
 * assertion, an index out of range or memory that cannot grow ends the
 * call as a `trap`, like a panic in a Rust plugin.
 */
export function abort(
  message: string | null,
  fileName: string | null,
  line: u32,
  column: u32,
): void {
  if (!aborting) {
    aborting = true;
    const text =
      "abort: " +
      (message == null ? "" : message) +
      " at " +
      (fileName == null ? "?" : fileName) +
      ":" +
      line.toString() +
      ":" +
      column.toString() +
      "\n";
    const utf8 = String.UTF8.encode(text);
    const iov = memory.data(16);
    store<u32>(iov, changetype<usize>(utf8));
    store<u32>(iov, utf8.byteLength, 4);
    fd_write(2, iov, 1, iov + 8);
  }
  unreachable();
}
