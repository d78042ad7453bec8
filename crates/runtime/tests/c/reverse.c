/*
 * reverse.c: a freestanding C plugin on the raw bitvault_v1 ABI, built and
 * run by crates/runtime/tests/it/c_plugin.rs.
 *
 * Exports:
 * - reverse: responds with the request reversed, logging one info line;
 *   refuses requests larger than its buffer with code 1 and a message.
 * - fail: sets an error message and returns 7.
 *
 * No libc: the few loops it needs are written out.
 */
#include "bitvault.h"

#define CAPACITY 65536

static unsigned char buf[CAPACITY];

/* Sets the error message from a string literal. */
#define SET_ERROR(lit) bitvault_set_error(BITVAULT_PTR(lit), (int32_t)(sizeof(lit) - 1))

/* Appends the decimal digits of `n` at `out`; returns how many. */
static int32_t put_u32(char *out, uint32_t n) {
    char tmp[10];
    int32_t len = 0;
    do {
        tmp[len++] = (char)('0' + n % 10);
        n /= 10;
    } while (n != 0);
    for (int32_t i = 0; i < len; i++) {
        out[i] = tmp[len - 1 - i];
    }
    return len;
}

/* Appends the NUL-terminated `s` at `out`; returns how many bytes. */
static int32_t put_str(char *out, const char *s) {
    int32_t i = 0;
    while (s[i] != '\0') {
        out[i] = s[i];
        i++;
    }
    return i;
}

BITVAULT_EXPORT(reverse)
int32_t reverse(void) {
    int32_t len = bitvault_input_len();
    if (len > CAPACITY) {
        SET_ERROR("input too large: at most 65536 bytes");
        return 1;
    }

    /* Read in a loop: read_input may copy fewer bytes than asked. */
    int32_t off = 0;
    for (;;) {
        int32_t n = bitvault_read_input(off, BITVAULT_PTR(buf + off), len - off);
        if (n < 0) {
            SET_ERROR("read_input failed");
            return 2;
        }
        if (n == 0) {
            break;
        }
        off += n;
    }

    for (int32_t i = 0, j = off - 1; i < j; i++, j--) {
        unsigned char t = buf[i];
        buf[i] = buf[j];
        buf[j] = t;
    }
    if (bitvault_write_output(BITVAULT_PTR(buf), off) != 0) {
        SET_ERROR("write_output failed");
        return 3;
    }

    char line[64];
    int32_t n = put_str(line, "reversed ");
    n += put_u32(line + n, (uint32_t)off);
    n += put_str(line + n, " bytes");
    bitvault_log(BITVAULT_LOG_INFO, BITVAULT_PTR(line), n);
    return 0;
}

BITVAULT_EXPORT(fail)
int32_t fail(void) {
    SET_ERROR("deliberate failure");
    return 7;
}
