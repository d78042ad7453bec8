//! What every response must satisfy, whatever the plugin: the invariants
//! each contract states in its `.proto`, checked against the request that
//! produced the response. The host applies these checks to every response
//! of the typed API, so a plugin breaking its contract is a typed error
//! rather than a wrong answer; the conformance suites build on them.

use std::fmt;

use crate::proto::auth_provider::v1 as auth;
use crate::proto::content_transform::v1 as transform;
use crate::proto::event_handler::v1 as events;
use crate::proto::policy_hook::v1 as policy;
use crate::proto::search::v1 as search;
use crate::proto::storage_provider::v1 as storage;

/// A response that breaks its contract, and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation(pub String);

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Violation {}

fn fail<T>(message: impl Into<String>) -> Result<T, Violation> {
    Err(Violation(message.into()))
}

macro_rules! ensure {
    ($cond:expr, $($msg:tt)+) => {
        if !$cond {
            return fail(format!($($msg)+));
        }
    };
}

/// Whether `t` looks like a media type: `type/subtype`, both non-empty
/// tokens, no parameters.
pub fn is_media_type(t: &str) -> bool {
    let token = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$&-^_.+".contains(&b))
    };
    matches!(t.split_once('/'), Some((a, b)) if token(a) && token(b))
}

/// A content transform's response.
///
/// # Errors
/// The media type is not `type/subtype`.
pub fn transform(resp: &transform::TransformResponse) -> Result<(), Violation> {
    ensure!(
        is_media_type(&resp.media_type),
        "media_type `{}` is not a media type such as image/png",
        resp.media_type
    );
    Ok(())
}

/// An event handler's `Describe` response.
///
/// # Errors
/// No event type, or one that is empty, contains whitespace, or uses `*`
/// other than as a final `.*`.
pub fn describe(resp: &events::DescribeResponse) -> Result<(), Violation> {
    ensure!(!resp.event_types.is_empty(), "no event types declared");
    for t in &resp.event_types {
        let body = t.strip_suffix(".*").unwrap_or(t);
        ensure!(
            !body.is_empty() && !body.contains('*') && !body.contains(char::is_whitespace),
            "event type pattern `{t}` is not an exact type or a prefix ending in `.*`"
        );
    }
    Ok(())
}

/// An event handler's `Handle` response.
///
/// # Errors
/// An unspecified acknowledgement.
pub fn handle(resp: &events::HandleResponse) -> Result<(), Violation> {
    ensure!(
        events::Ack::try_from(resp.ack).is_ok_and(|a| a != events::Ack::Unspecified),
        "ack {} is not DONE, IGNORED or RETRY",
        resp.ack
    );
    Ok(())
}

/// Whether `key` is a valid object key (see `Status.STATUS_INVALID_KEY`).
pub fn is_valid_key(key: &str) -> bool {
    !key.is_empty()
        && key.len() <= 1024
        && !key.contains('\0')
        && !key.starts_with('/')
        && key
            .split('/')
            .all(|s| !s.is_empty() && s != "." && s != "..")
}

fn status(raw: i32) -> Result<storage::Status, Violation> {
    match storage::Status::try_from(raw) {
        Ok(storage::Status::Unspecified) | Err(_) => fail(format!("status {raw} is not a status")),
        Ok(s) => Ok(s),
    }
}

fn meta_for<'a>(
    meta: Option<&'a storage::ObjectMeta>,
    key: &str,
) -> Result<&'a storage::ObjectMeta, Violation> {
    let Some(meta) = meta else {
        return fail("status OK without the object's metadata");
    };
    ensure!(
        meta.key == key,
        "metadata for key `{}`, asked `{key}`",
        meta.key
    );
    ensure!(!meta.etag.is_empty(), "metadata without an ETag");
    Ok(meta)
}

/// Checks the status of a request whose key is invalid.
fn key_rule(key: &str, s: storage::Status) -> Result<(), Violation> {
    if !is_valid_key(key) {
        ensure!(
            s == storage::Status::InvalidKey,
            "key `{}` is invalid but the status is {s:?}",
            key.escape_debug()
        );
    } else {
        ensure!(
            s != storage::Status::InvalidKey,
            "key `{key}` is valid but the status is INVALID_KEY"
        );
    }
    Ok(())
}

/// A storage provider's `Put` response.
///
/// # Errors
/// An unspecified status, an invalid key accepted (or a valid one refused),
/// metadata missing or not matching the request, or a status `Put` cannot
/// answer.
pub fn put(req: &storage::PutRequest, resp: &storage::PutResponse) -> Result<(), Violation> {
    let s = status(resp.status)?;
    key_rule(&req.key, s)?;
    match s {
        storage::Status::Ok => {
            let meta = meta_for(resp.meta.as_ref(), &req.key)?;
            ensure!(
                meta.size == req.data.len() as u64,
                "stored size {} for {} bytes",
                meta.size,
                req.data.len()
            );
            ensure!(
                meta.content_type == req.content_type || req.content_type.is_empty(),
                "content type `{}` stored as `{}`",
                req.content_type,
                meta.content_type
            );
        }
        storage::Status::PreconditionFailed => ensure!(
            req.if_none_match_any || !req.if_match.is_empty(),
            "PRECONDITION_FAILED for a put without a condition"
        ),
        storage::Status::InvalidKey => {}
        other => return fail(format!("put answered {other:?}")),
    }
    Ok(())
}

/// A storage provider's `Get` response.
///
/// # Errors
/// An unspecified status, metadata not matching, or data that is not the
/// object or the asked range of it.
pub fn get(req: &storage::GetRequest, resp: &storage::GetResponse) -> Result<(), Violation> {
    let s = status(resp.status)?;
    key_rule(&req.key, s)?;
    match s {
        storage::Status::Ok => {
            let meta = meta_for(resp.meta.as_ref(), &req.key)?;
            let len = resp.data.len() as u64;
            match &req.range {
                None => {
                    ensure!(
                        len == meta.size && resp.range_start == 0,
                        "whole-object get returned {len} bytes from {} of a {}-byte object",
                        resp.range_start,
                        meta.size
                    );
                }
                Some(r) => {
                    let end = if r.end == 0 {
                        meta.size
                    } else {
                        r.end.min(meta.size)
                    };
                    ensure!(
                        r.start < end || (meta.size == 0 && r.start == 0),
                        "range {}..{} does not overlap a {}-byte object, yet the status is OK",
                        r.start,
                        r.end,
                        meta.size
                    );
                    ensure!(
                        resp.range_start == r.start && len == end - r.start,
                        "range {}..{} of a {}-byte object returned {len} bytes from {}",
                        r.start,
                        r.end,
                        meta.size,
                        resp.range_start
                    );
                }
            }
        }
        storage::Status::NotFound | storage::Status::InvalidKey => {
            ensure!(resp.data.is_empty(), "data with status {s:?}");
        }
        storage::Status::PreconditionFailed => ensure!(
            !req.if_match.is_empty(),
            "PRECONDITION_FAILED for a get without if_match"
        ),
        storage::Status::InvalidRange => ensure!(
            req.range.is_some(),
            "INVALID_RANGE for a get without a range"
        ),
        // `status` refuses it above.
        storage::Status::Unspecified => return fail("status is unspecified"),
    }
    Ok(())
}

/// A storage provider's `Head` response.
///
/// # Errors
/// An unspecified status, metadata not matching, or a status `Head` cannot
/// answer.
pub fn head(req: &storage::HeadRequest, resp: &storage::HeadResponse) -> Result<(), Violation> {
    let s = status(resp.status)?;
    key_rule(&req.key, s)?;
    match s {
        storage::Status::Ok => {
            meta_for(resp.meta.as_ref(), &req.key)?;
        }
        storage::Status::NotFound | storage::Status::InvalidKey => {}
        other => return fail(format!("head answered {other:?}")),
    }
    Ok(())
}

/// A storage provider's `Delete` response.
///
/// # Errors
/// A status other than OK (or INVALID_KEY for an invalid key).
pub fn delete(
    req: &storage::DeleteRequest,
    resp: &storage::DeleteResponse,
) -> Result<(), Violation> {
    let s = status(resp.status)?;
    key_rule(&req.key, s)?;
    ensure!(
        matches!(s, storage::Status::Ok | storage::Status::InvalidKey),
        "delete answered {s:?}; deleting a missing object is OK with existed = false"
    );
    Ok(())
}

/// A storage provider's `List` response.
///
/// # Errors
/// Entries out of order or outside the prefix, a key that the delimiter
/// should have rolled up, malformed common prefixes, or more results than
/// asked for.
pub fn list(req: &storage::ListRequest, resp: &storage::ListResponse) -> Result<(), Violation> {
    let s = status(resp.status)?;
    ensure!(s == storage::Status::Ok, "list answered {s:?}");
    let n = resp.objects.len() + resp.common_prefixes.len();
    ensure!(n <= 1000, "{n} results in one page; at most 1000");
    if req.max_results > 0 {
        ensure!(
            n <= req.max_results as usize,
            "{n} results for max_results {}",
            req.max_results
        );
    }
    for pair in resp.objects.windows(2) {
        ensure!(
            pair[0].key < pair[1].key,
            "objects out of order: `{}` before `{}`",
            pair[0].key,
            pair[1].key
        );
    }
    for pair in resp.common_prefixes.windows(2) {
        ensure!(
            pair[0] < pair[1],
            "common prefixes out of order: `{}` before `{}`",
            pair[0],
            pair[1]
        );
    }
    for o in &resp.objects {
        ensure!(
            o.key.starts_with(&req.prefix),
            "`{}` is outside the prefix `{}`",
            o.key,
            req.prefix
        );
        ensure!(!o.etag.is_empty(), "`{}` listed without an ETag", o.key);
        if !req.delimiter.is_empty() {
            ensure!(
                !o.key[req.prefix.len()..].contains(&req.delimiter),
                "`{}` should be rolled up by the delimiter `{}`",
                o.key,
                req.delimiter
            );
        }
    }
    for p in &resp.common_prefixes {
        ensure!(
            !req.delimiter.is_empty(),
            "common prefix `{p}` without a delimiter"
        );
        ensure!(
            p.starts_with(&req.prefix) && p.ends_with(&req.delimiter),
            "common prefix `{p}` does not start with `{}` and end with `{}`",
            req.prefix,
            req.delimiter
        );
    }
    if n == 0 {
        ensure!(
            resp.next_page_token.is_empty(),
            "an empty page with a next page token"
        );
    }
    Ok(())
}

/// An auth provider's response.
///
/// # Errors
/// Neither an identity nor a rejection, an identity without a subject, an
/// unspecified reason, or a rejection that echoes the token.
pub fn authenticate(
    req: &auth::AuthenticateRequest,
    resp: &auth::AuthenticateResponse,
) -> Result<(), Violation> {
    use auth::authenticate_response::Result as R;
    match &resp.result {
        None => fail("neither an identity nor a rejection"),
        Some(R::Identity(id)) => {
            ensure!(!id.subject.is_empty(), "an identity without a subject");
            Ok(())
        }
        Some(R::Rejection(r)) => {
            ensure!(
                auth::RejectionReason::try_from(r.reason)
                    .is_ok_and(|x| x != auth::RejectionReason::Unspecified),
                "rejection reason {} is not a reason",
                r.reason
            );
            ensure!(
                req.token.len() < 8 || !r.detail.contains(&req.token),
                "the rejection's detail echoes the token"
            );
            Ok(())
        }
    }
}

/// A policy hook's response.
///
/// # Errors
/// An unspecified decision, or ALLOW or DENY without a reason.
pub fn evaluate(resp: &policy::EvaluateResponse) -> Result<(), Violation> {
    let d = policy::Decision::try_from(resp.decision)
        .ok()
        .filter(|d| *d != policy::Decision::Unspecified);
    let Some(d) = d else {
        return fail(format!("decision {} is not a decision", resp.decision));
    };
    if matches!(d, policy::Decision::Allow | policy::Decision::Deny) {
        ensure!(!resp.reasons.is_empty(), "{d:?} without a reason");
    }
    Ok(())
}

/// What makes lower-cased HTML unsafe to show, looking only at its tags
/// (text, where `<` is escaped, cannot carry markup): a `script`, `iframe`,
/// `object`, `embed` or `style` element, an event handler attribute
/// (`on…`), or a `javascript:`, `vbscript:` or `data:` URL in an attribute.
fn unsafe_markup(html: &str) -> Option<String> {
    let mut rest = html;
    while let Some(open) = rest.find('<') {
        let after = &rest[open + 1..];
        let close = after.find('>').unwrap_or(after.len());
        let tag = &after[..close];
        rest = &after[close..];
        let tag = tag.trim_start_matches('/');
        let name_len = tag
            .find(|c: char| c.is_whitespace() || c == '/')
            .unwrap_or(tag.len());
        let name = &tag[..name_len];
        if ["script", "iframe", "object", "embed", "style"].contains(&name) {
            return Some(format!("contains a {name} element"));
        }
        // Attributes: name[=value] separated by whitespace; quoted values
        // may hold spaces.
        let mut attrs = &tag[name_len..];
        loop {
            attrs = attrs.trim_start_matches(|c: char| c.is_whitespace() || c == '/');
            if attrs.is_empty() {
                break;
            }
            let end = attrs
                .find(|c: char| c.is_whitespace() || c == '=')
                .unwrap_or(attrs.len());
            let attr = &attrs[..end];
            if attr.starts_with("on") && attr.len() > 2 {
                return Some(format!("has an event handler attribute `{attr}`"));
            }
            attrs = attrs[end..].trim_start();
            let Some(value) = attrs.strip_prefix('=') else {
                continue;
            };
            let value = value.trim_start();
            let (v, next) = match value.chars().next() {
                Some(q @ ('"' | '\'')) => {
                    let body = &value[1..];
                    let end = body.find(q).unwrap_or(body.len());
                    (&body[..end], body.get(end + 1..).unwrap_or(""))
                }
                _ => {
                    let end = value.find(char::is_whitespace).unwrap_or(value.len());
                    (&value[..end], &value[end..])
                }
            };
            let compact: String = v
                .chars()
                .filter(|c| !c.is_whitespace() && !c.is_control())
                .collect();
            for scheme in ["javascript:", "vbscript:", "data:"] {
                if compact.starts_with(scheme) {
                    return Some(format!("has a {scheme} URL in `{attr}`"));
                }
            }
            attrs = next;
        }
    }
    None
}

/// A search analyzer's response.
///
/// # Errors
/// A token with an empty term, offsets outside the text or not on
/// character boundaries, or positions that go backwards.
pub fn analyze(
    req: &search::AnalyzeRequest,
    resp: &search::AnalyzeResponse,
) -> Result<(), Violation> {
    let text = &req.text;
    let mut last: Option<(u32, u32)> = None;
    for (i, t) in resp.tokens.iter().enumerate() {
        ensure!(!t.term.is_empty(), "token {i} has an empty term");
        let (start, end) = (t.start as usize, t.end as usize);
        ensure!(
            start < end && end <= text.len(),
            "token {i} `{}` has offsets {start}..{end} outside a {}-byte text",
            t.term,
            text.len()
        );
        ensure!(
            text.is_char_boundary(start) && text.is_char_boundary(end),
            "token {i} `{}` has offsets {start}..{end} inside a character",
            t.term
        );
        if let Some((pos, prev_start)) = last {
            ensure!(
                t.position > pos || (t.position == pos && t.start >= prev_start),
                "token {i} `{}` has position {} after position {pos}",
                t.term,
                t.position
            );
        }
        last = Some((t.position, t.start));
    }
    Ok(())
}

/// A preview's response.
///
/// # Errors
/// No media type, a preview over `max_bytes`, or HTML with scripts, event
/// handler attributes or `javascript:` URLs.
pub fn preview(
    req: &search::PreviewRequest,
    resp: &search::PreviewResponse,
) -> Result<(), Violation> {
    ensure!(
        is_media_type(&resp.media_type),
        "media_type `{}` is not a media type",
        resp.media_type
    );
    if req.max_bytes > 0 {
        ensure!(
            resp.content.len() <= req.max_bytes as usize,
            "a {}-byte preview for max_bytes {}",
            resp.content.len(),
            req.max_bytes
        );
    }
    if resp.media_type == "text/html" {
        let html = String::from_utf8_lossy(&resp.content).to_ascii_lowercase();
        if let Some(problem) = unsafe_markup(&html) {
            return fail(format!("the HTML preview {problem}"));
        }
    } else {
        ensure!(
            resp.media_type.starts_with("image/"),
            "a preview must be text/html or an image, not {}",
            resp.media_type
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_follow_the_documented_rule() {
        for ok in ["a", "a/b.txt", "dir/sub/x", "ünï/çødé"] {
            assert!(is_valid_key(ok), "{ok}");
        }
        for bad in ["", "/a", "a//b", "a/./b", "a/../b", "..", "a/", "a\0b"] {
            assert!(!is_valid_key(bad), "{bad:?}");
        }
        assert!(!is_valid_key(&"k".repeat(1025)));
    }

    #[test]
    fn html_previews_with_scripts_or_handlers_are_violations() {
        let req = search::PreviewRequest::default();
        let html = |s: &str| search::PreviewResponse {
            media_type: "text/html".into(),
            content: s.as_bytes().to_vec(),
        };
        assert!(preview(&req, &html("<p>fine <a href=\"https://x\">x</a></p>")).is_ok());
        assert!(preview(&req, &html("<SCRIPT>x</SCRIPT>")).is_err());
        assert!(preview(&req, &html("<img src=x onerror=alert(1)>")).is_err());
        assert!(preview(&req, &html("<a href=\"JavaScript:alert(1)\">")).is_err());
        assert!(preview(&req, &html("<p>one = two, on = off</p>")).is_ok());
        // Escaped text is text, whatever it spells.
        assert!(preview(&req, &html("<p>&lt;b onclick=x&gt; javascript:</p>")).is_ok());
        assert!(preview(&req, &html("<a title=\"x y\" href = ' data:text/html,x'>")).is_err());
        assert!(preview(&req, &html("<iframe src=x></iframe>")).is_err());
    }

    #[test]
    fn analyzer_offsets_must_be_inside_the_text_on_boundaries() {
        let req = search::AnalyzeRequest {
            text: "héllo world".into(),
            ..Default::default()
        };
        let tok = |term: &str, position, start, end| search::Token {
            term: term.into(),
            position,
            start,
            end,
        };
        let ok = search::AnalyzeResponse {
            tokens: vec![tok("héllo", 0, 0, 6), tok("world", 1, 7, 12)],
        };
        assert_eq!(analyze(&req, &ok), Ok(()));
        let inside = search::AnalyzeResponse {
            tokens: vec![tok("h", 0, 0, 2)],
        };
        assert!(analyze(&req, &inside).is_err());
        let backwards = search::AnalyzeResponse {
            tokens: vec![tok("world", 1, 7, 12), tok("héllo", 0, 0, 6)],
        };
        assert!(analyze(&req, &backwards).is_err());
    }
}
