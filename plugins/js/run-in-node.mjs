// Runs a JavaScript plugin's source under Node.js, with the prelude's API
// (readInput, writeOutput, log, stringFromCharCodes) on stdin, stdout and
// stderr, to compare what Porffor's compilation does with what JavaScript
// means:
//
//   node plugins/js/run-in-node.mjs plugins/js/wordfreq/main.js < input
//   bitvault-plugin run target/plugins/polyglot/wordfreq.wasm _start --stdio --input input
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

globalThis.readInput = () => fs.readFileSync(0, 'utf8');
globalThis.writeOutput = s => process.stdout.write(String(s));
globalThis.log = s => process.stderr.write(`${s}\n`);
globalThis.stringFromCharCodes = units => String.fromCharCode(...units);
await import(pathToFileURL(path.resolve(process.argv[2])).href);
