// htmltext: a BitVault content-transform plugin in AssemblyScript
// (`bitvault.plugins.content_transform.v1`; capability `io`).
//
// `Transform` takes `text/html` (or `application/xhtml+xml`) in UTF-8 and
// answers its text as `text/plain` (see html.ts), with the metadata
// `bytes` (the text's size), `title` (the document's title, when it has
// one) and `truncated` (`true` when the text was cut). The parameter
// `max_bytes` (1 to 2^31 − 1) cuts the text, on a character boundary;
// other parameters are ignored.
//
// Plugin errors: 2, the request is not a TransformRequest; 21, the request
// is larger than 4 MiB; 22, another media type; 23, content that is not
// UTF-8; 24, a `max_bytes` that is not a positive decimal number.

import { Protobuf } from "as-proto/assembly";
import { Result, fail, handle, inputLen, ok, refuse } from "../../bitvault/index";
import { TransformRequest } from "./proto/bitvault/plugins/content_transform/v1/TransformRequest";
import { TransformResponse } from "./proto/bitvault/plugins/content_transform/v1/TransformResponse";
import { extract } from "./html";
import { Field, LEN, VARINT, check, isUtf8, problem } from "../../bitvault/wire";

/** The largest request, in bytes. */
const MAX_REQUEST_BYTES: i32 = 4 << 20;

// The schema of `TransformRequest` (content_transform.proto), for `check`.
const CONTEXT: Field[] = [
  new Field(1, LEN, true),
  new Field(2, LEN, true),
  new Field(3, LEN, true),
  new Field(4, VARINT),
  new Field(5, LEN, true),
];
const ENTRY: Field[] = [new Field(1, LEN, true), new Field(2, LEN, true)];
const REQUEST: Field[] = [
  new Field(1, LEN, false, CONTEXT),
  new Field(2, LEN),
  new Field(3, LEN, true),
  new Field(4, LEN, false, ENTRY),
];

// `max_bytes` as a number: 1 to 2^31 − 1, or -1.
function parseMax(s: string): i32 {
  if (s.length == 0 || s.length > 10) return -1;
  let n: i64 = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x30 || c > 0x39) return -1;
    n = n * 10 + (c - 0x30);
  }
  return n >= 1 && n <= <i64>i32.MAX_VALUE ? <i32>n : -1;
}

function mediaType(t: string): string {
  const semi = t.indexOf(";");
  return (semi < 0 ? t : t.substring(0, semi)).trim().toLowerCase();
}

function transform(request: Uint8Array): Result {
  if (!check(request, REQUEST)) {
    return fail(2, "not a TransformRequest: " + problem);
  }
  const req = Protobuf.decode<TransformRequest>(request, TransformRequest.decode);
  const type = mediaType(req.mediaType);
  if (type != "text/html" && type != "application/xhtml+xml") {
    return fail(22, "no text extraction for media type `" + req.mediaType + "`");
  }
  const content = req.content;
  if (!isUtf8(content.dataStart, 0, content.length)) {
    return fail(23, "the " + type + " content is not UTF-8");
  }
  let limit = i32.MAX_VALUE;
  if (req.parameters.has("max_bytes")) {
    limit = parseMax(req.parameters.get("max_bytes"));
    if (limit < 0) {
      return fail(24, "max_bytes must be a number from 1 to 2147483647");
    }
  }
  const found = extract(content);
  const text = found.text.bytes(limit);
  const resp = new TransformResponse();
  resp.content = text;
  resp.mediaType = "text/plain";
  // In key order, as the host's encoder writes a map.
  resp.metadata.set("bytes", text.length.toString());
  const title = found.title.bytes(i32.MAX_VALUE);
  if (title.length > 0) {
    resp.metadata.set("title", String.UTF8.decodeUnsafe(title.dataStart, title.length));
  }
  if (text.length < found.text.len) {
    resp.metadata.set("truncated", "true");
  }
  return ok(Protobuf.encode(resp, TransformResponse.encode));
}

/** The `Transform` operation. */
export function content_transform_v1_transform(): i32 {
  // Refused before it is read.
  if (inputLen() > MAX_REQUEST_BYTES) {
    return refuse(21, "the request is larger than 4 MiB");
  }
  return handle(transform);
}
