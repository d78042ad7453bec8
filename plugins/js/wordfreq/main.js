// wordfreq: the request is UTF-8 text; the response is one line of JSON:
// the number of words, of distinct words, and the ten most frequent words
// with their counts (most frequent first, ties in code-unit order).
//
// A word is a run of ASCII letters and digits, apostrophes, and characters
// from U+00C0 up (accented letters, and anything beyond Latin-1, emoji
// included); ASCII and Latin-1 capitals are folded to lower case.
//
// Written in the part of JavaScript that Porffor 0.61 compiles faithfully
// (see docs/writing-plugins.md, "JavaScript"): strings are joined one
// string at a time with `+=`, numbers turned into strings with String().

const lower = c => ((c >= 65 && c <= 90) || (c >= 0xc0 && c <= 0xde && c != 0xd7) ? c + 32 : c);
const isWordChar = c => (c >= 97 && c <= 122) || (c >= 48 && c <= 57) || c == 39 || c >= 0xc0;

// Code-unit order, as JavaScript's `<` on strings.
const compare = (a, b) => {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const d = a.charCodeAt(i) - b.charCodeAt(i);
    if (d != 0) return d;
  }
  return a.length - b.length;
};

// A JSON string literal: the runs between characters to escape are copied
// with slice.
const HEX = '0123456789abcdef';
const jsonString = s => {
  let out = '"';
  let last = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c == 34 || c == 92 || c < 32) {
      out += s.slice(last, i);
      if (c < 32) {
        out += '\\u00';
        out += HEX[c >> 4];
        out += HEX[c & 15];
      } else {
        out += '\\';
        out += c == 34 ? '"' : '\\';
      }
      last = i + 1;
    }
  }
  out += s.slice(last);
  out += '"';
  return out;
};

// Counts per word, in an open-addressing hash table: Porffor 0.61's Map
// compares keys one by one (five times the fuel of this table on 8 KiB of
// text), and its plain objects mistreat keys such as "__proto__".
let capacity = 1024;
let keys = new Array(capacity);
let counts = new Array(capacity);
let distinct = 0;

// FNV-1a, as an unsigned 32-bit number (`>>> 0` in Porffor 0.61 stays
// signed).
const hash = w => {
  let h = 2166136261;
  for (let i = 0; i < w.length; i++) h = Math.imul(h ^ w.charCodeAt(i), 16777619);
  return h < 0 ? h + 4294967296 : h;
};

const slot = w => {
  let i = hash(w) % capacity;
  while (keys[i] !== undefined && keys[i] !== w) i = (i + 1) % capacity;
  return i;
};

const grow = () => {
  const oldKeys = keys;
  const oldCounts = counts;
  capacity *= 2;
  keys = new Array(capacity);
  counts = new Array(capacity);
  for (let i = 0; i < oldKeys.length; i++) {
    if (oldKeys[i] !== undefined) {
      const j = slot(oldKeys[i]);
      keys[j] = oldKeys[i];
      counts[j] = oldCounts[i];
    }
  }
};

const count = w => {
  const i = slot(w);
  if (keys[i] === undefined) {
    keys[i] = w;
    counts[i] = 1;
    distinct++;
    if (distinct * 2 > capacity) grow();
  } else {
    counts[i]++;
  }
};

// A word is folded only when it has a capital. One array serves every
// call: Porffor's allocator never frees.
const units = [];
const fold = w => {
  units.length = 0;
  let capital = false;
  for (let i = 0; i < w.length; i++) {
    const c = w.charCodeAt(i);
    units.push(lower(c));
    if (lower(c) != c) capital = true;
  }
  return capital ? stringFromCharCodes(units) : w;
};

const text = readInput();
let words = 0;
let start = -1;
for (let i = 0; i <= text.length; i++) {
  const c = i < text.length ? lower(text.charCodeAt(i)) : 32;
  if (isWordChar(c)) {
    if (start < 0) start = i;
  } else if (start >= 0) {
    count(fold(text.slice(start, i)));
    words++;
    start = -1;
  }
}

const entries = [];
for (let i = 0; i < capacity; i++) if (keys[i] !== undefined) entries.push([keys[i], counts[i]]);
entries.sort((a, b) => b[1] - a[1] || compare(a[0], b[0]));

let out = '{"words":';
out += String(words);
out += ',"distinct":';
out += String(distinct);
out += ',"top":[';
for (let i = 0; i < entries.length && i < 10; i++) {
  if (i > 0) out += ',';
  out += '[';
  out += jsonString(entries[i][0]);
  out += ',';
  out += String(entries[i][1]);
  out += ']';
}
out += ']}\n';
writeOutput(out);
