// The BitVault prelude for JavaScript plugins compiled with Porffor
// (porffor-wasi.mjs puts it before the plugin's own source). A plugin runs as
// a WASI command in stdio mode (docs/abi.md §13.3):
//
//   readInput()       the whole request, decoded as UTF-8, as a string
//   writeOutput(s)    appends s, encoded as UTF-8, to the response (stdout)
//   console.log(...)  writes to the response as well, one line per call
//   log(s)            one line on stderr, which the host logs at `warn`
//   stringFromCharCodes(units)   String.fromCharCode(...units), cheaply
//   Date.now(), performance.now()   from the WASI clocks (0 if not granted)
//
// An uncaught exception ends the call with exit code 1 (`plugin_error`),
// its message on stderr.
//
// Everything here is on WASI preview 1: `Porffor.wasm` inline code calls the
// imports that porffor-wasi.mjs declares (fd_read, fd_write, clock_time_get,
// proc_exit). Porffor's allocator never frees, so large buffers are taken
// straight from `memory.grow` rather than from it.

const __bv_scratch = Porffor.malloc(64);

// `pages` new 64 KiB pages, returning their address (-1: memory limit).
const __bv_grow = pages => {
  let base = 0;
  Porffor.wasm`
  local.get ${pages}
  i32.trunc_sat_f64_u
  memory.grow 0
  f64.convert_i32_s
  local.set ${base}`;
  return base < 0 ? -1 : base * 65536;
};

// One fd_read or fd_write of (ptr, len) on `fd`; the byte count, or -errno.
const __bv_fdRead = (fd, ptr, len) => {
  const iov = __bv_scratch;
  Porffor.wasm.i32.store(iov, ptr, 0, 0);
  Porffor.wasm.i32.store(iov, len, 0, 4);
  let errno = 0;
  Porffor.wasm`
  local.get ${fd}
  i32.trunc_sat_f64_u
  local.get ${iov}
  i32.trunc_sat_f64_u
  i32.const 1
  local.get ${iov}
  i32.trunc_sat_f64_u
  i32.const 8
  i32.add
  call fd_read
  f64.convert_i32_s
  local.set ${errno}`;
  return errno == 0 ? Porffor.wasm.i32.load(iov, 0, 8) : -errno;
};

const __bv_fdWrite = (fd, ptr, len) => {
  const iov = __bv_scratch;
  Porffor.wasm.i32.store(iov, ptr, 0, 0);
  Porffor.wasm.i32.store(iov, len, 0, 4);
  let errno = 0;
  Porffor.wasm`
  local.get ${fd}
  i32.trunc_sat_f64_u
  local.get ${iov}
  i32.trunc_sat_f64_u
  i32.const 1
  local.get ${iov}
  i32.trunc_sat_f64_u
  i32.const 8
  i32.add
  call fd_write
  f64.convert_i32_s
  local.set ${errno}`;
  return errno == 0 ? Porffor.wasm.i32.load(iov, 0, 8) : -errno;
};

// Writes all of (ptr, len) to fd; false if the host refused.
const __bv_writeAll = (fd, ptr, len) => {
  while (len > 0) {
    const n = __bv_fdWrite(fd, ptr, len);
    if (n <= 0) return false;
    ptr += n;
    len -= n;
  }
  return true;
};

const __bv_exit = code => {
  Porffor.wasm`
  local.get ${code}
  i32.trunc_sat_f64_s
  call proc_exit`;
};

// A Porffor string (UTF-16, type 67) or byte string (Latin-1, type 195)
// from its address: [length: i32][units].
const __bv_string = ptr => {
  Porffor.wasm`
  local.get ${ptr}
  i32.const 67
  return`;
};
const __bv_byteString = ptr => {
  Porffor.wasm`
  local.get ${ptr}
  i32.const 195
  return`;
};

// A string of the UTF-16 code units in `units` (an array of numbers), made
// in one allocation: in Porffor 0.61, `s += String.fromCharCode(c)` in a
// loop inside a function can lose the characters beyond Latin-1, and
// `String.fromCharCode(...units)` takes a large allocation per call.
const stringFromCharCodes = units => {
  const n = units.length;
  let wide = false;
  for (let i = 0; i < n; i++) {
    if (units[i] > 255) wide = true;
  }
  const bytes = 4 + (wide ? 2 * n : n);
  const ptr = bytes < 16384 ? Porffor.malloc(bytes) : __bv_grow(Math.ceil(bytes / 65536));
  if (ptr < 0) throw new RangeError('out of memory making a string');
  Porffor.wasm.i32.store(ptr, n, 0, 0);
  if (wide) {
    for (let i = 0; i < n; i++) Porffor.wasm.i32.store16(ptr + 4 + 2 * i, units[i], 0, 0);
    return __bv_string(ptr);
  }
  for (let i = 0; i < n; i++) Porffor.wasm.i32.store8(ptr + 4 + i, units[i], 0, 0);
  return __bv_byteString(ptr);
};

// ---- input ----

let __bv_inputPtr = -1;
let __bv_inputLen = 0;

// Reads all of stdin into pages of its own (contiguous: nothing else grows
// memory while this loop runs).
const __bv_readAll = () => {
  if (__bv_inputPtr >= 0) return;
  let base = __bv_grow(1);
  if (base < 0) throw new RangeError('out of memory reading the input');
  let cap = 65536;
  let len = 0;
  while (true) {
    if (len == cap) {
      if (__bv_grow(1) < 0) throw new RangeError('out of memory reading the input');
      cap += 65536;
    }
    const n = __bv_fdRead(0, base + len, cap - len);
    if (n < 0) throw new Error('cannot read the input (errno ' + -n + '): run with --stdio');
    if (n == 0) break;
    len += n;
  }
  __bv_inputPtr = base;
  __bv_inputLen = len;
};

// The request as a string: UTF-8 decoded (malformed sequences become
// U+FFFD); a byte string when it is all ASCII.
const readInput = () => {
  __bv_readAll();
  const src = __bv_inputPtr;
  const len = __bv_inputLen;
  let ascii = true;
  for (let i = 0; i < len; i++) {
    if (Porffor.wasm.i32.load8_u(src + i, 0, 0) >= 128) {
      ascii = false;
      break;
    }
  }
  if (ascii) {
    const out = __bv_grow(Math.ceil((len + 4) / 65536));
    if (out < 0) throw new RangeError('out of memory decoding the input');
    Porffor.wasm.i32.store(out, len, 0, 0);
    Porffor.wasm.memory.copy(out + 4, src, len, 0, 0);
    return __bv_byteString(out);
  }
  // At most one UTF-16 unit per input byte.
  const out = __bv_grow(Math.ceil((4 + 2 * len) / 65536));
  if (out < 0) throw new RangeError('out of memory decoding the input');
  let units = 0;
  let i = 0;
  while (i < len) {
    const b0 = Porffor.wasm.i32.load8_u(src + i, 0, 0);
    let cp = 0xfffd;
    let need = 0;
    let min = 0;
    if (b0 < 0x80) {
      cp = b0;
    } else if (b0 >= 0xc2 && b0 <= 0xdf) {
      cp = b0 & 0x1f;
      need = 1;
      min = 0x80;
    } else if (b0 >= 0xe0 && b0 <= 0xef) {
      cp = b0 & 0x0f;
      need = 2;
      min = 0x800;
    } else if (b0 >= 0xf0 && b0 <= 0xf4) {
      cp = b0 & 0x07;
      need = 3;
      min = 0x10000;
    }
    i++;
    let ok = true;
    for (let k = 0; k < need; k++) {
      const b = i < len ? Porffor.wasm.i32.load8_u(src + i, 0, 0) : 0;
      if ((b & 0xc0) != 0x80) {
        ok = false;
        break;
      }
      cp = cp * 64 + (b & 0x3f);
      i++;
    }
    if (!ok || cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) cp = 0xfffd;
    if (cp >= 0x10000) {
      cp -= 0x10000;
      Porffor.wasm.i32.store16(out + 4 + units * 2, 0xd800 + Math.floor(cp / 1024), 0, 0);
      Porffor.wasm.i32.store16(out + 6 + units * 2, 0xdc00 + (cp % 1024), 0, 0);
      units += 2;
    } else {
      Porffor.wasm.i32.store16(out + 4 + units * 2, cp, 0, 0);
      units++;
    }
  }
  Porffor.wasm.i32.store(out, units, 0, 0);
  return __bv_string(out);
};

// ---- output ----

const __bv_outCap = 65536;
let __bv_out = -1;
let __bv_outLen = 0;
let __bv_highSurrogate = 0;

const __bv_flushOut = () => {
  if (__bv_outLen > 0 && !__bv_writeAll(1, __bv_out, __bv_outLen)) {
    throw new Error('the host refused the output');
  }
  __bv_outLen = 0;
};

const __bv_putByte = b => {
  if (__bv_out < 0) {
    __bv_out = __bv_grow(1);
    if (__bv_out < 0) throw new RangeError('out of memory for the output buffer');
  }
  if (__bv_outLen == __bv_outCap) __bv_flushOut();
  Porffor.wasm.i32.store8(__bv_out + __bv_outLen, b, 0, 0);
  __bv_outLen++;
};

// Appends one UTF-16 code unit, as UTF-8 (a lone surrogate as U+FFFD).
const __bv_putUnit = u => {
  let cp = u;
  if (__bv_highSurrogate != 0) {
    const hi = __bv_highSurrogate;
    __bv_highSurrogate = 0;
    if (u >= 0xdc00 && u <= 0xdfff) {
      cp = 0x10000 + (hi - 0xd800) * 1024 + (u - 0xdc00);
    } else {
      __bv_putUnit(0xfffd);
    }
  } else if (u >= 0xd800 && u <= 0xdbff) {
    __bv_highSurrogate = u;
    return;
  } else if (u >= 0xdc00 && u <= 0xdfff) {
    cp = 0xfffd;
  }
  if (cp < 0x80) {
    __bv_putByte(cp);
  } else if (cp < 0x800) {
    __bv_putByte(0xc0 + Math.floor(cp / 64));
    __bv_putByte(0x80 + (cp % 64));
  } else if (cp < 0x10000) {
    __bv_putByte(0xe0 + Math.floor(cp / 4096));
    __bv_putByte(0x80 + (Math.floor(cp / 64) % 64));
    __bv_putByte(0x80 + (cp % 64));
  } else {
    __bv_putByte(0xf0 + Math.floor(cp / 262144));
    __bv_putByte(0x80 + (Math.floor(cp / 4096) % 64));
    __bv_putByte(0x80 + (Math.floor(cp / 64) % 64));
    __bv_putByte(0x80 + (cp % 64));
  }
};

const writeOutput = s => {
  const str = String(s);
  const n = str.length;
  for (let i = 0; i < n; i++) __bv_putUnit(str.charCodeAt(i));
};

// One line on stderr (the host's log, level warn); non-ASCII as '?'.
const log = s => {
  const str = String(s);
  const buf = __bv_scratch + 16;
  let len = 0;
  const room = 40;
  const n = str.length;
  for (let i = 0; i < n; i++) {
    let u = str.charCodeAt(i);
    if (u >= 0x80) u = 0x3f; // '?': the log line is ASCII
    Porffor.wasm.i32.store8(buf + len, u, 0, 0);
    len++;
    if (len == room) {
      __bv_writeAll(2, buf, len);
      len = 0;
    }
  }
  Porffor.wasm.i32.store8(buf + len, 10, 0, 0);
  __bv_writeAll(2, buf, len + 1);
};

// ---- the helpers porffor-wasi.mjs binds Porffor's imports to ----

// console.log: Porffor prints numbers and other values with ANSI colour
// codes (ESC [ ... m) that do not belong in a response: they are dropped.
let __bv_inEscape = 0;
export const __bv_printChar = c => {
  if (__bv_inEscape == 1) {
    __bv_inEscape = c == 91 ? 2 : 0; // '['
    if (__bv_inEscape == 2) return;
  } else if (__bv_inEscape == 2) {
    if ((c >= 48 && c <= 57) || c == 59) return; // digits and ';'
    __bv_inEscape = 0;
    if (c == 109) return; // 'm'
  }
  if (c == 27) {
    __bv_inEscape = 1;
    return;
  }
  __bv_putUnit(c);
};

export const __bv_print = x => {
  writeOutput(String(x));
};

const __bv_clock = id => {
  let errno = 0;
  const p = __bv_scratch;
  Porffor.wasm`
  local.get ${id}
  i32.trunc_sat_f64_u
  i64.const 1000000
  local.get ${p}
  i32.trunc_sat_f64_u
  call clock_time_get
  f64.convert_i32_s
  local.set ${errno}`;
  if (errno != 0) return 0;
  const lo = Porffor.wasm.i32.load(p, 0, 0);
  const hi = Porffor.wasm.i32.load(p, 0, 4);
  return (hi * 4294967296 + (lo < 0 ? lo + 4294967296 : lo)) / 1000000;
};

export const __bv_time = x => __bv_clock(1);

export const __bv_timeOrigin = x => __bv_clock(0) - __bv_clock(1);

export const __bv_flush = x => {
  if (__bv_highSurrogate != 0) {
    __bv_highSurrogate = 0;
    __bv_putUnit(0xfffd);
  }
  __bv_flushOut();
};

export const __bv_uncaught = e => {
  log('Uncaught ' + String(e));
  __bv_exit(1);
};
