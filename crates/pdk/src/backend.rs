//! The host calls, on slices: the `bitvault_v1` imports on wasm targets,
//! the in-memory [`testing::Host`](crate::testing::Host) elsewhere.

#[cfg(target_family = "wasm")]
mod imp {
    #[link(wasm_import_module = "bitvault_v1")]
    unsafe extern "C" {
        #[link_name = "input_len"]
        fn sys_input_len() -> i32;
        #[link_name = "read_input"]
        fn sys_read_input(offset: i32, ptr: i32, len: i32) -> i32;
        #[link_name = "write_output"]
        fn sys_write_output(ptr: i32, len: i32) -> i32;
        #[link_name = "set_error"]
        fn sys_set_error(ptr: i32, len: i32) -> i32;
        #[link_name = "log"]
        fn sys_log(level: i32, ptr: i32, len: i32) -> i32;
        #[link_name = "result_read"]
        fn sys_result_read(offset: i32, ptr: i32, len: i32) -> i32;
        #[link_name = "config_get"]
        fn sys_config_get(key_ptr: i32, key_len: i32) -> i32;
        #[link_name = "clock_now"]
        fn sys_clock_now(clock: i32) -> i64;
        #[link_name = "random_fill"]
        fn sys_random_fill(ptr: i32, len: i32) -> i32;
        #[link_name = "kv_get"]
        fn sys_kv_get(key_ptr: i32, key_len: i32) -> i32;
        #[link_name = "kv_put"]
        fn sys_kv_put(key_ptr: i32, key_len: i32, value_ptr: i32, value_len: i32) -> i32;
        #[link_name = "kv_delete"]
        fn sys_kv_delete(key_ptr: i32, key_len: i32) -> i32;
        #[link_name = "kv_list"]
        fn sys_kv_list(
            prefix_ptr: i32,
            prefix_len: i32,
            cursor_ptr: i32,
            cursor_len: i32,
            limit: i32,
        ) -> i32;
        #[link_name = "emit_event"]
        fn sys_emit_event(
            topic_ptr: i32,
            topic_len: i32,
            payload_ptr: i32,
            payload_len: i32,
        ) -> i32;
        #[link_name = "http_request"]
        fn sys_http_request(head_ptr: i32, head_len: i32, body_ptr: i32, body_len: i32) -> i32;
    }

    // On wasm32 a pointer and a length fit an i32 each: linear memory is
    // at most 4 GiB and these are addresses in it. The host reads the
    // value as unsigned.
    fn p(b: &[u8]) -> (i32, i32) {
        (b.as_ptr() as usize as i32, b.len() as i32)
    }

    fn pm(b: &mut [u8]) -> (i32, i32) {
        (b.as_mut_ptr() as usize as i32, b.len() as i32)
    }

    // SAFETY (for every block below): each import only reads or writes the
    // `(ptr, len)` ranges given, which come from live Rust slices of exactly
    // that length (the host bounds-checks them again), and keeps no pointer
    // after returning.
    pub(crate) fn input_len() -> i32 {
        // SAFETY: see above; no arguments.
        unsafe { sys_input_len() }
    }
    pub(crate) fn read_input(offset: usize, buf: &mut [u8]) -> i32 {
        let (ptr, len) = pm(buf);
        // SAFETY: see above.
        unsafe { sys_read_input(offset as i32, ptr, len) }
    }
    pub(crate) fn write_output(b: &[u8]) -> i32 {
        let (ptr, len) = p(b);
        // SAFETY: see above.
        unsafe { sys_write_output(ptr, len) }
    }
    pub(crate) fn set_error(b: &[u8]) -> i32 {
        let (ptr, len) = p(b);
        // SAFETY: see above.
        unsafe { sys_set_error(ptr, len) }
    }
    pub(crate) fn log(level: i32, b: &[u8]) -> i32 {
        let (ptr, len) = p(b);
        // SAFETY: see above.
        unsafe { sys_log(level, ptr, len) }
    }
    pub(crate) fn result_read(offset: usize, buf: &mut [u8]) -> i32 {
        let (ptr, len) = pm(buf);
        // SAFETY: see above.
        unsafe { sys_result_read(offset as i32, ptr, len) }
    }
    pub(crate) fn config_get(key: &[u8]) -> i32 {
        let (ptr, len) = p(key);
        // SAFETY: see above.
        unsafe { sys_config_get(ptr, len) }
    }
    pub(crate) fn clock_now(clock: i32) -> i64 {
        // SAFETY: see above; no pointers.
        unsafe { sys_clock_now(clock) }
    }
    pub(crate) fn random_fill(buf: &mut [u8]) -> i32 {
        let (ptr, len) = pm(buf);
        // SAFETY: see above.
        unsafe { sys_random_fill(ptr, len) }
    }
    pub(crate) fn kv_get(key: &[u8]) -> i32 {
        let (ptr, len) = p(key);
        // SAFETY: see above.
        unsafe { sys_kv_get(ptr, len) }
    }
    pub(crate) fn kv_put(key: &[u8], value: &[u8]) -> i32 {
        let ((kp, kl), (vp, vl)) = (p(key), p(value));
        // SAFETY: see above.
        unsafe { sys_kv_put(kp, kl, vp, vl) }
    }
    pub(crate) fn kv_delete(key: &[u8]) -> i32 {
        let (ptr, len) = p(key);
        // SAFETY: see above.
        unsafe { sys_kv_delete(ptr, len) }
    }
    pub(crate) fn kv_list(prefix: &[u8], cursor: Option<&[u8]>, limit: i32) -> i32 {
        let (pp, pl) = p(prefix);
        let (cp, cl) = cursor.map_or((0, -1), p);
        // SAFETY: see above; a cursor length of -1 means no cursor and the
        // host does not read `cp`.
        unsafe { sys_kv_list(pp, pl, cp, cl, limit) }
    }
    pub(crate) fn emit_event(topic: &[u8], payload: &[u8]) -> i32 {
        let ((tp, tl), (pp, pl)) = (p(topic), p(payload));
        // SAFETY: see above.
        unsafe { sys_emit_event(tp, tl, pp, pl) }
    }
    pub(crate) fn http_request(head: &[u8], body: &[u8]) -> i32 {
        let ((hp, hl), (bp, bl)) = (p(head), p(body));
        // SAFETY: see above.
        unsafe { sys_http_request(hp, hl, bp, bl) }
    }
}

#[cfg(not(target_family = "wasm"))]
mod imp {
    use crate::testing::with_host;

    pub(crate) fn input_len() -> i32 {
        with_host(|h| h.input_len())
    }
    pub(crate) fn read_input(offset: usize, buf: &mut [u8]) -> i32 {
        with_host(|h| h.read_input(offset, buf))
    }
    pub(crate) fn write_output(b: &[u8]) -> i32 {
        with_host(|h| h.write_output(b))
    }
    pub(crate) fn set_error(b: &[u8]) -> i32 {
        with_host(|h| h.set_error(b))
    }
    pub(crate) fn log(level: i32, b: &[u8]) -> i32 {
        with_host(|h| h.log(level, b))
    }
    pub(crate) fn result_read(offset: usize, buf: &mut [u8]) -> i32 {
        with_host(|h| h.result_read(offset, buf))
    }
    pub(crate) fn config_get(key: &[u8]) -> i32 {
        with_host(|h| h.config_get(key))
    }
    pub(crate) fn clock_now(clock: i32) -> i64 {
        with_host(|h| h.clock_now(clock))
    }
    pub(crate) fn random_fill(buf: &mut [u8]) -> i32 {
        with_host(|h| h.random_fill(buf))
    }
    pub(crate) fn kv_get(key: &[u8]) -> i32 {
        with_host(|h| h.kv_get(key))
    }
    pub(crate) fn kv_put(key: &[u8], value: &[u8]) -> i32 {
        with_host(|h| h.kv_put(key, value))
    }
    pub(crate) fn kv_delete(key: &[u8]) -> i32 {
        with_host(|h| h.kv_delete(key))
    }
    pub(crate) fn kv_list(prefix: &[u8], cursor: Option<&[u8]>, limit: i32) -> i32 {
        with_host(|h| h.kv_list(prefix, cursor, limit))
    }
    pub(crate) fn emit_event(topic: &[u8], payload: &[u8]) -> i32 {
        with_host(|h| h.emit_event(topic, payload))
    }
    pub(crate) fn http_request(head: &[u8], body: &[u8]) -> i32 {
        // The handler runs outside the borrow of the host, so that it may
        // not, and need not, call back into the SDK.
        let (request, handler) = match with_host(|h| h.http_begin(head, body)) {
            Ok(v) => v,
            Err(code) => return code,
        };
        let answer = handler(&request);
        with_host(|h| h.http_end(answer))
    }
}

pub(crate) use imp::*;
