;; wordcount: a plugin in WebAssembly text on the raw bitvault_v1 ABI.
;;
;; Reads the whole request in 4 KiB chunks, counts lines, words and bytes
;; the way `wc` does, logs a summary, and responds with
;; `{"lines":L,"words":W,"bytes":B}`.
;;
;;   bitvault-plugin run examples/wordcount.wat count --input README.md
(module
  (import "bitvault_v1" "read_input" (func $read_input (param i32 i32 i32) (result i32)))
  (import "bitvault_v1" "write_output" (func $write_output (param i32 i32) (result i32)))
  (import "bitvault_v1" "log" (func $log (param i32 i32 i32) (result i32)))
  (memory (export "memory") 1)

  ;; 0..4096: input chunk; 4096..: text pieces; 8192..: output being built
  (data (i32.const 4096) "{\"lines\":")
  (data (i32.const 4112) ",\"words\":")
  (data (i32.const 4128) ",\"bytes\":")
  (data (i32.const 4144) "}\n")
  (data (i32.const 4160) "counted the request")

  (global $out (mut i32) (i32.const 8192))

  ;; append `len` bytes at `ptr` to the output being built
  (func $put (param $ptr i32) (param $len i32)
    (memory.copy (global.get $out) (local.get $ptr) (local.get $len))
    (global.set $out (i32.add (global.get $out) (local.get $len))))

  ;; append the decimal form of `n`
  (func $put_u64 (param $n i64) (local $p i32) (local $start i32)
    ;; digits are written backwards into 8000..8020, then copied
    (local.set $p (i32.const 8020))
    (loop $digits
      (local.set $p (i32.sub (local.get $p) (i32.const 1)))
      (i64.store8 (local.get $p) (i64.add (i64.const 48) (i64.rem_u (local.get $n) (i64.const 10))))
      (local.set $n (i64.div_u (local.get $n) (i64.const 10)))
      (br_if $digits (i64.ne (local.get $n) (i64.const 0))))
    (call $put (local.get $p) (i32.sub (i32.const 8020) (local.get $p))))

  (func $is_space (param $c i32) (result i32)
    (i32.or
      (i32.eq (local.get $c) (i32.const 32))
      (i32.and (i32.ge_u (local.get $c) (i32.const 9)) (i32.le_u (local.get $c) (i32.const 13)))))

  (func (export "count") (result i32)
    (local $off i32) (local $n i32) (local $i i32) (local $c i32)
    (local $in_word i32) (local $lines i64) (local $words i64) (local $bytes i64)
    (block $eof
      (loop $chunks
        (local.set $n (call $read_input (local.get $off) (i32.const 0) (i32.const 4096)))
        (if (i32.lt_s (local.get $n) (i32.const 0)) (then (return (i32.const 1))))
        (br_if $eof (i32.eqz (local.get $n)))
        (local.set $i (i32.const 0))
        (loop $bytes_loop
          (local.set $c (i32.load8_u (local.get $i)))
          (if (i32.eq (local.get $c) (i32.const 10))
            (then (local.set $lines (i64.add (local.get $lines) (i64.const 1)))))
          (if (call $is_space (local.get $c))
            (then (local.set $in_word (i32.const 0)))
            (else
              (if (i32.eqz (local.get $in_word))
                (then (local.set $words (i64.add (local.get $words) (i64.const 1)))))
              (local.set $in_word (i32.const 1))))
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br_if $bytes_loop (i32.lt_u (local.get $i) (local.get $n))))
        (local.set $bytes (i64.add (local.get $bytes) (i64.extend_i32_u (local.get $n))))
        (local.set $off (i32.add (local.get $off) (local.get $n)))
        (br $chunks)))
    (drop (call $log (i32.const 2) (i32.const 4160) (i32.const 19)))
    (call $put (i32.const 4096) (i32.const 9))
    (call $put_u64 (local.get $lines))
    (call $put (i32.const 4112) (i32.const 9))
    (call $put_u64 (local.get $words))
    (call $put (i32.const 4128) (i32.const 9))
    (call $put_u64 (local.get $bytes))
    (call $put (i32.const 4144) (i32.const 2))
    (call $write_output (i32.const 8192) (i32.sub (global.get $out) (i32.const 8192)))))
