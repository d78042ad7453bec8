//! The byte encodings of the structured values that cross the ABI: a page
//! of KV keys (`kv_list`), an HTTP request head (`http_request`) and an
//! HTTP response (staged by `http_request`).
//!
//! Every encoding is a sequence of fields; integers are little-endian, and
//! a byte string is its length as a `u32` followed by its bytes. Decoders
//! take untrusted bytes (the host decodes what a guest wrote, a guest what
//! the host staged): they never read past the end, never allocate more
//! than the input could hold, and refuse trailing bytes.
//!
//! ```
//! use bitvault_abi::wire::{self, HttpRequestHead};
//!
//! let head = HttpRequestHead {
//!     method: "GET".into(),
//!     url: "https://api.example.com/v1/items".into(),
//!     headers: vec![("accept".into(), b"application/json".to_vec())],
//! };
//! let bytes = wire::encode_http_request(&head);
//! assert_eq!(wire::decode_http_request(&bytes), Ok(head));
//! assert_eq!(wire::decode_http_request(&bytes[..5]), Err(wire::WireError::Truncated));
//! ```
//!
//! This module has no dependencies, so the guest SDK uses it with the
//! crate's default features off.

use std::fmt;

/// Why bytes do not decode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WireError {
    /// A field runs past the end of the bytes.
    Truncated,
    /// Bytes follow the last field.
    TrailingBytes,
    /// A text field (method, URL, header name) is not UTF-8.
    InvalidUtf8,
    /// A field holds a value outside its range (an HTTP status outside
    /// 100–999, a flag byte other than 0 or 1).
    OutOfRange,
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            WireError::Truncated => "a field runs past the end of the bytes",
            WireError::TrailingBytes => "bytes follow the last field",
            WireError::InvalidUtf8 => "a text field is not UTF-8",
            WireError::OutOfRange => "a field holds a value outside its range",
        })
    }
}

impl std::error::Error for WireError {}

/// One page of keys from `kv_list`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct KvPage {
    /// The keys, in ascending byte order.
    pub keys: Vec<Vec<u8>>,
    /// The cursor for the next page; `None` at the end.
    pub next: Option<Vec<u8>>,
}

/// The head of an `http_request`: everything but the body, which travels
/// as its own `(ptr, len)` pair.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HttpRequestHead {
    /// The method, such as `GET`.
    pub method: String,
    /// The absolute `http` or `https` URL.
    pub url: String,
    /// Header names and values, in order.
    pub headers: Vec<(String, Vec<u8>)>,
}

/// The response `http_request` stages for `result_read`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HttpResponseWire {
    /// The status code.
    pub status: u16,
    /// Header names (lower case) and values, in the order received.
    pub headers: Vec<(String, Vec<u8>)>,
    /// The body.
    pub body: Vec<u8>,
}

/// Encodes a KV page: a `u32` key count, each key as a byte string, then a
/// flag byte (1 if a cursor follows, else 0) and, if 1, the cursor as a
/// byte string.
pub fn encode_kv_page<K: AsRef<[u8]>>(keys: &[K], next: Option<&[u8]>) -> Vec<u8> {
    let size = 4
        + keys.iter().map(|k| 4 + k.as_ref().len()).sum::<usize>()
        + 1
        + next.map_or(0, |n| 4 + n.len());
    let mut out = Writer(Vec::with_capacity(size));
    out.count(keys.len());
    for k in keys {
        out.bytes(k.as_ref());
    }
    match next {
        Some(n) => {
            out.0.push(1);
            out.bytes(n);
        }
        None => out.0.push(0),
    }
    out.0
}

/// Decodes a KV page (see [`encode_kv_page`]).
///
/// # Errors
/// [`WireError`] for bytes that are not exactly one page.
pub fn decode_kv_page(b: &[u8]) -> Result<KvPage, WireError> {
    let mut r = Reader { b, at: 0 };
    let count = r.count(4)?;
    let mut keys = Vec::with_capacity(count);
    for _ in 0..count {
        keys.push(r.bytes()?.to_vec());
    }
    let next = match r.u8()? {
        0 => None,
        1 => Some(r.bytes()?.to_vec()),
        _ => return Err(WireError::OutOfRange),
    };
    r.end()?;
    Ok(KvPage { keys, next })
}

/// Encodes a request head: the method and the URL as byte strings, a
/// `u32` header count, then each header's name and value as byte strings.
pub fn encode_http_request(head: &HttpRequestHead) -> Vec<u8> {
    let mut out = Writer(Vec::with_capacity(
        12 + head.method.len() + head.url.len() + headers_size(&head.headers),
    ));
    out.bytes(head.method.as_bytes());
    out.bytes(head.url.as_bytes());
    out.headers(&head.headers);
    out.0
}

/// Decodes a request head (see [`encode_http_request`]).
///
/// # Errors
/// [`WireError`] for bytes that are not exactly one request head, or text
/// fields that are not UTF-8.
pub fn decode_http_request(b: &[u8]) -> Result<HttpRequestHead, WireError> {
    let mut r = Reader { b, at: 0 };
    let method = r.text()?;
    let url = r.text()?;
    let headers = r.headers()?;
    r.end()?;
    Ok(HttpRequestHead {
        method,
        url,
        headers,
    })
}

/// Encodes a response: the status as a `u32`, a `u32` header count, each
/// header's name and value as byte strings, then the body as a byte
/// string.
pub fn encode_http_response(status: u16, headers: &[(String, Vec<u8>)], body: &[u8]) -> Vec<u8> {
    let mut out = Writer(Vec::with_capacity(12 + headers_size(headers) + body.len()));
    out.0.extend_from_slice(&u32::from(status).to_le_bytes());
    out.headers(headers);
    out.bytes(body);
    out.0
}

/// Decodes a response (see [`encode_http_response`]).
///
/// # Errors
/// [`WireError`] for bytes that are not exactly one response.
pub fn decode_http_response(b: &[u8]) -> Result<HttpResponseWire, WireError> {
    let mut r = Reader { b, at: 0 };
    let status = r.u32()?;
    if !(100..=999).contains(&status) {
        return Err(WireError::OutOfRange);
    }
    let headers = r.headers()?;
    let body = r.bytes()?.to_vec();
    r.end()?;
    Ok(HttpResponseWire {
        status: status as u16,
        headers,
        body,
    })
}

fn headers_size(headers: &[(String, Vec<u8>)]) -> usize {
    headers.iter().map(|(n, v)| 8 + n.len() + v.len()).sum()
}

struct Writer(Vec<u8>);

impl Writer {
    fn count(&mut self, n: usize) {
        self.0.extend_from_slice(&(n as u32).to_le_bytes());
    }

    fn bytes(&mut self, b: &[u8]) {
        self.count(b.len());
        self.0.extend_from_slice(b);
    }

    fn headers(&mut self, headers: &[(String, Vec<u8>)]) {
        self.count(headers.len());
        for (name, value) in headers {
            self.bytes(name.as_bytes());
            self.bytes(value);
        }
    }
}

struct Reader<'a> {
    b: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], WireError> {
        let end = self.at.checked_add(n).ok_or(WireError::Truncated)?;
        let s = self.b.get(self.at..end).ok_or(WireError::Truncated)?;
        self.at = end;
        Ok(s)
    }

    fn u8(&mut self) -> Result<u8, WireError> {
        Ok(self.take(1)?[0])
    }

    fn u32(&mut self) -> Result<u32, WireError> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// A count of items each at least `min_item` bytes long, refused when
    /// the rest of the input could not hold them (so a hostile count
    /// cannot make the decoder allocate).
    fn count(&mut self, min_item: usize) -> Result<usize, WireError> {
        let n = self.u32()? as usize;
        let rest = self.b.len() - self.at;
        if n.saturating_mul(min_item) > rest {
            return Err(WireError::Truncated);
        }
        Ok(n)
    }

    fn bytes(&mut self) -> Result<&'a [u8], WireError> {
        let n = self.u32()? as usize;
        self.take(n)
    }

    fn text(&mut self) -> Result<String, WireError> {
        let b = self.bytes()?;
        std::str::from_utf8(b)
            .map(str::to_owned)
            .map_err(|_| WireError::InvalidUtf8)
    }

    fn headers(&mut self) -> Result<Vec<(String, Vec<u8>)>, WireError> {
        let n = self.count(8)?;
        let mut list = Vec::with_capacity(n);
        for _ in 0..n {
            let name = self.text()?;
            let value = self.bytes()?.to_vec();
            list.push((name, value));
        }
        Ok(list)
    }

    fn end(&self) -> Result<(), WireError> {
        if self.at == self.b.len() {
            Ok(())
        } else {
            Err(WireError::TrailingBytes)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kv_pages_round_trip_and_match_the_documented_layout() {
        let keys = [b"a".to_vec(), b"bc".to_vec()];
        let bytes = encode_kv_page(&keys, Some(b"c"));
        assert_eq!(
            bytes,
            [
                2, 0, 0, 0, 1, 0, 0, 0, b'a', 2, 0, 0, 0, b'b', b'c', 1, 1, 0, 0, 0, b'c'
            ]
        );
        let page = decode_kv_page(&bytes).unwrap();
        assert_eq!(page.keys, keys);
        assert_eq!(page.next.as_deref(), Some(&b"c"[..]));
        let end = encode_kv_page::<&[u8]>(&[], None);
        assert_eq!(end, [0, 0, 0, 0, 0]);
        assert_eq!(decode_kv_page(&end), Ok(KvPage::default()));
    }

    #[test]
    fn responses_round_trip() {
        let headers = vec![("content-type".to_owned(), b"text/plain".to_vec())];
        let bytes = encode_http_response(200, &headers, b"hello");
        assert_eq!(&bytes[..4], &200u32.to_le_bytes());
        let r = decode_http_response(&bytes).unwrap();
        assert_eq!(
            (r.status, r.headers, r.body),
            (200, headers, b"hello".to_vec())
        );
    }

    #[test]
    fn every_truncation_and_any_trailing_byte_is_refused() {
        let head = HttpRequestHead {
            method: "POST".into(),
            url: "http://127.0.0.1:1/x".into(),
            headers: vec![("a".into(), b"1".to_vec()), ("b".into(), vec![])],
        };
        let bytes = encode_http_request(&head);
        for cut in 0..bytes.len() {
            assert_eq!(
                decode_http_request(&bytes[..cut]),
                Err(WireError::Truncated),
                "{cut}"
            );
        }
        let mut long = bytes.clone();
        long.push(0);
        assert_eq!(decode_http_request(&long), Err(WireError::TrailingBytes));
        let page = encode_kv_page(&[b"k"], None);
        for cut in 0..page.len() {
            assert!(decode_kv_page(&page[..cut]).is_err(), "{cut}");
        }
    }

    #[test]
    fn hostile_counts_and_lengths_neither_allocate_nor_panic() {
        // A header count of u32::MAX in a 12-byte head.
        let mut b = Vec::new();
        b.extend_from_slice(&0u32.to_le_bytes());
        b.extend_from_slice(&0u32.to_le_bytes());
        b.extend_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(decode_http_request(&b), Err(WireError::Truncated));
        // A method length of u32::MAX.
        assert_eq!(
            decode_http_request(&u32::MAX.to_le_bytes()),
            Err(WireError::Truncated)
        );
        assert_eq!(
            decode_kv_page(&u32::MAX.to_le_bytes()),
            Err(WireError::Truncated)
        );
    }

    #[test]
    fn text_must_be_utf8_and_flags_and_statuses_in_range() {
        let mut b = Vec::new();
        b.extend_from_slice(&1u32.to_le_bytes());
        b.push(0xff);
        b.extend_from_slice(&0u32.to_le_bytes());
        b.extend_from_slice(&0u32.to_le_bytes());
        assert_eq!(decode_http_request(&b), Err(WireError::InvalidUtf8));
        assert_eq!(decode_kv_page(&[0, 0, 0, 0, 2]), Err(WireError::OutOfRange));
        let bad = encode_http_response(42, &[], b"");
        assert_eq!(decode_http_response(&bad), Err(WireError::OutOfRange));
    }
}
