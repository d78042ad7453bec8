// selftest: exercises what porffor-wasi.mjs adds to Porffor's output, for
// the CLI's tests: exceptions (rewritten from legacy try/catch to
// try_table), branches out of try blocks (whose depths the rewrite
// recomputes), console.log (Porffor's print imports, bound to the prelude),
// and the clocks. Its output is the same under Node
// (`node plugins/js/run-in-node.mjs plugins/js/selftest/main.js`).
//
// A request of "throw" ends with an uncaught exception instead.

const input = readInput();

const risky = n => {
  if (n > 2) throw new RangeError('too big: ' + String(n));
  return n * 10;
};

let out = '';
for (let n = 1; n <= 4; n++) {
  try {
    out += String(risky(n));
  } catch (e) {
    out += e.name;
  } finally {
    out += ';';
  }
}
console.log(out);

try {
  JSON.parse('{broken');
  console.log('parsed?');
} catch {
  console.log('JSON.parse threw');
}

// continue and break across try blocks, out of nested loops.
let trail = '';
outer: for (let i = 0; i < 4; i++) {
  for (let j = 0; j < 4; j++) {
    try {
      if (j == 2) continue outer;
      if (i == 3) break outer;
      trail += String(i);
      trail += String(j);
      trail += ' ';
    } catch (e) {
      trail += '!';
    }
  }
}
console.log(trail);

// A nested try: the inner catch rethrows to the outer one.
try {
  try {
    throw new TypeError('inner');
  } catch (e) {
    throw new Error('outer after ' + e.message);
  }
} catch (e) {
  console.log(e.message);
}

console.log(42, 'and', [1, 2, 3]);
console.log(Date.now() > 1.6e12, performance.now() >= 0);

if (input == 'throw') throw new Error('asked to throw');
writeOutput('done\n');
