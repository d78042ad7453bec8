//! wire.zig: the protobuf wire format, as much of it as a plugin needs to
//! read its request and write its response.
//!
//! `Reader` checks what prost (the host's codec) checks: keys up to 32 bits
//! with a field number of at least 1, wire types 0 to 5 only, varints of at
//! most ten bytes, lengths inside the message, groups closed by their own
//! field number and nested at most 100 deep, UTF-8 in string fields. Unknown
//! fields of every wire type are skipped. The `put*` functions write the
//! canonical proto3 encoding: fields at their default value are left out.

const std = @import("std");

/// Wire types.
pub const WireType = enum(u3) { varint = 0, i64 = 1, len = 2, sgroup = 3, egroup = 4, i32 = 5, _ };

/// The request is not the message it should be.
pub const Error = error{Malformed};

/// How deeply groups may nest in a skipped field (prost's limit).
const max_depth = 100;

/// A field's key.
pub const Key = struct { field: u32, wire_type: WireType };

/// Reads fields from a message in memory.
pub const Reader = struct {
    bytes: []const u8,
    pos: usize = 0,

    /// Whether every field has been read.
    pub fn atEnd(r: *const Reader) bool {
        return r.pos == r.bytes.len;
    }

    /// A varint: at most ten bytes, the tenth holding only the 64th bit.
    pub fn varint(r: *Reader) Error!u64 {
        var v: u64 = 0;
        var i: u6 = 0;
        while (i < 10) : (i += 1) {
            if (r.pos == r.bytes.len) return error.Malformed;
            const b = r.bytes[r.pos];
            r.pos += 1;
            if (i == 9 and b > 1) return error.Malformed;
            v |= @as(u64, b & 0x7f) << (7 * i);
            if (b < 0x80) return v;
        }
        return error.Malformed;
    }

    /// A key: at most 32 bits, field number at least 1, wire type 0 to 5.
    pub fn key(r: *Reader) Error!Key {
        const k = try r.varint();
        if (k > std.math.maxInt(u32) or k >> 3 == 0 or k & 7 > 5) return error.Malformed;
        return .{ .field = @intCast(k >> 3), .wire_type = @fromBackingInt(@intCast(@as(u3, @intCast(k & 7)))) };
    }

    /// A length-delimited value, as a slice of the message.
    pub fn bytesValue(r: *Reader) Error![]const u8 {
        const len = try r.varint();
        if (len > r.bytes.len - r.pos) return error.Malformed;
        const start = r.pos;
        r.pos += @intCast(len);
        return r.bytes[start..r.pos];
    }

    /// A string value: length-delimited and UTF-8.
    pub fn string(r: *Reader) Error![]const u8 {
        const s = try r.bytesValue();
        if (!std.unicode.utf8ValidateSlice(s)) return error.Malformed;
        return s;
    }

    /// Checks that a known field has its wire type.
    pub fn expect(k: Key, wire_type: WireType) Error!void {
        if (k.wire_type != wire_type) return error.Malformed;
    }

    fn skipN(r: *Reader, n: usize) Error!void {
        if (n > r.bytes.len - r.pos) return error.Malformed;
        r.pos += n;
    }

    /// Skips the value of a field whose key was read, a whole group (with
    /// the groups nested in it) after its start key. A lone end key is
    /// malformed.
    pub fn skip(r: *Reader, first: Key) Error!void {
        var open: [max_depth]u32 = undefined;
        var depth: usize = 0;
        var k = first;
        while (true) {
            switch (k.wire_type) {
                .varint => _ = try r.varint(),
                .i64 => try r.skipN(8),
                .len => _ = try r.bytesValue(),
                .i32 => try r.skipN(4),
                .sgroup => {
                    if (depth == max_depth) return error.Malformed;
                    open[depth] = k.field;
                    depth += 1;
                },
                .egroup => {
                    if (depth == 0 or open[depth - 1] != k.field) return error.Malformed;
                    depth -= 1;
                },
                _ => return error.Malformed,
            }
            if (depth == 0) return;
            k = try r.key();
        }
    }
};

/// The encoded size of a varint.
pub fn varintSize(v: u64) usize {
    var n: usize = 1;
    var x = v;
    while (x >= 0x80) : (x >>= 7) n += 1;
    return n;
}

/// The encoded size of a length-delimited field of `len` bytes; 0 when
/// empty (left out).
pub fn lenFieldSize(field: u32, len: usize) usize {
    if (len == 0) return 0;
    return varintSize(@as(u64, field) << 3) + varintSize(len) + len;
}

/// Encodes a varint at the start of `out` (room for ten bytes); returns the
/// bytes used.
pub fn putVarint(out: []u8, v: u64) []u8 {
    var n: usize = 0;
    var x = v;
    while (x >= 0x80) : (x >>= 7) {
        out[n] = @as(u8, @truncate(x)) | 0x80;
        n += 1;
    }
    out[n] = @truncate(x);
    return out[0 .. n + 1];
}

/// Encodes the key and length of a length-delimited field at the start of
/// `out` (room for twenty bytes); returns the bytes used.
pub fn putLenHeader(out: []u8, field: u32, len: u64) []u8 {
    const k = putVarint(out, @as(u64, field) << 3 | 2).len;
    const l = putVarint(out[k..], len).len;
    return out[0 .. k + l];
}

test "varints round-trip and refuse what prost refuses" {
    var buf: [10]u8 = undefined;
    for ([_]u64{ 0, 1, 127, 128, 300, std.math.maxInt(u32), std.math.maxInt(u64) }) |v| {
        const enc = putVarint(&buf, v);
        try std.testing.expectEqual(varintSize(v), enc.len);
        var r = Reader{ .bytes = enc };
        try std.testing.expectEqual(v, try r.varint());
        try std.testing.expect(r.atEnd());
    }
    var long: [11]u8 = @splat(0xff);
    long[10] = 0x01;
    var eleven = Reader{ .bytes = &long };
    try std.testing.expectError(error.Malformed, eleven.varint());
    long[9] = 0x02;
    var tenth = Reader{ .bytes = long[0..10] };
    try std.testing.expectError(error.Malformed, tenth.varint());
    var garbage = Reader{ .bytes = &[_]u8{ 0x0f, 0xff, 0xff, 0xff } };
    try std.testing.expectError(error.Malformed, garbage.key());
}

test "groups are skipped whole and must close with their own number" {
    // field 5 group { field 1 varint 7 } then field 2 varint 1
    var r = Reader{ .bytes = &[_]u8{ 0x2b, 0x08, 0x07, 0x2c, 0x10, 0x01 } };
    try r.skip(try r.key());
    try std.testing.expectEqual(@as(u32, 2), (try r.key()).field);
    var bad = Reader{ .bytes = &[_]u8{ 0x2b, 0x34 } };
    try std.testing.expectError(error.Malformed, bad.skip(try bad.key()));
}
