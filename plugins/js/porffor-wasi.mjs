// Compiles a JavaScript plugin with Porffor (an ahead-of-time JS -> Wasm
// compiler, from npm) into a WASI command module that BitVault's host runs in
// stdio mode (docs/abi.md §13.3): the request is stdin, the response stdout.
//
//   node porffor-wasi.mjs PORFFOR_DIR OUT.wasm PRELUDE.js MAIN.js...
//
// Porffor imports its few host functions from the module "" under one-letter
// names (print, printChar, time, timeOrigin), which no standard host offers.
// This script
//   1. declares the WASI preview 1 functions the prelude calls with Porffor's
//      `createImport` (so `Porffor.wasm` inline code can `call fd_read`),
//      before Porffor's own four, so those four are the last imports;
//   2. compiles prelude + sources as one ES module with Porffor's compiler;
//   3. rewrites the module: the WASI imports are renamed to
//      `wasi_snapshot_preview1`, and Porffor's four imports become defined
//      functions, placed first among the defined functions (so no function
//      index changes) that call the prelude's exported `__bv_*` helpers (in
//      JavaScript, on WASI); memory is exported as `memory`; a `_start`
//      runs Porffor's main, turns an uncaught exception into a message on
//      stderr and exit code 1, and flushes stdout;
//   4. between Porffor's optimiser and its assembler, replaces the legacy
//      exception-handling instructions it emits, which the host does not
//      compile, with `try_table` (see legacyToTryTable).
// The result imports nothing but WASI preview 1.

import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const [porfforDir, outFile, ...sources] = process.argv.slice(2);
if (!porfforDir || !outFile || sources.length === 0) {
  console.error('usage: node porffor-wasi.mjs PORFFOR_DIR OUT.wasm PRELUDE.js MAIN.js...');
  process.exit(2);
}
const porffor = rel => import(pathToFileURL(path.join(porfforDir, rel)).href);

// Porffor reads its options from process.argv: -O1 (its default); no
// tree-shaking of imports, so they keep the order they were declared in;
// progress reports, which are how this script hears that optimisation is
// done (see legacyToTryTable).
process.argv = [process.argv[0], 'porffor-wasi', '-O1', '--no-treeshake-wasm-imports', '--profile-compiler'];

const { createImport, importedFuncs } = await porffor('compiler/builtins.js');
const { Valtype } = await porffor('compiler/wasmSpec.js');
const compile = (await porffor('compiler/index.js')).default;

const I32 = Valtype.i32, I64 = Valtype.i64, F64 = Valtype.f64;

// The WASI functions the prelude calls, with their preview1 signatures.
const WASI = {
  fd_read: [[I32, I32, I32, I32], [I32]],
  fd_write: [[I32, I32, I32, I32], [I32]],
  clock_time_get: [[I32, I64, I32], [I32]],
  proc_exit: [[I32], []],
};
for (const [name, [params, results]] of Object.entries(WASI)) createImport(name, params, results);

// Porffor's own imports, each implemented by a prelude helper exported under
// this name, taking and returning one JavaScript value.
const ADAPTED = {
  print: { helper: '__bv_print', params: 1, results: 0 },
  printChar: { helper: '__bv_printChar', params: 1, results: 0 },
  time: { helper: '__bv_time', params: 0, results: 1 },
  timeOrigin: { helper: '__bv_timeOrigin', params: 0, results: 1 },
};
for (const [name, a] of Object.entries(ADAPTED)) createImport(name, a.params, a.results);

// ---- a minimal reader and writer of the binary format ----

const leb = (bytes, pos) => {
  let result = 0, shift = 0, b;
  do {
    b = bytes[pos++];
    result += (b & 0x7f) * 2 ** shift;
    shift += 7;
  } while (b & 0x80);
  return [result, pos];
};
const uleb = n => {
  const out = [];
  do {
    let b = n & 0x7f;
    n = Math.floor(n / 128);
    if (n !== 0) b |= 0x80;
    out.push(b);
  } while (n !== 0);
  return out;
};
const sleb = n => {
  const out = [];
  for (;;) {
    const b = n & 0x7f;
    n >>= 7;
    if ((n === 0 && (b & 0x40) === 0) || (n === -1 && (b & 0x40) !== 0)) {
      out.push(b);
      return out;
    }
    out.push(b | 0x80);
  }
};
const str = s => [...uleb(Buffer.byteLength(s)), ...Buffer.from(s)];
const vec = items => [...uleb(items.length), ...items.flat()];
const readName = (bytes, pos) => {
  const [len, p] = leb(bytes, pos);
  return [Buffer.from(bytes.slice(p, p + len)).toString('utf8'), p + len];
};

// ---- exceptions: legacy `try`/`catch` to `try_table` ----
//
// Porffor emits the legacy exception-handling instructions (`try`, `catch`,
// `catch_all`), which the host's compiler does not support; it supports the
// standard ones (`try_table`, `throw`). Each Porffor function's code is a
// list of instructions, `[opcode, ...immediate bytes]`. After Porffor's
// optimiser (which knows only the legacy forms) and before it assembles the
// module, each
//
//   try A catch 0 B end        (or catch_all)
//
// becomes
//
//   block                          ;; $outer: where `try` ended
//     block (type 0)               ;; $h: the handler's entry; type 0 is
//       try_table (catch 0 $h)     ;;   () -> (f64 i32), Porffor's tag's
//         A                        ;;   parameters (checked below)
//       end
//       br $outer
//     end
//     B
//   end
//
// (`try A end` with no handler becomes `block A end`). Branch depths are
// recomputed from the branches' targets, as the new blocks move them.
const OP = { block: 0x02, loop: 0x03, if: 0x04, else: 0x05, try: 0x06, catch: 0x07, throw: 0x08, rethrow: 0x09, end: 0x0b, br: 0x0c, brIf: 0x0d, brTable: 0x0e, delegate: 0x18, catchAll: 0x19, tryTable: 0x1f };
let usesHandlerType = false;
const legacyToTryTable = func => {
  const code = func.wasm;
  if (!code.some(i => i[0] === OP.try)) return;
  usesHandlerType = true;
  // Pass 1: a label is named by the index of the instruction that opens it;
  // resolve each branch to the labels it targets, and note which `try`s
  // have a handler.
  const stack = [];
  const targets = new Map(); // branch index -> [label ids]
  const withHandler = new Set(); // try index
  code.forEach((inst, at) => {
    const op = inst[0];
    if (op === OP.rethrow || op === OP.delegate || op === OP.tryTable) {
      throw new Error(`${func.name}: unexpected exception instruction 0x${op.toString(16)}`);
    }
    if (op === OP.block || op === OP.loop || op === OP.if || op === OP.try) {
      stack.push(at);
    } else if (op === OP.catch || op === OP.catchAll) {
      withHandler.add(stack.at(-1));
    } else if (op === OP.end) {
      stack.pop();
    } else if (op === OP.br || op === OP.brIf) {
      targets.set(at, [stack[stack.length - 1 - inst[1]]]);
    } else if (op === OP.brTable) {
      let [n, p] = leb(inst, 1);
      const ids = [];
      for (let i = 0; i <= n; i++) {
        let d;
        [d, p] = leb(inst, p);
        ids.push(stack[stack.length - 1 - d]);
      }
      targets.set(at, ids);
    }
  });
  // Pass 2: emit, tracking the new labels: the id a branch to each means,
  // or null for the two labels a `try` adds, which no branch names.
  const out = [];
  const labels = [];
  const open = []; // per open construct: the try being rewritten, if one
  const depthOf = id => {
    const i = labels.lastIndexOf(id);
    if (i < 0) throw new Error(`${func.name}: a branch to a label not in scope`);
    return labels.length - 1 - i;
  };
  code.forEach((inst, at) => {
    const op = inst[0];
    if (op === OP.try && withHandler.has(at)) {
      // $outer, $h (its type set at the catch), and the try_table (its
      // clause set at the catch).
      const t = { handler: [OP.block, 0x40], tryTableAt: out.length + 2 };
      out.push([OP.block, ...inst.slice(1)], t.handler, null);
      labels.push(at, null, null);
      open.push(t);
    } else if (op === OP.try) {
      out.push([OP.block, ...inst.slice(1)]);
      labels.push(at);
      open.push(null);
    } else if (op === OP.catch || op === OP.catchAll) {
      const t = open.at(-1);
      if (op === OP.catch) {
        out[t.tryTableAt] = [OP.tryTable, 0x40, 0x01, 0x00, ...inst.slice(1), 0x00];
        t.handler[1] = 0x00; // type 0: () -> (f64 i32), Porffor's tag's params
      } else {
        out[t.tryTableAt] = [OP.tryTable, 0x40, 0x01, 0x02, 0x00];
      }
      out.push([OP.end], [OP.br, 1], [OP.end]);
      labels.pop();
      labels.pop();
    } else if (op === OP.block || op === OP.loop || op === OP.if) {
      out.push(inst);
      labels.push(at);
      open.push(null);
    } else if (op === OP.end) {
      out.push(inst);
      labels.pop();
      open.pop();
    } else if (op === OP.br || op === OP.brIf) {
      out.push([op, depthOf(targets.get(at)[0])]);
    } else if (op === OP.brTable) {
      const ids = targets.get(at);
      out.push([op, ...uleb(ids.length - 1), ...ids.flatMap(id => uleb(depthOf(id)))]);
    } else {
      out.push(inst);
    }
  });
  func.wasm = out;
};

let compiled = null;
globalThis.compileCallback = out => {
  compiled = out;
};
globalThis.onProgress = msg => {
  if (msg !== 'optimized') return;
  for (const f of compiled.funcs) legacyToTryTable(f);
};

const source = sources.map(f => fs.readFileSync(f, 'utf8')).join('\n');
const { wasm } = compile(source, true);

const fail = msg => {
  console.error(`porffor-wasi: ${msg}`);
  process.exit(1);
};

const bytes = Uint8Array.from(wasm);
const sections = [];
for (let pos = 8; pos < bytes.length;) {
  const id = bytes[pos];
  const [size, start] = leb(bytes, pos + 1);
  sections.push({ id, body: bytes.slice(start, start + size) });
  pos = start + size;
}
const section = id => sections.find(s => s.id === id);

// Types: each `0x60 params results`, kept as raw entries.
const typeSec = section(1);
const types = [];
{
  let [n, p] = leb(typeSec.body, 0);
  for (let i = 0; i < n; i++) {
    const start = p;
    if (typeSec.body[p++] !== 0x60) fail('a type that is not a function type');
    const [np, p1] = leb(typeSec.body, p);
    const params = [...typeSec.body.slice(p1, p1 + np)];
    const [nr, p2] = leb(typeSec.body, p1 + np);
    const results = [...typeSec.body.slice(p2, p2 + nr)];
    p = p2 + nr;
    types.push({ raw: [...typeSec.body.slice(start, p)], params, results });
  }
}
const typeIndex = (params, results) => {
  const i = types.findIndex(t => String(t.params) === String(params) && String(t.results) === String(results));
  if (i >= 0) return i;
  types.push({ raw: [0x60, ...vec(params.map(x => [x])), ...vec(results.map(x => [x]))], params, results });
  return types.length - 1;
};

// Imports: Porffor's are ("", one letter) functions.
const letterToName = {};
for (let i = 0; i < importedFuncs.length; i++) letterToName[importedFuncs[i].import] = importedFuncs[i].name;
const imports = [];
{
  const body = section(2)?.body ?? new Uint8Array([0]);
  let [n, p] = leb(body, 0);
  for (let i = 0; i < n; i++) {
    let module, field;
    [module, p] = readName(body, p);
    [field, p] = readName(body, p);
    if (body[p++] !== 0) fail(`import ${module}.${field} is not a function`);
    let type;
    [type, p] = leb(body, p);
    const name = letterToName[field];
    if (module !== '' || !name) fail(`unexpected import ${JSON.stringify(module)}.${JSON.stringify(field)}`);
    imports.push({ name, type });
  }
}
const firstAdapted = imports.findIndex(x => x.name in ADAPTED);
const kept = firstAdapted < 0 ? imports : imports.slice(0, firstAdapted);
const adapted = firstAdapted < 0 ? [] : imports.slice(firstAdapted);
if (adapted.some(x => !(x.name in ADAPTED)) || kept.some(x => !(x.name in WASI))) {
  fail(`imports out of order: ${imports.map(x => x.name).join(', ')}`);
}

// Functions and exports.
const funcTypes = [];
{
  const body = section(3).body;
  let [n, p] = leb(body, 0);
  for (let i = 0; i < n; i++) {
    let t;
    [t, p] = leb(body, p);
    funcTypes.push(t);
  }
}
const exports = [];
{
  const body = section(7).body;
  let [n, p] = leb(body, 0);
  for (let i = 0; i < n; i++) {
    let name, index;
    [name, p] = readName(body, p);
    const kind = body[p++];
    [index, p] = leb(body, p);
    exports.push({ name, kind, index });
  }
}
const exportedFunc = name => {
  const e = exports.find(x => x.name === name && x.kind === 0);
  if (!e) fail(`the prelude does not export ${name}`);
  const t = types[funcTypes[e.index - imports.length]];
  if (String(t.params) !== String([F64, I32]) || String(t.results) !== String([F64, I32])) {
    fail(`${name} is not a one-argument function`);
  }
  return e.index;
};
const main = exports.find(x => x.name === 'm' && x.kind === 0);
if (!main) fail('Porffor exported no main function');
const memory = exports.find(x => x.kind === 2);
if (!memory) fail('Porffor exported no memory');

// Porffor's number type tag, for the values passed to the helpers.
const NUMBER = 1;
const op = {
  localGet: i => [0x20, ...uleb(i)],
  call: i => [0x10, ...uleb(i)],
  i32: n => [0x41, ...sleb(n)],
  f64zero: [0x44, 0, 0, 0, 0, 0, 0, 0, 0],
  drop: [0x1a],
  end: [0x0b],
};
const body = (locals, code) => {
  const b = [...vec(locals), ...code.flat()];
  return [...uleb(b.length), ...b];
};

// The adapters replace imports [firstAdapted, imports.length) and take their
// indices: defined functions come right after the kept imports.
const adapterBodies = adapted.map(imp => {
  const a = ADAPTED[imp.name];
  const helper = exportedFunc(a.helper);
  const arg = a.params ? op.localGet(0) : op.f64zero;
  const tail = a.results ? [op.drop] : [op.drop, op.drop];
  return body([], [arg, op.i32(NUMBER), op.call(helper), ...tail, op.end]);
});

// _start: main(); __bv_flush(). Porffor throws with a tag of (value, type):
// an uncaught exception is caught here and handed to __bv_uncaught.
const start = imports.length + funcTypes.length;
const tags = section(13);
const mainType = types[funcTypes[main.index - imports.length]];
const callMain = [op.call(main.index), ...mainType.results.map(() => op.drop)];
const flush = [op.f64zero, op.i32(NUMBER), op.call(exportedFunc('__bv_flush')), op.drop, op.drop];
let startCode;
if (tags) {
  // block { block (type 0) { try_table (catch 0 0) { main() } br 1 } uncaught(e) }
  usesHandlerType = true;
  const uncaught = exportedFunc('__bv_uncaught');
  startCode = [
    [OP.block, 0x40, OP.block, 0x00, OP.tryTable, 0x40, 0x01, 0x00, 0x00, 0x00],
    ...callMain,
    [OP.end, OP.br, 0x01, OP.end],
    op.call(uncaught), op.drop, op.drop,
    op.end, ...flush, op.end,
  ];
} else {
  startCode = [...callMain, ...flush, op.end];
}
if (usesHandlerType && (String(types[0].params) !== '' || String(types[0].results) !== String([F64, I32]))) {
  fail('type 0 is not () -> (f64 i32), which the rewritten exception handlers need');
}
const startType = typeIndex([], []);

// ---- write the new module ----

const hidden = new Set(['m', ...Object.values(ADAPTED).map(a => a.helper), '__bv_flush', '__bv_uncaught']);
const newSections = {
  1: vec(types.map(t => t.raw)),
  2: vec(kept.map(imp => [...str('wasi_snapshot_preview1'), ...str(imp.name), 0x00, ...uleb(imp.type)])),
  3: vec([...adapted.map(imp => uleb(imp.type)), ...funcTypes.map(t => uleb(t)), uleb(startType)]),
  7: vec([
    ...exports
      .filter(e => e.kind !== 4 && !hidden.has(e.name))
      .map(e => [...str(e.kind === 2 ? 'memory' : e.name), e.kind, ...uleb(e.index)]),
    [...str('_start'), 0x00, ...uleb(start)],
  ]),
};
{
  const code = section(10).body;
  const [n, p] = leb(code, 0);
  newSections[10] = [...uleb(adapted.length + n + 1), ...adapterBodies.flat(), ...code.slice(p), ...body([], startCode)];
}

const out = [Buffer.from([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00])];
for (const s of sections) {
  if (s.id === 0) continue; // custom sections (names) would be stale
  if (s.id === 2 && kept.length === 0) continue;
  const b = newSections[s.id] ? Buffer.from(newSections[s.id]) : Buffer.from(s.body);
  out.push(Buffer.from([s.id, ...uleb(b.length)]), b);
}
if (!section(2) && kept.length > 0) fail('no import section to rewrite');
fs.mkdirSync(path.dirname(path.resolve(outFile)), { recursive: true });
fs.writeFileSync(outFile, Buffer.concat(out));
