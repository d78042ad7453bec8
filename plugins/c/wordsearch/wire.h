/*
 * wire.h: the protobuf wire format, as much of it as a plugin needs to read
 * its request and write its response, with no C library and no allocation.
 *
 * Reading checks what prost (the host's codec) checks: keys up to 32 bits
 * with a field number of at least 1, wire types 0, 1, 2, 3, 4 and 5 only,
 * varints of at most ten bytes, lengths inside the message, groups closed by
 * their own field number and nested at most 100 deep, UTF-8 in string
 * fields. Anything else makes the request malformed. Unknown fields of
 * every wire type are skipped, so newer hosts may add fields.
 *
 * Writing produces the canonical proto3 encoding prost produces: fields in
 * field-number order, fields at their default value (0, empty) left out.
 *
 * Every function is `static inline`: include this header where needed.
 */
#ifndef BITVAULT_WIRE_H
#define BITVAULT_WIRE_H

#include <stddef.h>
#include <stdint.h>

/* Wire types. */
#define WIRE_VARINT 0
#define WIRE_I64 1
#define WIRE_LEN 2
#define WIRE_SGROUP 3
#define WIRE_EGROUP 4
#define WIRE_I32 5

/* How deeply groups may nest in a skipped field (prost's recursion limit). */
#define WIRE_MAX_DEPTH 100

/* Bytes still to read: [p, end). */
typedef struct {
    const uint8_t *p;
    const uint8_t *end;
} wire_reader;

/* A length-delimited value: a pointer into the request and a length. */
typedef struct {
    const uint8_t *ptr;
    uint32_t len;
} wire_bytes;

static inline wire_reader wire_reader_of(const uint8_t *p, size_t len) {
    wire_reader r = {p, p + len};
    return r;
}

static inline int wire_at_end(const wire_reader *r) { return r->p == r->end; }

/* Reads a varint: 0 on success, -1 if it is truncated or longer than ten
 * bytes, or if its tenth byte holds more than the 64th bit. */
static inline int wire_read_varint(wire_reader *r, uint64_t *out) {
    uint64_t v = 0;
    for (int i = 0; i < 10; i++) {
        if (r->p == r->end) {
            return -1;
        }
        uint8_t b = *r->p++;
        if (i == 9 && b > 1) {
            return -1;
        }
        v |= (uint64_t)(b & 0x7f) << (7 * i);
        if (b < 0x80) {
            *out = v;
            return 0;
        }
    }
    return -1;
}

/* Reads a field's key: 0 on success, -1 for a key over 32 bits, field
 * number 0 or wire types 6 and 7. */
static inline int wire_read_key(wire_reader *r, uint32_t *field, uint32_t *wire_type) {
    uint64_t key;
    if (wire_read_varint(r, &key) != 0 || key > UINT32_MAX) {
        return -1;
    }
    *wire_type = (uint32_t)(key & 7);
    *field = (uint32_t)(key >> 3);
    if (*wire_type > WIRE_I32 || *field == 0) {
        return -1;
    }
    return 0;
}

/* Reads a length-delimited value, pointing into the message. */
static inline int wire_read_bytes(wire_reader *r, wire_bytes *out) {
    uint64_t len;
    if (wire_read_varint(r, &len) != 0 || len > (uint64_t)(r->end - r->p)) {
        return -1;
    }
    out->ptr = r->p;
    out->len = (uint32_t)len;
    r->p += len;
    return 0;
}

/* Skips `n` bytes. */
static inline int wire_skip_n(wire_reader *r, size_t n) {
    if ((size_t)(r->end - r->p) < n) {
        return -1;
    }
    r->p += n;
    return 0;
}

/* Skips the value of a field whose key has been read, including a whole
 * group (with the groups nested in it) after its start key. A lone end key
 * is malformed. */
static inline int wire_skip(wire_reader *r, uint32_t field, uint32_t wire_type) {
    uint32_t open[WIRE_MAX_DEPTH];
    int depth = 0;
    for (;;) {
        wire_bytes ignored;
        uint64_t v;
        int rc;
        switch (wire_type) {
        case WIRE_VARINT:
            rc = wire_read_varint(r, &v);
            break;
        case WIRE_I64:
            rc = wire_skip_n(r, 8);
            break;
        case WIRE_LEN:
            rc = wire_read_bytes(r, &ignored);
            break;
        case WIRE_I32:
            rc = wire_skip_n(r, 4);
            break;
        case WIRE_SGROUP:
            if (depth == WIRE_MAX_DEPTH) {
                return -1;
            }
            open[depth++] = field;
            rc = 0;
            break;
        default: /* WIRE_EGROUP */
            if (depth == 0 || open[depth - 1] != field) {
                return -1;
            }
            depth--;
            rc = 0;
            break;
        }
        if (rc != 0) {
            return -1;
        }
        if (depth == 0) {
            return 0;
        }
        if (wire_read_key(r, &field, &wire_type) != 0) {
            return -1;
        }
    }
}

/* Whether [p, p + len) is UTF-8 as Rust's `str::from_utf8` defines it: no
 * overlong forms, no surrogates, nothing past U+10FFFF. */
static inline int wire_utf8_valid(const uint8_t *p, size_t len) {
    size_t i = 0;
    while (i < len) {
        if (len - i >= 8) {
            /* Eight ASCII bytes at a time. */
            uint64_t w;
            __builtin_memcpy(&w, p + i, 8);
            if ((w & 0x8080808080808080ull) == 0) {
                i += 8;
                continue;
            }
        }
        uint8_t b = p[i];
        if (b < 0x80) {
            i++;
            continue;
        }
        size_t n;
        uint8_t lo = 0x80, hi = 0xbf;
        if (b >= 0xc2 && b <= 0xdf) {
            n = 2;
        } else if (b >= 0xe0 && b <= 0xef) {
            n = 3;
            if (b == 0xe0) {
                lo = 0xa0;
            } else if (b == 0xed) {
                hi = 0x9f;
            }
        } else if (b >= 0xf0 && b <= 0xf4) {
            n = 4;
            if (b == 0xf0) {
                lo = 0x90;
            } else if (b == 0xf4) {
                hi = 0x8f;
            }
        } else {
            return 0;
        }
        if (len - i < n || p[i + 1] < lo || p[i + 1] > hi) {
            return 0;
        }
        for (size_t k = 2; k < n; k++) {
            if ((p[i + k] & 0xc0) != 0x80) {
                return 0;
            }
        }
        i += n;
    }
    return 1;
}

/* Reads a string field's value: length-delimited and UTF-8. */
static inline int wire_read_string(wire_reader *r, wire_bytes *out) {
    if (wire_read_bytes(r, out) != 0 || !wire_utf8_valid(out->ptr, out->len)) {
        return -1;
    }
    return 0;
}

/* --- writing --- */

/* The encoded size of a varint. */
static inline uint32_t wire_varint_size(uint64_t v) {
    uint32_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

/* Encodes a varint at `out` (room for ten bytes); returns its size. */
static inline uint32_t wire_put_varint(uint8_t *out, uint64_t v) {
    uint32_t n = 0;
    while (v >= 0x80) {
        out[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    out[n++] = (uint8_t)v;
    return n;
}

/* Encodes a key at `out`; returns its size. */
static inline uint32_t wire_put_key(uint8_t *out, uint32_t field, uint32_t wire_type) {
    return wire_put_varint(out, ((uint64_t)field << 3) | wire_type);
}

/* The encoded size of a varint field, 0 when it holds the default 0. */
static inline uint32_t wire_varint_field_size(uint32_t field, uint64_t v) {
    return v == 0 ? 0 : wire_varint_size((uint64_t)field << 3) + wire_varint_size(v);
}

/* The encoded size of a length-delimited field of `len` bytes, 0 when it
 * is empty. */
static inline uint32_t wire_len_field_size(uint32_t field, uint64_t len) {
    return len == 0 ? 0
                    : (uint32_t)(wire_varint_size((uint64_t)field << 3) + wire_varint_size(len) +
                                 len);
}

#endif /* BITVAULT_WIRE_H */
