//! linenum: a content transform in Zig that numbers the lines of a plain
//! text (extension point `content_transform`, capability `io`).
//!
//! `content_transform_v1_transform`: TransformRequest -> TransformResponse.
//!
//! - Accepts `text/plain` (any case; a `charset` parameter must be `utf-8`
//!   or `us-ascii`, other parameters are ignored) whose content is UTF-8.
//!   The result is `text/plain`, with the metadata `lines`.
//! - Every line, empty ones too, is prefixed with its number, right-aligned
//!   to the width of the largest number, and the separator. Lines end at
//!   `\n` (a `\r` before it stays in the line); a final line without `\n`
//!   is numbered and stays without one. Empty content has no lines and
//!   gives empty content.
//! - Parameters: `start`, the first number (0 to 1 000 000 000, default
//!   1); `separator`, the text after the number (at most 64 bytes, no line
//!   break, default a tab). Other parameters are ignored.
//!
//! Plugin errors (the entry point's result, with a message):
//!   2  the request is not a TransformRequest;
//!   3  out of memory;
//!   4  the host refused to read the request or take the response;
//!  21  a parameter's value is out of its range;
//!  22  a media type other than text/plain, or another charset;
//!  23  the content is not UTF-8.

const std = @import("std");
const bv = @import("bitvault");
const wire = @import("wire.zig");

const max_start = 1_000_000_000;
const max_separator = 64;

const Failure = struct { code: i32, message: []const u8 };

fn failure(code: i32, message: []const u8) Failure {
    return .{ .code = code, .message = message };
}

/// The request's fields this transform reads.
const Request = struct {
    content: []const u8 = "",
    media_type: []const u8 = "",
    start: ?[]const u8 = null,
    separator: ?[]const u8 = null,
};

/// Checks a bitvault.plugins.common.v1.Context without keeping it.
fn checkContext(bytes: []const u8) wire.Error!void {
    var r = wire.Reader{ .bytes = bytes };
    while (!r.atEnd()) {
        const k = try r.key();
        switch (k.field) {
            1, 2, 3, 5 => { // tenant, plugin, invocation_id, path
                try wire.Reader.expect(k, .len);
                _ = try r.string();
            },
            4 => { // now_unix_ms
                try wire.Reader.expect(k, .varint);
                _ = try r.varint();
            },
            else => try r.skip(k),
        }
    }
}

/// Decodes a TransformRequest: context = 1, content = 2, media_type = 3,
/// parameters = 4 (map<string, string>: entries with key = 1, value = 2).
fn decode(bytes: []const u8) wire.Error!Request {
    var req = Request{};
    var r = wire.Reader{ .bytes = bytes };
    while (!r.atEnd()) {
        const k = try r.key();
        switch (k.field) {
            1 => {
                try wire.Reader.expect(k, .len);
                try checkContext(try r.bytesValue());
            },
            2 => {
                try wire.Reader.expect(k, .len);
                req.content = try r.bytesValue();
            },
            3 => {
                try wire.Reader.expect(k, .len);
                req.media_type = try r.string();
            },
            4 => {
                try wire.Reader.expect(k, .len);
                var entry = wire.Reader{ .bytes = try r.bytesValue() };
                var name: []const u8 = "";
                var value: []const u8 = "";
                while (!entry.atEnd()) {
                    const ek = try entry.key();
                    switch (ek.field) {
                        1 => {
                            try wire.Reader.expect(ek, .len);
                            name = try entry.string();
                        },
                        2 => {
                            try wire.Reader.expect(ek, .len);
                            value = try entry.string();
                        },
                        else => try entry.skip(ek),
                    }
                }
                // A later entry for the same key wins, as in a map.
                if (std.mem.eql(u8, name, "start")) req.start = value;
                if (std.mem.eql(u8, name, "separator")) req.separator = value;
            },
            else => try r.skip(k),
        }
    }
    return req;
}

/// Whether `media_type` is text/plain in UTF-8.
fn acceptsMediaType(media_type: []const u8) bool {
    var parts = std.mem.splitScalar(u8, media_type, ';');
    const essence = std.mem.trim(u8, parts.first(), " \t");
    if (!std.ascii.eqlIgnoreCase(essence, "text/plain")) return false;
    while (parts.next()) |param| {
        const eq = std.mem.indexOfScalar(u8, param, '=') orelse continue;
        const name = std.mem.trim(u8, param[0..eq], " \t");
        const value = std.mem.trim(u8, std.mem.trim(u8, param[eq + 1 ..], " \t"), "\"");
        if (std.ascii.eqlIgnoreCase(name, "charset") and
            !std.ascii.eqlIgnoreCase(value, "utf-8") and
            !std.ascii.eqlIgnoreCase(value, "us-ascii")) return false;
    }
    return true;
}

fn parseStart(value: ?[]const u8) ?u64 {
    const v = value orelse return 1;
    if (v.len == 0 or v.len > 10) return null;
    var n: u64 = 0;
    for (v) |c| {
        if (c < '0' or c > '9') return null;
        n = n * 10 + (c - '0');
    }
    return if (n <= max_start) n else null;
}

fn digits(n: u64) usize {
    var d: usize = 1;
    var x = n;
    while (x >= 10) : (x /= 10) d += 1;
    return d;
}

// The scans below read eight bytes at a time: fuel is one unit per wasm
// instruction, and the content may be megabytes.
const ones: u64 = 0x0101010101010101;
const high_bits: u64 = 0x8080808080808080;
const low_bits: u64 = 0x7f7f7f7f7f7f7f7f;
const newline_bytes: u64 = ones * '\n';

/// The eight bytes at `i` as a little-endian word (wasm is little-endian).
inline fn word(bytes: []const u8, i: usize) u64 {
    const p: *align(1) const u64 = @ptrCast(bytes[i..].ptr);
    return p.*;
}

/// The number of '\n' bytes in an ASCII word: the expression has 0x80 in
/// exactly the bytes that equal '\n'.
inline fn newlinesIn(w: u64) u64 {
    const x = w ^ newline_bytes;
    return @popCount(~(((x & low_bits) +% low_bits) | x | low_bits));
}

/// The number of '\n' in the content, or null when it is not UTF-8.
fn scan(text: []const u8) ?u64 {
    var count: u64 = 0;
    var i: usize = 0;
    while (i < text.len) {
        if (text.len - i >= 16) {
            const a = word(text, i);
            const b = word(text, i + 8);
            if ((a | b) & high_bits == 0) {
                count += newlinesIn(a) + newlinesIn(b);
                i += 16;
                continue;
            }
        }
        const b = text[i];
        if (b < 0x80) {
            count += @intFromBool(b == '\n');
            i += 1;
            continue;
        }
        const n = std.unicode.utf8ByteSequenceLength(b) catch return null;
        if (text.len - i < n or !std.unicode.utf8ValidateSlice(text[i..][0..n])) return null;
        i += n;
    }
    return count;
}

/// The length of the first line of `rest`, with its '\n'.
fn lineEnd(rest: []const u8) usize {
    var i: usize = 0;
    while (rest.len - i >= 16) : (i += 16) {
        const a = word(rest, i) ^ newline_bytes;
        const b = word(rest, i + 8) ^ newline_bytes;
        // The lowest flagged byte is the first '\n' (flags above it may be
        // false).
        const in_a = (a -% ones) & ~a & high_bits;
        const in_b = (b -% ones) & ~b & high_bits;
        if (in_a | in_b != 0) {
            return if (in_a != 0) i + @ctz(in_a) / 8 + 1 else i + 8 + @ctz(in_b) / 8 + 1;
        }
    }
    while (i < rest.len) : (i += 1) {
        if (rest[i] == '\n') return i + 1;
    }
    return rest.len;
}

/// The response, written through a buffer.
const Out = struct {
    buf: [65536]u8 = undefined,
    len: usize = 0,

    fn flush(o: *Out) bv.HostError!void {
        if (o.len > 0) try bv.writeOutput(o.buf[0..o.len]);
        o.len = 0;
    }

    fn write(o: *Out, bytes: []const u8) bv.HostError!void {
        if (o.len + bytes.len > o.buf.len) {
            try o.flush();
            if (bytes.len >= o.buf.len) return bv.writeOutput(bytes);
        }
        @memcpy(o.buf[o.len..][0..bytes.len], bytes);
        o.len += bytes.len;
    }
};

var out: Out = .{};

fn transform() ?Failure {
    const request = bv.input(std.heap.wasm_allocator) catch |e| return switch (e) {
        error.OutOfMemory => failure(3, "the request does not fit in memory"),
        else => failure(4, "read_input refused the request buffer"),
    };
    const req = decode(request) catch
        return failure(2, "the request is not a content_transform.v1.TransformRequest");
    if (!acceptsMediaType(req.media_type))
        return failure(22, "linenum transforms text/plain (UTF-8) only");
    const start = parseStart(req.start) orelse
        return failure(21, "parameter start: a whole number from 0 to 1000000000");
    const separator = req.separator orelse "\t";
    if (separator.len > max_separator or std.mem.indexOfAny(u8, separator, "\r\n") != null)
        return failure(21, "parameter separator: at most 64 bytes, without line breaks");
    const text = req.content;
    const newlines = scan(text) orelse
        return failure(23, "the content is not UTF-8");
    respond(text, newlines, start, separator) catch
        return failure(4, "write_output refused the response");
    return null;
}

/// Writes the TransformResponse: content = 1, media_type = 2, metadata = 3.
fn respond(text: []const u8, newlines: u64, start: u64, separator: []const u8) bv.HostError!void {
    var lines = newlines;
    if (text.len > 0 and text[text.len - 1] != '\n') lines += 1;
    const width = digits(start + (lines -| 1));
    const size = text.len + lines * (width + separator.len);
    var header: [20]u8 = undefined;
    if (size > 0) {
        try out.write(wire.putLenHeader(&header, 1, size));
        try numberLines(text, start, width, separator);
    }
    const media_type = "text/plain";
    try out.write(wire.putLenHeader(&header, 2, media_type.len));
    try out.write(media_type);
    var count: [20]u8 = undefined;
    const count_text = std.fmt.bufPrint(&count, "{d}", .{lines}) catch unreachable;
    const key = "lines";
    try out.write(wire.putLenHeader(&header, 3, wire.lenFieldSize(1, key.len) + wire.lenFieldSize(2, count_text.len)));
    try out.write(wire.putLenHeader(&header, 1, key.len));
    try out.write(key);
    try out.write(wire.putLenHeader(&header, 2, count_text.len));
    try out.write(count_text);
    try out.flush();
}

/// Writes every line with its number.
fn numberLines(text: []const u8, start: u64, width: usize, separator: []const u8) bv.HostError!void {
    var number = start;
    var rest = text;
    var prefix: [max_separator + 20]u8 = undefined;
    while (rest.len > 0) : (number += 1) {
        const end = lineEnd(rest);
        const d = digits(number);
        @memset(prefix[0 .. width - d], ' ');
        _ = std.fmt.bufPrint(prefix[width - d .. width], "{d}", .{number}) catch unreachable;
        @memcpy(prefix[width..][0..separator.len], separator);
        try out.write(prefix[0 .. width + separator.len]);
        try out.write(rest[0..end]);
        rest = rest[end..];
    }
}

export fn content_transform_v1_transform() i32 {
    const f = transform() orelse return 0;
    return bv.fail(f.code, f.message);
}
