//! fetch (capabilities `io`, `http`, `log`): sends the HTTP request
//! described by its input and answers with the response.
//!
//! Input: a request line `METHOD URL`, then `Name: value` header lines, then
//! an empty line and the body (the empty line and body are optional).
//! Output: the status code, a newline, and the response body. A request the
//! host refuses is the plugin error 4 with a message naming the host's code
//! (`http request refused: not_permitted (-7)`); an input that is not a
//! request is the plugin error 2.

use bitvault_pdk::http::Request;
use bitvault_pdk::{Error, export, log};

/// Parses the input into a request.
pub fn parse(input: &[u8]) -> Result<Request, Error> {
    let bad = |why: &str| Error::new(Error::BAD_INPUT, format!("bad request: {why}"));
    let (head, body) = match find(input, b"\n\n") {
        Some(at) => (&input[..at], &input[at + 2..]),
        None => (input, &[][..]),
    };
    let head = std::str::from_utf8(head).map_err(|_| bad("the head is not UTF-8"))?;
    let mut lines = head.lines();
    let first = lines.next().unwrap_or("");
    let (method, url) = first
        .split_once(' ')
        .ok_or_else(|| bad("the first line is not `METHOD URL`"))?;
    let mut request = Request::new(method, url.trim()).body(body.to_vec());
    for line in lines {
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| bad("a header line has no `:`"))?;
        request = request.header(name.trim(), value.trim());
    }
    Ok(request)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Sends the request in the input; answers `STATUS\nBODY`.
pub fn fetch(input: Vec<u8>) -> Result<Vec<u8>, Error> {
    let request = parse(&input)?;
    log::debug(&format!("{} {}", request.method, request.url));
    let response = request
        .send()
        .map_err(|e| Error::new(4, format!("http request refused: {e}")))?;
    log::info(&format!(
        "{} {} -> {} ({} bytes)",
        request.method,
        request.url,
        response.status,
        response.body.len()
    ));
    let mut out = format!("{}\n", response.status).into_bytes();
    out.extend_from_slice(&response.body);
    Ok(out)
}

export!(fetch);

#[cfg(test)]
mod tests {
    use bitvault_pdk::HostError;
    use bitvault_pdk::http::Response;
    use bitvault_pdk::testing::Host;

    #[test]
    fn sends_what_the_input_describes_and_answers_status_and_body() {
        let out = Host::new()
            .input(b"POST https://api.example.com/items\nContent-Type: text/plain\n\nhello")
            .http(|r| Ok(Response::new(201, r.body.to_ascii_uppercase())))
            .run(|| bitvault_pdk::run(super::fetch));
        assert_eq!((out.code, out.output.as_slice()), (0, &b"201\nHELLO"[..]));
        let sent = &out.requests[0];
        assert_eq!(sent.method, "POST");
        assert_eq!(sent.url, "https://api.example.com/items");
        assert_eq!(sent.header_value("content-type"), Some(&b"text/plain"[..]));
    }

    #[test]
    fn a_refusal_is_plugin_error_4_naming_the_code() {
        let out = Host::new()
            .input(b"GET http://169.254.169.254/latest/meta-data/")
            .http(|_| Err(HostError::NotPermitted))
            .run(|| bitvault_pdk::run(super::fetch));
        assert_eq!(out.code, 4);
        assert_eq!(
            out.error.as_deref(),
            Some("http request refused: not_permitted (-7)")
        );
    }

    #[test]
    fn input_that_is_not_a_request_is_bad_input() {
        let out = Host::new()
            .input(b"nonsense")
            .http(|_| Ok(Response::new(200, vec![])))
            .run(|| bitvault_pdk::run(super::fetch));
        assert_eq!(out.code, bitvault_pdk::Error::BAD_INPUT);
        assert!(out.requests.is_empty());
    }
}
