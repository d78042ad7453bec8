// The text of an HTML document: tags dropped, `script`, `style` and
// similar elements dropped with their content, character references
// decoded, white space collapsed, line breaks for block elements (a blank
// line after paragraphs and headings), `pre` kept as it is. The title is
// taken apart. It works on UTF-8 bytes and allocates nothing per tag, so
// that the stub runtime (which never frees) stays within a call's memory.

/** A growable byte buffer. */
export class Bytes {
  buf: Uint8Array;
  len: i32 = 0;

  constructor(capacity: i32) {
    this.buf = new Uint8Array(max(capacity, 16));
  }

  push(b: u8): void {
    if (this.len == this.buf.length) {
      const bigger = new Uint8Array(this.buf.length * 2);
      memory.copy(bigger.dataStart, this.buf.dataStart, <usize>this.len);
      this.buf = bigger;
    }
    unchecked((this.buf[this.len++] = b));
  }

  /** Appends the `n` bytes at `ptr`. */
  append(ptr: usize, n: i32): void {
    if (this.len + n > this.buf.length) {
      const bigger = new Uint8Array(max(this.buf.length * 2, this.len + n));
      memory.copy(bigger.dataStart, this.buf.dataStart, <usize>this.len);
      this.buf = bigger;
    }
    memory.copy(this.buf.dataStart + <usize>this.len, ptr, <usize>n);
    this.len += n;
  }

  /** Appends `cp` as UTF-8. */
  pushChar(cp: u32): void {
    if (cp < 0x80) {
      this.push(<u8>cp);
    } else if (cp < 0x800) {
      this.push(<u8>(0xc0 | (cp >> 6)));
      this.push(<u8>(0x80 | (cp & 0x3f)));
    } else if (cp < 0x10000) {
      this.push(<u8>(0xe0 | (cp >> 12)));
      this.push(<u8>(0x80 | ((cp >> 6) & 0x3f)));
      this.push(<u8>(0x80 | (cp & 0x3f)));
    } else {
      this.push(<u8>(0xf0 | (cp >> 18)));
      this.push(<u8>(0x80 | ((cp >> 12) & 0x3f)));
      this.push(<u8>(0x80 | ((cp >> 6) & 0x3f)));
      this.push(<u8>(0x80 | (cp & 0x3f)));
    }
  }

  /** The bytes written, at most `limit` of them, cut on a character boundary. */
  bytes(limit: i32): Uint8Array {
    let n = min(this.len, limit);
    if (n < this.len) {
      while (n > 0 && (unchecked(this.buf[n]) & 0xc0) == 0x80) n--;
    }
    return this.buf.subarray(0, n);
  }
}

/** Text with collapsed white space and pending line breaks. */
class Text {
  out: Bytes;
  space: bool = false;
  breaks: i32 = 0;

  constructor(capacity: i32) {
    this.out = new Bytes(capacity);
  }

  // Writes what is pending before the next character: nothing at the
  // start, else the line breaks or one space.
  flush(): void {
    if (this.out.len > 0) {
      if (this.breaks > 0) {
        for (let i = 0; i < this.breaks; i++) this.out.push(0x0a);
      } else if (this.space) {
        this.out.push(0x20);
      }
    }
    this.space = false;
    this.breaks = 0;
  }

  char(b: u8): void {
    this.flush();
    this.out.push(b);
  }

  /** Writes the `n` bytes at `ptr`, none of them white space or markup. */
  run(ptr: usize, n: i32): void {
    this.flush();
    this.out.append(ptr, n);
  }

  codePoint(cp: u32): void {
    this.flush();
    this.out.pushChar(cp);
  }

  lineBreaks(n: i32): void {
    this.breaks = max(this.breaks, n);
  }
}

/** What `extract` found. */
export class Extracted {
  constructor(
    public text: Bytes,
    public title: Bytes,
  ) {}
}

@inline
function isSpace(b: u8): bool {
  return b == 0x20 || b == 0x09 || b == 0x0a || b == 0x0c || b == 0x0d;
}

@inline
function lower(b: u8): u8 {
  return b >= 0x41 && b <= 0x5a ? b + 0x20 : b;
}

@inline
function isAlnum(b: u8): bool {
  const l = lower(b);
  return (l >= 0x61 && l <= 0x7a) || (b >= 0x30 && b <= 0x39);
}

// A tag name as a number: up to 12 letters and digits in base 37, 0 for
// longer names. Comparing numbers allocates nothing.
function nameCode(ptr: usize, start: i32, end: i32): u64 {
  if (end - start > 12) return 0;
  let code: u64 = 0;
  for (let i = start; i < end; i++) {
    const b = lower(load<u8>(ptr + <usize>i));
    const digit: u64 = b >= 0x61 ? <u64>(b - 0x61 + 11) : <u64>(b - 0x30 + 1);
    code = code * 37 + digit;
  }
  return code;
}

function codeOf(name: string): u64 {
  const utf8 = String.UTF8.encode(name);
  return nameCode(changetype<usize>(utf8), 0, utf8.byteLength);
}

// Elements whose content is not text.
const DROPPED: u64[] = [
  codeOf("script"), codeOf("style"), codeOf("template"), codeOf("noscript"),
  codeOf("iframe"), codeOf("object"), codeOf("svg"), codeOf("math"),
];
// Elements after which a blank line follows.
const PARAGRAPHS: u64[] = [
  codeOf("p"), codeOf("h1"), codeOf("h2"), codeOf("h3"), codeOf("h4"), codeOf("h5"),
  codeOf("h6"), codeOf("pre"), codeOf("blockquote"), codeOf("table"), codeOf("ul"),
  codeOf("ol"), codeOf("dl"), codeOf("hr"), codeOf("section"), codeOf("article"),
  codeOf("header"), codeOf("footer"), codeOf("figure"), codeOf("address"), codeOf("main"),
];
// Elements on lines of their own.
const LINES: u64[] = [
  codeOf("br"), codeOf("div"), codeOf("li"), codeOf("tr"), codeOf("dt"), codeOf("dd"),
  codeOf("nav"), codeOf("aside"), codeOf("form"), codeOf("figcaption"), codeOf("details"),
  codeOf("summary"), codeOf("caption"), codeOf("body"), codeOf("html"), codeOf("option"),
];
// Cells, separated by a space.
const CELLS: u64[] = [codeOf("td"), codeOf("th")];
const TITLE = codeOf("title");
const PRE = codeOf("pre");

function among(code: u64, list: u64[]): bool {
  for (let i = 0; i < list.length; i++) {
    if (unchecked(list[i]) == code) return true;
  }
  return false;
}

// The position of the first `needle` (ASCII, lower case) at or after
// `pos`, compared without case, or `end`.
function find(ptr: usize, pos: i32, end: i32, needle: string): i32 {
  const n = needle.length;
  for (let i = pos; i + n <= end; i++) {
    let k = 0;
    while (k < n && lower(load<u8>(ptr + <usize>(i + k))) == <u8>needle.charCodeAt(k)) k++;
    if (k == n) return i;
  }
  return end;
}

// The end of a tag whose name ends at `pos`: after its `>`, skipping
// quoted attribute values; `end` if there is none.
function tagEnd(ptr: usize, pos: i32, end: i32): i32 {
  let quote: u8 = 0;
  for (let i = pos; i < end; i++) {
    const b = load<u8>(ptr + <usize>i);
    if (quote != 0) {
      if (b == quote) quote = 0;
    } else if (b == 0x22 || b == 0x27) {
      quote = b;
    } else if (b == 0x3e) {
      return i + 1;
    }
  }
  return end;
}

// The closing tag `</name` at or after `pos`: its start, and in `after`
// the position after its `>`.
let after = 0;
function closing(ptr: usize, pos: i32, end: i32, code: u64): i32 {
  let i = pos;
  while (i < end) {
    i = find(ptr, i, end, "</");
    if (i >= end) break;
    let j = i + 2;
    while (j < end && isAlnum(load<u8>(ptr + <usize>j))) j++;
    if (nameCode(ptr, i + 2, j) == code) {
      after = tagEnd(ptr, j, end);
      return i;
    }
    i += 2;
  }
  after = end;
  return end;
}

const NAMED: string[] = [
  "amp", "lt", "gt", "quot", "apos", "nbsp", "copy", "reg", "trade", "hellip",
  "mdash", "ndash", "lsquo", "rsquo", "ldquo", "rdquo", "laquo", "raquo", "euro",
  "times", "middot", "bull", "deg", "shy",
];
const NAMED_CHARS: u32[] = [
  0x26, 0x3c, 0x3e, 0x22, 0x27, 0x20, 0xa9, 0xae, 0x2122, 0x2026,
  0x2014, 0x2013, 0x2018, 0x2019, 0x201c, 0x201d, 0xab, 0xbb, 0x20ac,
  0xd7, 0xb7, 0x2022, 0xb0, 0,
];

// The character reference at `pos` (on its `&`): the code point, with
// `after` set past its `;`, or -1 if it is none this decoder knows. `shy`
// decodes to 0: nothing.
function reference(ptr: usize, pos: i32, end: i32): i64 {
  const semi = find(ptr, pos + 1, min(end, pos + 12), ";");
  if (semi >= min(end, pos + 12)) return -1;
  after = semi + 1;
  const start = pos + 1;
  if (start < semi && load<u8>(ptr + <usize>start) == 0x23) {
    let i = start + 1;
    let radix: u32 = 10;
    if (i < semi && lower(load<u8>(ptr + <usize>i)) == 0x78) {
      radix = 16;
      i++;
    }
    if (i == semi) return -1;
    let cp: u32 = 0;
    for (; i < semi; i++) {
      const b = lower(load<u8>(ptr + <usize>i));
      let d: u32;
      if (b >= 0x30 && b <= 0x39) d = b - 0x30;
      else if (radix == 16 && b >= 0x61 && b <= 0x66) d = b - 0x61 + 10;
      else return -1;
      cp = cp * radix + d;
      if (cp > 0x10ffff) cp = 0x110000;
    }
    if (cp == 0 || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0xfffd;
    return cp;
  }
  for (let k = 0; k < NAMED.length; k++) {
    const name = unchecked(NAMED[k]);
    if (name.length != semi - start) continue;
    let same = true;
    for (let c = 0; c < name.length && same; c++) {
      same = load<u8>(ptr + <usize>(start + c)) == <u8>name.charCodeAt(c);
    }
    if (same) return unchecked(NAMED_CHARS[k]);
  }
  return -1;
}

// Text without tags (a title): references decoded, white space collapsed.
function plain(ptr: usize, pos: i32, end: i32, text: Text): void {
  while (pos < end) {
    const b = load<u8>(ptr + <usize>pos);
    if (isSpace(b)) {
      text.space = true;
      pos++;
    } else if (b == 0x26) {
      const cp = reference(ptr, pos, end);
      if (cp < 0) {
        text.char(b);
        pos++;
      } else {
        if (cp == 0x20) text.space = true;
        else if (cp != 0) text.codePoint(<u32>cp);
        pos = after;
      }
    } else {
      text.char(b);
      pos++;
    }
  }
}

/** The text and title of the UTF-8 HTML `html`. */
export function extract(html: Uint8Array): Extracted {
  const ptr = html.dataStart;
  const end = html.length;
  const text = new Text(end);
  const title = new Text(64);
  let pre = 0;
  let pos = 0;
  while (pos < end) {
    const b = load<u8>(ptr + <usize>pos);
    if (b == 0x3c && pos + 1 < end) {
      const next = load<u8>(ptr + <usize>(pos + 1));
      if (next == 0x21) {
        // A comment, a doctype or CDATA: skipped.
        if (find(ptr, pos, min(end, pos + 4), "<!--") == pos) {
          const close = find(ptr, pos + 4, end, "-->");
          pos = close >= end ? end : close + 3;
        } else {
          pos = tagEnd(ptr, pos + 2, end);
        }
        continue;
      }
      if (next == 0x3f) {
        pos = tagEnd(ptr, pos + 2, end);
        continue;
      }
      const closingTag = next == 0x2f;
      const nameStart = closingTag ? pos + 2 : pos + 1;
      let nameEnd = nameStart;
      while (nameEnd < end && isAlnum(load<u8>(ptr + <usize>nameEnd))) nameEnd++;
      if (nameEnd == nameStart || !isAlnum(load<u8>(ptr + <usize>nameStart))) {
        // `<` that opens no tag is text.
        text.char(b);
        pos++;
        continue;
      }
      const code = nameCode(ptr, nameStart, nameEnd);
      pos = tagEnd(ptr, nameEnd, end);
      if (!closingTag && code == TITLE) {
        const stop = closing(ptr, pos, end, code);
        const next = after;
        plain(ptr, pos, stop, title);
        pos = next;
      } else if (!closingTag && among(code, DROPPED)) {
        closing(ptr, pos, end, code);
        pos = after;
      } else if (among(code, PARAGRAPHS)) {
        text.lineBreaks(2);
        if (code == PRE) pre = closingTag ? max(pre - 1, 0) : pre + 1;
      } else if (among(code, LINES)) {
        text.lineBreaks(1);
      } else if (among(code, CELLS)) {
        text.space = true;
      }
      continue;
    }
    if (isSpace(b)) {
      if (pre > 0) {
        if (b == 0x0a) text.codePoint(0x0a);
        else if (b != 0x0d) text.char(b);
      } else {
        text.space = true;
      }
      pos++;
    } else if (b == 0x26) {
      const cp = reference(ptr, pos, end);
      if (cp < 0) {
        text.char(b);
        pos++;
      } else {
        if (cp != 0) text.codePoint(<u32>cp);
        pos = after;
      }
    } else {
      // A run of text, copied at once: most of a document.
      let stop = pos + 1;
      while (stop < end) {
        const c = load<u8>(ptr + <usize>stop);
        if (c == 0x3c || c == 0x26 || isSpace(c)) break;
        stop++;
      }
      text.run(ptr + <usize>pos, stop - pos);
      pos = stop;
    }
  }
  return new Extracted(text.out, title.out);
}
