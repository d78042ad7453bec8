//! linenum: a content transform in Rust, on the BitVault PDK, that numbers
//! the lines of a plain text (extension point `content_transform`,
//! capability `io`). The same transform as the reference Zig plugin of
//! BitVault Plugins (in its `plugins/zig/`), on the PDK.
//!
//! `content_transform_v1_transform`: TransformRequest -> TransformResponse.
//!
//! - Accepts `text/plain` (any case; a `charset` parameter must be `utf-8`
//!   or `us-ascii`, other parameters are ignored) whose content is UTF-8.
//!   The result is `text/plain`, with the metadata `lines`.
//! - Every line, empty ones too, is prefixed with its number, right-aligned
//!   to the width of the largest number, and the separator. Lines end at
//!   `\n` (a `\r` before it stays in the line); a final line without `\n`
//!   is numbered and stays without one. Empty content has no lines and
//!   gives empty content.
//! - Parameters: `start`, the first number (0 to 1 000 000 000, default
//!   1); `separator`, the text after the number (at most 64 bytes, no line
//!   break, default a tab). Other parameters are ignored.
//!
//! Plugin errors (the entry point's result, with a message):
//!   2  the request is not a TransformRequest (the PDK's `Error::BAD_INPUT`);
//!  21  a parameter's value is out of its range;
//!  22  a media type other than text/plain, or another charset;
//!  23  the content is not UTF-8.

use std::io::Write as _;

use bitvault_pdk::Error;
use bitvault_pdk::points::ContentTransform;
use bitvault_pdk::points::proto::content_transform::v1::{TransformRequest, TransformResponse};

/// The largest `start`.
const MAX_START: u64 = 1_000_000_000;
/// The longest `separator`, in bytes.
const MAX_SEPARATOR: usize = 64;
/// The plugin's name, in its messages.
const NAME: &str = "linenum";

/// The plugin: numbers the lines of a text.
pub struct LineNumbers;

impl ContentTransform for LineNumbers {
    fn transform(req: TransformRequest) -> Result<TransformResponse, Error> {
        if !accepts_media_type(&req.media_type) {
            return Err(Error::new(
                22,
                format!("{NAME} transforms text/plain (UTF-8) only"),
            ));
        }
        let start = parse_start(req.parameters.get("start").map(String::as_str))?;
        let separator = req.parameters.get("separator").map_or("\t", String::as_str);
        if separator.len() > MAX_SEPARATOR || separator.contains(['\r', '\n']) {
            return Err(Error::new(
                21,
                "parameter separator: at most 64 bytes, without line breaks",
            ));
        }
        let text = std::str::from_utf8(&req.content)
            .map_err(|_| Error::new(23, "the content is not UTF-8"))?;
        let (content, lines) = number_lines(text, start, separator);
        Ok(TransformResponse {
            content,
            media_type: "text/plain".into(),
            metadata: [("lines".to_owned(), lines.to_string())].into(),
        })
    }
}

bitvault_pdk::export_content_transform!(LineNumbers);

/// Whether `media_type` is text/plain in UTF-8.
fn accepts_media_type(media_type: &str) -> bool {
    let mut parts = media_type.split(';');
    let essence = parts.next().unwrap_or("").trim_matches([' ', '\t']);
    if !essence.eq_ignore_ascii_case("text/plain") {
        return false;
    }
    parts.all(|param| {
        let Some((name, value)) = param.split_once('=') else {
            return true;
        };
        let value = value.trim_matches([' ', '\t']).trim_matches('"');
        !name
            .trim_matches([' ', '\t'])
            .eq_ignore_ascii_case("charset")
            || value.eq_ignore_ascii_case("utf-8")
            || value.eq_ignore_ascii_case("us-ascii")
    })
}

/// The `start` parameter: decimal digits only, at most [`MAX_START`].
fn parse_start(value: Option<&str>) -> Result<u64, Error> {
    let Some(v) = value else { return Ok(1) };
    let out_of_range = || Error::new(21, "parameter start: a whole number from 0 to 1000000000");
    if v.is_empty() || v.len() > 10 || !v.bytes().all(|b| b.is_ascii_digit()) {
        return Err(out_of_range());
    }
    v.parse::<u64>()
        .ok()
        .filter(|n| *n <= MAX_START)
        .ok_or_else(out_of_range)
}

/// The number of decimal digits of `n`.
fn digits(n: u64) -> usize {
    n.checked_ilog10().map_or(1, |d| d as usize + 1)
}

/// `text` with every line numbered from `start`, and the number of lines.
fn number_lines(text: &str, start: u64, separator: &str) -> (Vec<u8>, u64) {
    let bytes = text.as_bytes();
    let unterminated = bytes.last().is_some_and(|&b| b != b'\n');
    let lines = count_newlines(bytes) + usize::from(unterminated);
    let width = digits(start + (lines as u64).saturating_sub(1));
    let mut out = Vec::with_capacity(bytes.len() + lines * (width + separator.len()));
    let (mut rest, mut number) = (bytes, start);
    while !rest.is_empty() {
        let (line, tail) = rest.split_at(line_len(rest));
        // Writing to a `Vec` cannot fail.
        let _ = write!(out, "{number:>width$}{separator}");
        out.extend_from_slice(line);
        (rest, number) = (tail, number + 1);
    }
    (out, lines as u64)
}

// The scans below read sixteen bytes at a time: fuel is one unit per wasm
// instruction, and the content may be megabytes. The whole call takes
// about 9 fuel per byte: 7×10^7 for the conformance suite's 8 MiB, within
// the default budget of 10^8.

/// Each byte of a word set to `b`.
const fn splat(b: u8) -> u64 {
    u64::from_le_bytes([b; 8])
}

/// The bytes of `word` that are `\n`, as their high bit (0x80); the
/// others 0. No carry crosses a byte: `(x & 0x7f) + 0x7f` is at most 0xfe.
fn newlines_in(word: u64) -> u64 {
    let x = word ^ splat(b'\n');
    let low = splat(0x7f);
    !(((x & low) + low) | x | low)
}

/// The `\n` of sixteen bytes, as the high bit of each byte that is one.
fn newlines_in_16(bytes: &[u8; 16]) -> u128 {
    let x = u128::from_le_bytes(*bytes);
    u128::from(newlines_in(x as u64)) | u128::from(newlines_in((x >> 64) as u64)) << 64
}

/// The number of `\n` in `bytes`.
fn count_newlines(bytes: &[u8]) -> usize {
    let (blocks, tail) = bytes.as_chunks::<16>();
    let in_blocks: usize = blocks
        .iter()
        .map(|b| newlines_in_16(b).count_ones() as usize)
        .sum();
    in_blocks + tail.iter().filter(|&&b| b == b'\n').count()
}

/// The length of the first line of `rest`, with its `\n`.
fn line_len(rest: &[u8]) -> usize {
    let (blocks, tail) = rest.as_chunks::<16>();
    for (i, b) in blocks.iter().enumerate() {
        let found = newlines_in_16(b);
        if found != 0 {
            return i * 16 + found.trailing_zeros() as usize / 8 + 1;
        }
    }
    let at = blocks.len() * 16;
    tail.iter()
        .position(|&b| b == b'\n')
        .map_or(rest.len(), |p| at + p + 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bitvault_pdk::points::call;
    use bitvault_pdk::testing::Host;

    fn request(content: &str, media_type: &str, parameters: &[(&str, &str)]) -> TransformRequest {
        TransformRequest {
            content: content.as_bytes().to_vec(),
            media_type: media_type.into(),
            parameters: parameters
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            ..Default::default()
        }
    }

    fn transform(req: &TransformRequest) -> Result<TransformResponse, i32> {
        call(Host::new(), LineNumbers::transform, req).map_err(|out| out.code)
    }

    #[test]
    fn numbers_every_line_right_aligned() {
        let text = "a\n\nb\r\nc\nd\ne\nf\ng\nh\ni\nlast";
        let r = transform(&request(text, "text/plain", &[("separator", ": ")])).unwrap();
        let out = String::from_utf8(r.content).unwrap();
        assert!(out.starts_with(" 1: a\n 2: \n 3: b\r\n"), "{out}");
        assert!(out.ends_with("10: i\n11: last"), "{out}");
        assert_eq!(r.metadata["lines"], "11");
        assert_eq!(r.media_type, "text/plain");
    }

    #[test]
    fn empty_content_has_no_lines() {
        let r = transform(&request("", "text/plain; charset=UTF-8", &[])).unwrap();
        assert!(r.content.is_empty());
        assert_eq!(r.metadata["lines"], "0");
    }

    #[test]
    fn the_scans_agree_with_a_byte_at_a_time_search() {
        let text: Vec<u8> = (0..200u8)
            .map(|i| match i % 7 {
                0 => b'\n',
                3 => 0x8a, // '\n' with the high bit set
                _ => b'a' + i % 26,
            })
            .collect();
        for at in 0..40 {
            let s = &text[at..];
            assert_eq!(count_newlines(s), s.iter().filter(|&&b| b == b'\n').count());
            let first = s
                .iter()
                .position(|&b| b == b'\n')
                .map_or(s.len(), |p| p + 1);
            assert_eq!(line_len(s), first);
        }
    }

    #[test]
    fn refuses_what_it_cannot_number() {
        assert_eq!(transform(&request("x", "text/html", &[])), Err(22));
        assert_eq!(
            transform(&request("x", "text/plain; charset=latin1", &[])),
            Err(22)
        );
        assert_eq!(
            transform(&request("x", "text/plain", &[("start", "-1")])),
            Err(21)
        );
        assert_eq!(
            transform(&request("x", "text/plain", &[("separator", "\n")])),
            Err(21)
        );
        let mut bad = request("", "text/plain", &[]);
        bad.content = vec![0xff];
        assert_eq!(transform(&bad), Err(23));
    }
}
