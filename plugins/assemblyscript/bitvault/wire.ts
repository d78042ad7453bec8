// Checks a protobuf message against its schema before as-proto decodes
// it. The decoders as-proto generates trust their input: a field that runs
// past the end fails an assertion (a trap), a known field with another
// wire type is misread, and strings are not checked for UTF-8. A plugin
// must refuse such a request with an error instead, as the host's decoder
// (prost) would; after `check` has passed, decoding cannot fail.

/** The wire types of proto3 (groups are refused). */
export const VARINT: u8 = 0;
export const I64: u8 = 1;
export const LEN: u8 = 2;
export const I32: u8 = 5;

/** A field of a message's schema. */
export class Field {
  constructor(
    /** Its number. */
    public number: u32,
    /** Its wire type. */
    public wire: u8,
    /** For LEN fields: UTF-8 text (`string`). */
    public text: bool = false,
    /** For LEN fields: the schema of an embedded message (or map entry). */
    public message: Field[] | null = null,
  ) {}
}

/** Why the last `check` failed. */
export let problem = "";

function fail(why: string): bool {
  problem = why;
  return false;
}

// The position after the varint at `pos` (at most 10 bytes), or -1.
let value: u64 = 0;
function varint(ptr: usize, pos: i32, end: i32): i32 {
  let v: u64 = 0;
  for (let i = 0; i < 10; i++) {
    if (pos >= end) return -1;
    const b = load<u8>(ptr + <usize>pos);
    pos++;
    v |= (<u64>(b & 0x7f)) << (<u64>(7 * i));
    if (b < 0x80) {
      value = v;
      return pos;
    }
  }
  return -1;
}

/** Whether the bytes `ptr[start..end)` are UTF-8 (no overlong forms, no surrogates, at most U+10FFFF). */
export function isUtf8(ptr: usize, start: i32, end: i32): bool {
  let i = start;
  while (i < end) {
    const b0 = load<u8>(ptr + <usize>i);
    if (b0 < 0x80) {
      i++;
      continue;
    }
    let n = 0;
    let min: u32 = 0;
    let cp: u32 = 0;
    if ((b0 & 0xe0) == 0xc0) {
      n = 1;
      min = 0x80;
      cp = b0 & 0x1f;
    } else if ((b0 & 0xf0) == 0xe0) {
      n = 2;
      min = 0x800;
      cp = b0 & 0x0f;
    } else if ((b0 & 0xf8) == 0xf0) {
      n = 3;
      min = 0x10000;
      cp = b0 & 0x07;
    } else {
      return false;
    }
    if (i + n >= end) return false;
    for (let k = 1; k <= n; k++) {
      const b = load<u8>(ptr + <usize>(i + k));
      if ((b & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (b & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;
    i += n + 1;
  }
  return true;
}

/**
 * Whether `bytes` is a well-formed message of `schema`: every field
 * complete, known fields of their wire type, text fields UTF-8, embedded
 * messages well-formed. Unknown fields of any proto3 wire type are allowed.
 * On failure, `problem` says why.
 */
export function check(bytes: Uint8Array, schema: Field[]): bool {
  return checkRange(bytes.dataStart, 0, bytes.length, schema);
}

function checkRange(ptr: usize, pos: i32, end: i32, schema: Field[]): bool {
  while (pos < end) {
    pos = varint(ptr, pos, end);
    if (pos < 0) return fail("a truncated tag");
    const tag = value;
    const number = <u32>(tag >> 3);
    const wire = <u8>(tag & 7);
    if (number == 0 || tag >> 32 != 0) return fail("a field number out of range");
    let field: Field | null = null;
    for (let i = 0; i < schema.length; i++) {
      if (unchecked(schema[i]).number == number) field = unchecked(schema[i]);
    }
    if (field != null && field.wire != wire) {
      return fail("field " + number.toString() + " has wire type " + wire.toString());
    }
    if (wire == VARINT) {
      pos = varint(ptr, pos, end);
    } else if (wire == I64) {
      pos = end - pos >= 8 ? pos + 8 : -1;
    } else if (wire == I32) {
      pos = end - pos >= 4 ? pos + 4 : -1;
    } else if (wire == LEN) {
      pos = varint(ptr, pos, end);
      if (pos >= 0) {
        if (value > <u64>(end - pos)) return fail("field " + number.toString() + " runs past the end");
        const stop = pos + <i32>value;
        if (field != null && field.text && !isUtf8(ptr, pos, stop)) {
          return fail("field " + number.toString() + " is not UTF-8");
        }
        if (field != null) {
          const nested = field.message;
          if (nested != null && !checkRange(ptr, pos, stop, nested)) return false;
        }
        pos = stop;
      }
    } else {
      return fail("wire type " + wire.toString());
    }
    if (pos < 0) return fail("field " + number.toString() + " is truncated");
  }
  return true;
}
