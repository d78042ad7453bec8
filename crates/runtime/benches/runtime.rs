//! Criterion benchmarks of the runtime, each figure next to its baseline in
//! the same run: compile vs cached load, fresh invoke vs the raw engine,
//! 1 MiB echo vs the raw engine and memcpy, compute loops with and without
//! metering vs native code, and two threads vs one (ours and the raw
//! engine's).
#![allow(missing_docs)] // criterion's macros generate undocumented items

use std::hint::black_box;
use std::sync::Arc;
use std::time::Instant;

use bitvault_abi::{Grants, LimitPolicy, Limits};
use bitvault_runtime::{CacheKey, CallContext, DiskCache, Runtime, RuntimeConfig};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use wasmer::sys::{CompilerConfig, Cranelift, EngineBuilder};
use wasmer::{Engine, Instance, Module, Store, TypedFunction, imports};
use wasmer_middlewares::Metering;
use wasmer_middlewares::metering::set_remaining_points;

const NOOP: &str = r#"
(module
  (memory (export "memory") 1)
  (func (export "noop") (result i32) (i32.const 0)))
"#;

const ECHO: &str = r#"
(module
  (import "bitvault_v1" "input_len" (func $len (result i32)))
  (import "bitvault_v1" "read_input" (func $read (param i32 i32 i32) (result i32)))
  (import "bitvault_v1" "write_output" (func $write (param i32 i32) (result i32)))
  (memory (export "memory") 17)
  (func (export "echo") (result i32) (local $n i32)
    (local.set $n (call $len))
    (drop (call $read (i32.const 0) (i32.const 0) (local.get $n)))
    (call $write (i32.const 0) (local.get $n))))
"#;

/// The raw engine's echo: the host copies in and out; the guest only
/// returns.
const RAW_ECHO: &str = r#"
(module
  (memory (export "memory") 17)
  (func (export "echo") (result i32) (i32.const 0)))
"#;

/// Two compute loops over `n` iterations: `chain` is latency-bound (each
/// step depends on the last, and mixes with a rotation so that no compiler
/// can reduce it to a closed form), `lanes` throughput-bound (four
/// independent accumulators).
const COMPUTE: &str = r#"
(module
  (func (export "chain") (param $n i32) (result i64) (local $x i64)
    (local.set $x (i64.const 1))
    (block $done (loop $l
      (br_if $done (i32.eqz (local.get $n)))
      (local.set $x (i64.xor (i64.rotl (i64.mul (local.get $x) (i64.const 6364136223846793005)) (i64.const 17)) (i64.extend_i32_u (local.get $n))))
      (local.set $n (i32.sub (local.get $n) (i32.const 1)))
      (br $l)))
    (local.get $x))
  (func (export "lanes") (param $n i32) (result i64) (local $a i64) (local $b i64) (local $c i64) (local $d i64)
    (block $done (loop $l
      (br_if $done (i32.eqz (local.get $n)))
      (local.set $a (i64.add (local.get $a) (i64.extend_i32_u (local.get $n))))
      (local.set $b (i64.xor (local.get $b) (i64.extend_i32_u (local.get $n))))
      (local.set $c (i64.add (local.get $c) (i64.const 3)))
      (local.set $d (i64.sub (local.get $d) (i64.extend_i32_u (local.get $n))))
      (local.set $n (i32.sub (local.get $n) (i32.const 1)))
      (br $l)))
    (i64.add (i64.add (local.get $a) (local.get $b)) (i64.add (local.get $c) (local.get $d)))))
"#;

const LOOP_N: i32 = 1_000_000;

fn metered_engine() -> Engine {
    let mut c = Cranelift::default();
    c.push_middleware(Arc::new(Metering::new(
        u64::MAX,
        |_: &wasmer::sys::wasmparser::Operator<'_>| 1,
    )));
    EngineBuilder::new(c).into()
}

fn plain_engine() -> Engine {
    EngineBuilder::new(Cranelift::default()).into()
}

fn limits() -> Limits {
    LimitPolicy::standard().default
}

/// A module of `n` small functions, for compile-time figures.
fn medium_module(n: usize) -> Vec<u8> {
    let mut wat = String::from("(module (memory (export \"memory\") 1)\n");
    for i in 0..n {
        wat.push_str(&format!(
            "(func (export \"f{i}\") (param i32) (result i32) (local i32) \
             (local.set 1 (i32.mul (local.get 0) (i32.const {i}))) \
             (if (result i32) (i32.gt_u (local.get 1) (i32.const 100)) \
               (then (i32.add (local.get 1) (i32.load (i32.const 0)))) \
               (else (i32.sub (local.get 1) (i32.const 7)))))\n"
        ));
    }
    wat.push(')');
    wat::parse_str(&wat).expect("valid wat")
}

fn compile_vs_cached(c: &mut Criterion) {
    let wasm = medium_module(200);
    let mut g = c.benchmark_group("compile");
    g.sample_size(20);
    g.bench_function("cranelift_compile_200_funcs", |b| {
        b.iter(|| {
            // A fresh runtime: empty memory cache, no disk cache.
            let rt = Runtime::new(RuntimeConfig::new()).unwrap();
            black_box(rt.compile(&wasm).unwrap());
        })
    });
    let dir = tempfile::tempdir().unwrap();
    let mut config = RuntimeConfig::new();
    config.disk_cache = Some(DiskCache {
        dir: dir.path().to_path_buf(),
        key: CacheKey::new([1; 32]),
    });
    Runtime::new(config.clone())
        .unwrap()
        .compile(&wasm)
        .unwrap();
    g.bench_function("disk_cached_load_200_funcs", |b| {
        b.iter(|| {
            let rt = Runtime::new(config.clone()).unwrap();
            black_box(rt.compile(&wasm).unwrap());
        })
    });
    g.finish();
}

fn fresh_invoke(c: &mut Criterion) {
    let wasm = wat::parse_str(NOOP).unwrap();
    let mut g = c.benchmark_group("fresh_invoke_noop");

    let engine = metered_engine();
    let module = Module::new(&engine, &wasm).unwrap();
    g.bench_function("raw_engine", |b| {
        b.iter(|| {
            let mut store = Store::new(engine.clone());
            let instance = Instance::new(&mut store, &module, &imports! {}).unwrap();
            set_remaining_points(&mut store, &instance, 1_000_000);
            let f: TypedFunction<(), i32> =
                instance.exports.get_typed_function(&store, "noop").unwrap();
            black_box(f.call(&mut store).unwrap())
        })
    });

    let rt = Runtime::new(RuntimeConfig::new()).unwrap();
    let p = rt.load(&wasm, &Grants::core()).unwrap();
    let ctx = CallContext::new(limits());
    g.bench_function("bitvault", |b| {
        b.iter(|| black_box(p.invoke("noop", Vec::new(), &ctx).result.unwrap()))
    });
    g.finish();
}

fn echo_1mib(c: &mut Criterion) {
    let input: Vec<u8> = (0..1 << 20).map(|i: u32| (i % 251) as u8).collect();
    let mut g = c.benchmark_group("echo_1mib");
    g.throughput(Throughput::Bytes(input.len() as u64));

    let engine = metered_engine();
    let module = Module::new(&engine, wat::parse_str(RAW_ECHO).unwrap()).unwrap();
    g.bench_function("raw_engine_direct_copy", |b| {
        b.iter(|| {
            let mut store = Store::new(engine.clone());
            let instance = Instance::new(&mut store, &module, &imports! {}).unwrap();
            set_remaining_points(&mut store, &instance, 1_000_000);
            let memory = instance.exports.get_memory("memory").unwrap().clone();
            {
                let view = memory.view(&store);
                assert!(view.data_size() >= input.len() as u64);
                // SAFETY: the memory is at least `input.len()` bytes (just
                // asserted) and nothing else accesses it during the copy.
                unsafe {
                    std::ptr::copy_nonoverlapping(input.as_ptr(), view.data_ptr(), input.len())
                };
            }
            let f: TypedFunction<(), i32> =
                instance.exports.get_typed_function(&store, "echo").unwrap();
            f.call(&mut store).unwrap();
            let view = memory.view(&store);
            let mut out = Vec::with_capacity(input.len());
            // SAFETY: as above; `out` has `input.len()` bytes of capacity.
            unsafe {
                std::ptr::copy_nonoverlapping(view.data_ptr(), out.as_mut_ptr(), input.len());
                out.set_len(input.len());
            }
            black_box(out)
        })
    });

    let rt = Runtime::new(RuntimeConfig::new()).unwrap();
    let p = rt
        .load(&wat::parse_str(ECHO).unwrap(), &Grants::core())
        .unwrap();
    let ctx = CallContext::new(limits());
    let shared = bytes::Bytes::from(input.clone());
    g.bench_function("bitvault", |b| {
        b.iter(|| black_box(p.invoke("echo", shared.clone(), &ctx).result.unwrap()))
    });

    let mut scratch = vec![0u8; input.len()];
    g.bench_function("two_memcpys", |b| {
        b.iter(|| {
            scratch.copy_from_slice(black_box(&input));
            let out = black_box(&scratch).to_vec();
            black_box(out)
        })
    });
    g.finish();
}

fn native_chain(mut n: i32) -> i64 {
    let mut x: i64 = 1;
    while n != 0 {
        x = x.wrapping_mul(6364136223846793005).rotate_left(17) ^ (n as u32 as i64);
        n -= 1;
    }
    x
}

fn native_lanes(mut n: i32) -> i64 {
    let (mut a, mut b, mut c, mut d) = (0i64, 0i64, 0i64, 0i64);
    while n != 0 {
        let v = n as u32 as i64;
        a = a.wrapping_add(v);
        b ^= v;
        c = c.wrapping_add(3);
        d = d.wrapping_sub(v);
        n -= 1;
    }
    a.wrapping_add(b).wrapping_add(c.wrapping_add(d))
}

fn compute(c: &mut Criterion) {
    let wasm = wat::parse_str(COMPUTE).unwrap();
    let metered = metered_engine();
    let metered_module = Module::new(&metered, &wasm).unwrap();
    let plain = plain_engine();
    let plain_module = Module::new(&plain, &wasm).unwrap();

    for (name, native) in [
        ("chain", native_chain as fn(i32) -> i64),
        ("lanes", native_lanes),
    ] {
        let mut g = c.benchmark_group(format!("compute_{name}_1M"));
        g.sample_size(30);
        let mut store = Store::new(metered.clone());
        let instance = Instance::new(&mut store, &metered_module, &imports! {}).unwrap();
        let f: TypedFunction<i32, i64> = instance.exports.get_typed_function(&store, name).unwrap();
        g.bench_function("wasm_metered", |b| {
            b.iter(|| {
                set_remaining_points(&mut store, &instance, u64::MAX);
                black_box(f.call(&mut store, black_box(LOOP_N)).unwrap())
            })
        });
        let mut pstore = Store::new(plain.clone());
        let pinstance = Instance::new(&mut pstore, &plain_module, &imports! {}).unwrap();
        let pf: TypedFunction<i32, i64> =
            pinstance.exports.get_typed_function(&pstore, name).unwrap();
        g.bench_function("wasm_unmetered", |b| {
            b.iter(|| black_box(pf.call(&mut pstore, black_box(LOOP_N)).unwrap()))
        });
        g.bench_function("native", |b| {
            b.iter(|| black_box(native(black_box(LOOP_N))))
        });
        g.finish();
    }
}

/// Times batches of `call` spread over one and over two threads.
fn one_vs_two_threads(c: &mut Criterion, group: &str, call: impl Fn() + Sync) {
    const BATCH: u64 = 2_000;
    let mut g = c.benchmark_group(group);
    g.throughput(Throughput::Elements(BATCH));
    for threads in [1u64, 2] {
        g.bench_with_input(
            BenchmarkId::new("threads", threads),
            &threads,
            |b, &threads| {
                b.iter_custom(|iters| {
                    let start = Instant::now();
                    for _ in 0..iters {
                        std::thread::scope(|s| {
                            for _ in 0..threads {
                                s.spawn(|| (0..BATCH / threads).for_each(|_| call()));
                            }
                        });
                    }
                    start.elapsed()
                })
            },
        );
    }
    g.finish();
}

fn threads(c: &mut Criterion) {
    let rt = Runtime::new(RuntimeConfig::new()).unwrap();
    let p = rt
        .load(&wat::parse_str(NOOP).unwrap(), &Grants::core())
        .unwrap();
    let ctx = CallContext::new(limits());
    one_vs_two_threads(c, "throughput_noop_invocations", || {
        black_box(p.invoke("noop", Vec::new(), &ctx).result.unwrap());
    });

    let engine = metered_engine();
    let module = Module::new(&engine, wat::parse_str(NOOP).unwrap()).unwrap();
    one_vs_two_threads(c, "throughput_noop_raw_engine", || {
        let mut store = Store::new(engine.clone());
        let instance = Instance::new(&mut store, &module, &imports! {}).unwrap();
        set_remaining_points(&mut store, &instance, 1_000_000);
        let f: TypedFunction<(), i32> =
            instance.exports.get_typed_function(&store, "noop").unwrap();
        black_box(f.call(&mut store).unwrap());
    });
}

criterion_group!(
    benches,
    compile_vs_cached,
    fresh_invoke,
    echo_1mib,
    compute,
    threads
);
criterion_main!(benches);
