/*
 * bitvault.h: the BitVault Plugins capability ABI, version 1, for C and
 * C++ plugins compiled to WebAssembly (wasm32).
 *
 * This header is kept in step with the Rust definitions in the
 * `bitvault-abi` crate (`crates/abi/src/lib.rs`); `crates/abi/tests/header.rs`
 * fails when they disagree. The normative specification is `docs/abi.md`.
 *
 * Conventions:
 * - Every host function is imported from the module "bitvault_v1".
 * - Pointers and lengths are offsets and sizes in the plugin's own linear
 *   memory, which must be exported as "memory" (wasm-ld does so by default).
 *   The host interprets them as unsigned 32-bit values.
 * - A host function that refuses a request returns a negative
 *   BITVAULT_ERR_* code and the plugin keeps running. Failures that end the
 *   call (output limit, log or host-call limits, the deadline) never return.
 * - An entry point is an exported function `int32_t name(void)`: 0 means
 *   success, any other value is the plugin's own error code.
 */
#ifndef BITVAULT_H
#define BITVAULT_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The ABI version this header describes (import module "bitvault_v1"). */
#define BITVAULT_ABI_VERSION 1

/* Error codes returned by host functions. */

/* A (ptr, len) pair does not lie inside the plugin's linear memory
 * (including pairs whose end wraps past 2^32). */
#define BITVAULT_ERR_OUT_OF_BOUNDS (-1)
/* The module exports no linear memory named "memory". */
#define BITVAULT_ERR_NO_MEMORY (-2)
/* An argument is outside its range (an offset past the end of the input,
 * an unknown log level). */
#define BITVAULT_ERR_INVALID_ARGUMENT (-3)
/* A single argument exceeds its size bound (an error message longer than
 * the error_message_bytes limit). */
#define BITVAULT_ERR_TOO_LARGE (-4)
/* The bytes are not valid UTF-8 where text is required. */
#define BITVAULT_ERR_INVALID_UTF8 (-5)
/* The key does not exist (config_get), or no result is staged
 * (result_read). */
#define BITVAULT_ERR_NOT_FOUND (-6)
/* The function is linked but its capability is withheld (clock_now,
 * random_fill). */
#define BITVAULT_ERR_NOT_PERMITTED (-7)

/* A quota would be exceeded: a KV write past a namespace quota (nothing was
 * changed), or an HTTP request past the grant's per-invocation count
 * (nothing was sent). */
#define BITVAULT_ERR_QUOTA_EXCEEDED (-8)
/* The host cannot serve the request now (no KV store bound, or the store
 * failed). */
#define BITVAULT_ERR_UNAVAILABLE (-9)
/* Emitting would make the causal chain of events deeper than the host
 * allows; nothing was published. */
#define BITVAULT_ERR_DEPTH_EXCEEDED (-10)
/* An HTTP request hit its timeout or the invocation's deadline. */
#define BITVAULT_ERR_TIMED_OUT (-11)
/* The peer could not be reached or spoke badly (connection refused or reset,
 * TLS failure, malformed response or redirect, too many redirects). */
#define BITVAULT_ERR_CONNECTION_FAILED (-12)

/* Clocks for bitvault_clock_now. */
#define BITVAULT_CLOCK_WALL 0      /* ms since the Unix epoch */
#define BITVAULT_CLOCK_MONOTONIC 1 /* ms since the invocation started */

/* The most bytes one bitvault_random_fill call may ask for. */
#define BITVAULT_RANDOM_FILL_MAX 65536

/* Log levels for bitvault_log. */
#define BITVAULT_LOG_TRACE 0
#define BITVAULT_LOG_DEBUG 1
#define BITVAULT_LOG_INFO 2
#define BITVAULT_LOG_WARN 3
#define BITVAULT_LOG_ERROR 4

/* Exports a function under `name`, e.g.
 *   BITVAULT_EXPORT(run) int32_t run(void) { ... }
 */
#define BITVAULT_EXPORT(name) __attribute__((export_name(#name)))

/* Converts a pointer into linear memory to the int32_t the host functions
 * take, e.g. bitvault_write_output(BITVAULT_PTR(buf), n). */
#define BITVAULT_PTR(p) ((int32_t)(uintptr_t)(p))

/*
 * bitvault_v1.input_len: () -> i32
 *
 * Returns the length in bytes of this invocation's request. Never fails.
 */
__attribute__((import_module("bitvault_v1"), import_name("input_len")))
int32_t bitvault_input_len(void);

/*
 * bitvault_v1.read_input: (offset: i32, ptr: i32, len: i32) -> i32
 *
 * Copies up to `len` request bytes, starting at request offset `offset`, to
 * linear memory at `ptr`. Returns the number of bytes copied, which is 0 when
 * `offset` equals the request length (the end), or:
 * - BITVAULT_ERR_INVALID_ARGUMENT if `offset` is past the end of the request,
 * - BITVAULT_ERR_NO_MEMORY if the module exports no "memory",
 * - BITVAULT_ERR_OUT_OF_BOUNDS if the whole buffer (ptr, len) does not lie
 *   in linear memory, even when fewer bytes would be copied.
 */
__attribute__((import_module("bitvault_v1"), import_name("read_input")))
int32_t bitvault_read_input(int32_t offset, int32_t ptr, int32_t len);

/*
 * bitvault_v1.write_output: (ptr: i32, len: i32) -> i32
 *
 * Appends `len` bytes at `ptr` to the response. Returns 0, or
 * BITVAULT_ERR_NO_MEMORY or BITVAULT_ERR_OUT_OF_BOUNDS (checked before the
 * output limit). If the response would exceed the output limit the call
 * ends with the `output_limit` outcome and this function does not return.
 */
__attribute__((import_module("bitvault_v1"), import_name("write_output")))
int32_t bitvault_write_output(int32_t ptr, int32_t len);

/*
 * bitvault_v1.set_error: (ptr: i32, len: i32) -> i32
 *
 * Sets the UTF-8 message that accompanies a non-zero return code of the
 * entry point, replacing any earlier one. Returns 0, or
 * BITVAULT_ERR_TOO_LARGE (len over the error_message_bytes limit),
 * BITVAULT_ERR_NO_MEMORY, BITVAULT_ERR_OUT_OF_BOUNDS or
 * BITVAULT_ERR_INVALID_UTF8.
 */
__attribute__((import_module("bitvault_v1"), import_name("set_error")))
int32_t bitvault_set_error(int32_t ptr, int32_t len);

/*
 * bitvault_v1.log: (level: i32, ptr: i32, len: i32) -> i32
 *
 * Logs a UTF-8 message at a BITVAULT_LOG_* level. Returns 0, or
 * BITVAULT_ERR_INVALID_ARGUMENT (unknown level), BITVAULT_ERR_NO_MEMORY,
 * BITVAULT_ERR_OUT_OF_BOUNDS or BITVAULT_ERR_INVALID_UTF8. If the message
 * would exceed the log_lines or log_bytes limit the call ends and this
 * function does not return.
 */
__attribute__((import_module("bitvault_v1"), import_name("log")))
int32_t bitvault_log(int32_t level, int32_t ptr, int32_t len);

/*
 * bitvault_v1.result_read: (offset: i32, ptr: i32, len: i32) -> i32
 *
 * Copies up to len bytes of the staged result (the value of the last
 * successful config_get), starting at offset, to ptr. Returns the number of
 * bytes copied (0 at the end), or BITVAULT_ERR_NOT_FOUND (nothing staged),
 * BITVAULT_ERR_INVALID_ARGUMENT (offset past the end),
 * BITVAULT_ERR_NO_MEMORY or BITVAULT_ERR_OUT_OF_BOUNDS.
 */
__attribute__((import_module("bitvault_v1"), import_name("result_read")))
int32_t bitvault_result_read(int32_t offset, int32_t ptr, int32_t len);

/*
 * bitvault_v1.config_get: (key_ptr: i32, key_len: i32) -> i32
 *
 * Looks up the install-time configuration value of a UTF-8 key. Returns
 * the value's length and stages it for bitvault_result_read, or
 * BITVAULT_ERR_NOT_FOUND, BITVAULT_ERR_NO_MEMORY,
 * BITVAULT_ERR_OUT_OF_BOUNDS or BITVAULT_ERR_INVALID_UTF8.
 */
__attribute__((import_module("bitvault_v1"), import_name("config_get")))
int32_t bitvault_config_get(int32_t key_ptr, int32_t key_len);

/*
 * bitvault_v1.clock_now: (clock: i32) -> i64
 *
 * The time in whole milliseconds on a BITVAULT_CLOCK_* clock, or
 * BITVAULT_ERR_NOT_PERMITTED (clock withheld) or
 * BITVAULT_ERR_INVALID_ARGUMENT (unknown clock).
 */
__attribute__((import_module("bitvault_v1"), import_name("clock_now")))
int64_t bitvault_clock_now(int32_t clock);

/*
 * bitvault_v1.random_fill: (ptr: i32, len: i32) -> i32
 *
 * Fills len bytes at ptr from the host's CSPRNG. Returns 0, or
 * BITVAULT_ERR_NOT_PERMITTED (randomness withheld), BITVAULT_ERR_TOO_LARGE
 * (len over BITVAULT_RANDOM_FILL_MAX), BITVAULT_ERR_NO_MEMORY or
 * BITVAULT_ERR_OUT_OF_BOUNDS.
 */
__attribute__((import_module("bitvault_v1"), import_name("random_fill")))
int32_t bitvault_random_fill(int32_t ptr, int32_t len);

/*
 * bitvault_v1.kv_get: (key_ptr: i32, key_len: i32) -> i32
 *
 * Looks up a key in the plugin's KV namespace. Returns the value's length
 * and stages it for bitvault_result_read, or BITVAULT_ERR_NOT_FOUND,
 * BITVAULT_ERR_UNAVAILABLE, BITVAULT_ERR_NO_MEMORY or
 * BITVAULT_ERR_OUT_OF_BOUNDS.
 */
__attribute__((import_module("bitvault_v1"), import_name("kv_get")))
int32_t bitvault_kv_get(int32_t key_ptr, int32_t key_len);

/*
 * bitvault_v1.kv_put: (key_ptr: i32, key_len: i32, value_ptr: i32,
 *                      value_len: i32) -> i32
 *
 * Stores a value durably. Returns 0, or BITVAULT_ERR_QUOTA_EXCEEDED,
 * BITVAULT_ERR_UNAVAILABLE, BITVAULT_ERR_NO_MEMORY or
 * BITVAULT_ERR_OUT_OF_BOUNDS.
 */
__attribute__((import_module("bitvault_v1"), import_name("kv_put")))
int32_t bitvault_kv_put(int32_t key_ptr, int32_t key_len, int32_t value_ptr,
                        int32_t value_len);

/*
 * bitvault_v1.kv_delete: (key_ptr: i32, key_len: i32) -> i32
 *
 * Deletes a key. Returns 1 if it existed, 0 if not, or
 * BITVAULT_ERR_UNAVAILABLE, BITVAULT_ERR_NO_MEMORY or
 * BITVAULT_ERR_OUT_OF_BOUNDS.
 */
__attribute__((import_module("bitvault_v1"), import_name("kv_delete")))
int32_t bitvault_kv_delete(int32_t key_ptr, int32_t key_len);

/*
 * bitvault_v1.kv_list: (prefix_ptr: i32, prefix_len: i32, cursor_ptr: i32,
 *                       cursor_len: i32, limit: i32) -> i32
 *
 * Stages one page of at most limit (1..1000) keys under a prefix, after the
 * cursor (cursor_len -1: from the start), for bitvault_result_read, and
 * returns the page's length. Page: u32 LE count; per key a u32 LE length
 * and its bytes; one byte, 1 if a next cursor follows (u32 LE length and
 * bytes), else 0. Errors: BITVAULT_ERR_INVALID_ARGUMENT (limit),
 * BITVAULT_ERR_UNAVAILABLE, BITVAULT_ERR_NO_MEMORY,
 * BITVAULT_ERR_OUT_OF_BOUNDS.
 */
__attribute__((import_module("bitvault_v1"), import_name("kv_list")))
int32_t bitvault_kv_list(int32_t prefix_ptr, int32_t prefix_len,
                         int32_t cursor_ptr, int32_t cursor_len,
                         int32_t limit);

/*
 * bitvault_v1.emit_event: (topic_ptr: i32, topic_len: i32, payload_ptr: i32,
 *                          payload_len: i32) -> i32
 *
 * Publishes an event on a UTF-8 topic the grant allows. Returns 0, or
 * BITVAULT_ERR_NOT_PERMITTED (topic not granted), BITVAULT_ERR_TOO_LARGE
 * (payload over the host's bound), BITVAULT_ERR_DEPTH_EXCEEDED,
 * BITVAULT_ERR_UNAVAILABLE (no bus, or it is full),
 * BITVAULT_ERR_INVALID_UTF8, BITVAULT_ERR_NO_MEMORY or
 * BITVAULT_ERR_OUT_OF_BOUNDS.
 */
__attribute__((import_module("bitvault_v1"), import_name("emit_event")))
int32_t bitvault_emit_event(int32_t topic_ptr, int32_t topic_len,
                            int32_t payload_ptr, int32_t payload_len);

/*
 * bitvault_v1.http_request: (head_ptr: i32, head_len: i32, body_ptr: i32,
 *                            body_len: i32) -> i32
 *
 * Sends an HTTP request to an origin the grant allows. The head is: the
 * method and the absolute URL, each a u32 LE length and its bytes; a u32 LE
 * header count; per header the name and the value, each a u32 LE length and
 * its bytes. The body is (body_ptr, body_len), body_len 0 for none. Returns
 * the length of the response staged for bitvault_result_read: u32 LE status;
 * u32 LE header count; per header name and value as above (names in lower
 * case); the body as a u32 LE length and its bytes. Errors:
 * BITVAULT_ERR_NOT_PERMITTED (URL, method, address or a redirect outside the
 * grant), BITVAULT_ERR_QUOTA_EXCEEDED (request count), BITVAULT_ERR_TOO_LARGE
 * (request or response over the host's bounds), BITVAULT_ERR_TIMED_OUT,
 * BITVAULT_ERR_CONNECTION_FAILED, BITVAULT_ERR_INVALID_ARGUMENT (malformed
 * head, unsupported method, forbidden or malformed header, bad URL),
 * BITVAULT_ERR_INVALID_UTF8, BITVAULT_ERR_UNAVAILABLE (no HTTP client bound),
 * BITVAULT_ERR_NO_MEMORY or BITVAULT_ERR_OUT_OF_BOUNDS.
 */
__attribute__((import_module("bitvault_v1"), import_name("http_request")))
int32_t bitvault_http_request(int32_t head_ptr, int32_t head_len,
                              int32_t body_ptr, int32_t body_len);

#ifdef __cplusplus
}
#endif

#endif /* BITVAULT_H */
