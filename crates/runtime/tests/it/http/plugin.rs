//! `http_request` through a plugin: a WAT module sends the request head
//! its input carries and answers with the staged response, so each test
//! drives the host function exactly as a guest does. The grant decides
//! what is reachable; every refusal is a code the guest sees plus an
//! [`HttpRecord`] on the outcome, and no refused request reaches a socket.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Result, bail, ensure};
use bitvault_abi::wire::{self, HttpRequestHead, HttpResponseWire};
use bitvault_abi::{CapabilityKind, ErrorCode, Grants, HttpGrant, LimitPolicy, Limits};
use bitvault_runtime::http::{HttpClient, HttpLimits};
use bitvault_runtime::net::{Resolver, StubResolver};
use bitvault_runtime::{
    CallContext, DenyReason, HttpRecord, InvokeError, LoadError, Outcome, Prepared, Runtime,
    RuntimeConfig,
};

use super::{LOOPBACK, Quiet, Reply, Server, redirect, reply};

/// Input: a u32 LE repeat count, a u32 LE head length, the head, the body.
/// Sends the request `repeat` times; answers the last staged response, or
/// returns the first negative code.
const FETCH: &str = r#"
(module
  (import "bitvault_v1" "input_len" (func $input_len (result i32)))
  (import "bitvault_v1" "read_input" (func $read_input (param i32 i32 i32) (result i32)))
  (import "bitvault_v1" "write_output" (func $write_output (param i32 i32) (result i32)))
  (import "bitvault_v1" "result_read" (func $result_read (param i32 i32 i32) (result i32)))
  (import "bitvault_v1" "http_request" (func $http (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 160)
  (func (export "fetch") (result i32)
    (local $n i32) (local $repeat i32) (local $head i32) (local $r i32)
    (local.set $n (call $input_len))
    (drop (call $read_input (i32.const 0) (i32.const 0) (local.get $n)))
    (local.set $repeat (i32.load (i32.const 0)))
    (local.set $head (i32.load (i32.const 4)))
    (loop $again
      (local.set $r (call $http
        (i32.const 8) (local.get $head)
        (i32.add (i32.const 8) (local.get $head))
        (i32.sub (local.get $n) (i32.add (i32.const 8) (local.get $head)))))
      (if (i32.lt_s (local.get $r) (i32.const 0)) (then (return (local.get $r))))
      (local.set $repeat (i32.sub (local.get $repeat) (i32.const 1)))
      (br_if $again (i32.gt_s (local.get $repeat) (i32.const 0))))
    ;; The staged response goes above the input.
    (drop (call $result_read (i32.const 0) (i32.const 5000000) (local.get $r)))
    (drop (call $write_output (i32.const 5000000) (local.get $r)))
    (i32.const 0))
  ;; A head pointer past the end of memory.
  (func (export "hostile") (result i32)
    (call $http (i32.const -16) (i32.const 64) (i32.const 0) (i32.const 0))))
"#;

fn grants(http: HttpGrant) -> Grants {
    Grants {
        http: Some(http),
        ..Grants::core()
    }
}

/// A grant of `origins` with 127.0.0.0/8 allowed.
fn loopback_grant(origins: &[String]) -> HttpGrant {
    HttpGrant {
        allow_private: vec!["127.0.0.0/8".into()],
        ..HttpGrant::to(origins.iter().cloned())
    }
}

fn load(grant: HttpGrant) -> Result<Prepared> {
    let rt = Runtime::new(RuntimeConfig::new())?;
    Ok(rt.load(&wat::parse_str(FETCH)?, &grants(grant))?)
}

fn http_limits() -> HttpLimits {
    HttpLimits {
        timeout: Duration::from_secs(5),
        ..HttpLimits::standard()
    }
}

fn ctx_with(resolver: Arc<dyn Resolver>, limits: HttpLimits) -> Result<CallContext> {
    Ok(CallContext::new(LimitPolicy::standard().default)
        .for_plugin("tenant-a", "fetcher")
        .with_http(HttpClient::new(None)?, resolver, limits))
}

fn ctx() -> Result<CallContext> {
    ctx_with(Arc::new(StubResolver::new()), http_limits())
}

fn head(method: &str, url: &str, headers: &[(&str, &[u8])]) -> HttpRequestHead {
    HttpRequestHead {
        method: method.into(),
        url: url.into(),
        headers: headers
            .iter()
            .map(|(n, v)| ((*n).to_owned(), v.to_vec()))
            .collect(),
    }
}

fn input(repeat: u32, head: &HttpRequestHead, body: &[u8]) -> Vec<u8> {
    let head = wire::encode_http_request(head);
    let mut out = repeat.to_le_bytes().to_vec();
    out.extend_from_slice(&(head.len() as u32).to_le_bytes());
    out.extend_from_slice(&head);
    out.extend_from_slice(body);
    out
}

fn fetch(p: &Prepared, ctx: &CallContext, head: &HttpRequestHead) -> Outcome {
    p.invoke("fetch", input(1, head, b""), ctx)
}

fn response(out: Outcome) -> Result<HttpResponseWire> {
    Ok(wire::decode_http_response(&out.result?)?)
}

/// The guest's code for a refused request.
fn refused(out: &Outcome) -> Result<ErrorCode> {
    match &out.result {
        Err(InvokeError::PluginError { code, .. }) => match ErrorCode::from_code(*code) {
            Some(c) => Ok(c),
            None => bail!("plugin error {code} is not an ABI code"),
        },
        other => bail!("expected a refused request, got {other:?}"),
    }
}

fn only_record(out: &Outcome) -> Result<&HttpRecord> {
    ensure!(out.http.len() == 1, "records: {:?}", out.http);
    Ok(&out.http[0])
}

#[test]
fn an_allowlisted_request_succeeds_and_is_recorded() -> Result<()> {
    let server = Server::start(|r| {
        let mut body = format!("{} {} ", r.method, r.target).into_bytes();
        body.extend_from_slice(&r.body);
        reply("200 OK", &[("X-Served-By", "loopback")], &body)
    })?;
    let base = format!("http://127.0.0.1:{}", server.port());
    let p = load(loopback_grant(&[format!("{base}/v1/")]))?;
    let ctx = ctx()?;

    let h = head(
        "POST",
        &format!("{base}/v1/items?x=1"),
        &[("x-token", b"t")],
    );
    let out = p.invoke("fetch", input(1, &h, b"payload"), &ctx);
    let record = only_record(&out)?.clone();
    let r = response(out)?;
    assert_eq!(r.status, 200);
    assert_eq!(r.body, b"POST /v1/items?x=1 payload");
    let served_by = r.headers.iter().find(|(n, _)| n == "x-served-by");
    assert_eq!(served_by.map(|(_, v)| v.as_slice()), Some(&b"loopback"[..]));
    assert_eq!(record.status, Some(200));
    assert_eq!((record.code, record.error.as_deref()), (None, None));
    assert_eq!(record.method, "POST");
    assert_eq!(record.url, format!("{base}/v1/items?x=1"));
    let seen = server.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].header("x-token"), Some("t"));
    Ok(())
}

#[test]
fn an_origin_outside_the_grant_is_refused_before_connecting() -> Result<()> {
    let granted = Quiet::new()?;
    let other = Quiet::new()?;
    let p = load(loopback_grant(&[format!(
        "http://127.0.0.1:{}/v1/",
        granted.port()?
    )]))?;
    let ctx = ctx()?;
    let o = other.port()?;
    let g = granted.port()?;
    for url in [
        format!("http://127.0.0.1:{o}/v1/x"),    // another port
        format!("https://127.0.0.1:{g}/v1/x"),   // another scheme
        format!("http://127.0.0.1:{g}/v10/x"),   // outside the prefix
        format!("http://127.0.0.1:{g}/v1/../x"), // out by dot segments
    ] {
        let out = fetch(&p, &ctx, &head("GET", &url, &[]));
        assert_eq!(refused(&out)?, ErrorCode::NotPermitted, "{url}");
        let record = only_record(&out)?;
        assert_eq!(record.code, Some(ErrorCode::NotPermitted));
        let error = record.error.as_deref().unwrap_or("");
        assert!(error.contains("not allowed"), "{url}: {error}");
    }
    granted.assert_untouched()?;
    other.assert_untouched()
}

/// Disguised hosts, each aimed at the port of a listener on 127.0.0.1
/// that must never see a connection: the grant names only `allowed.test`
/// (whose name the stub resolver does not know, so not even a resolution
/// happens), and every form below is refused before anything is resolved
/// or connected.
#[test]
fn ssrf_forms_cannot_sneak_past_the_grant() -> Result<()> {
    let quiet = Quiet::new()?;
    let port = quiet.port()?;
    let p = load(HttpGrant::to([format!("http://allowed.test:{port}")]))?;
    let dns = StubResolver::new();
    let ctx = ctx_with(Arc::new(dns), http_limits())?;
    for host in [
        "127.0.0.1".to_owned(),
        "2130706433".into(),         // decimal
        "017700000001".into(),       // octal
        "0x7f.0.0.1".into(),         // hex
        "127.1".into(),              // short form
        "[::ffff:127.0.0.1]".into(), // IPv4-mapped
        "[::1]".into(),              // IPv6 loopback
        "localhost".into(),
        "0.0.0.0".into(),                // unspecified
        "169.254.169.254".into(),        // cloud metadata
        "10.0.0.1".into(),               // private
        "allowed.test@127.0.0.1".into(), // userinfo
        "allowed.test.evil.test".into(),
        "ALLOWED.TEST.@127.0.0.1".into(),
    ] {
        let url = format!("http://{host}:{port}/");
        let out = fetch(&p, &ctx, &head("GET", &url, &[]));
        assert_eq!(refused(&out)?, ErrorCode::NotPermitted, "{url}");
        assert_eq!(only_record(&out)?.code, Some(ErrorCode::NotPermitted));
    }
    quiet.assert_untouched()
}

#[test]
fn loopback_and_metadata_need_an_explicit_exact_grant() -> Result<()> {
    let quiet = Quiet::new()?;
    let port = quiet.port()?;
    let ctx = ctx()?;
    let url = format!("http://127.0.0.1:{port}/");

    // Named as an origin, but no `allow_private`: the address is refused.
    let p = load(HttpGrant::to([url.clone()]))?;
    let out = fetch(&p, &ctx, &head("GET", &url, &[]));
    assert_eq!(refused(&out)?, ErrorCode::NotPermitted);
    let error = only_record(&out)?.error.clone().unwrap_or_default();
    assert!(error.contains("loopback"), "{error}");

    // A link-local range does not reach the metadata address.
    let p = load(HttpGrant {
        allow_private: vec!["169.254.0.0/16".into()],
        ..HttpGrant::to(["http://169.254.169.254"])
    })?;
    let out = fetch(
        &p,
        &ctx,
        &head("GET", "http://169.254.169.254/latest/", &[]),
    );
    assert_eq!(refused(&out)?, ErrorCode::NotPermitted);
    let error = only_record(&out)?.error.clone().unwrap_or_default();
    assert!(error.contains("metadata"), "{error}");
    quiet.assert_untouched()
}

/// The name resolves to loopback (granted) for the first hop; a redirect
/// to the same host is resolved again by the host, now to a private
/// address the grant does not cover: refused, never connected.
#[test]
fn dns_rebinding_across_a_redirect_is_refused() -> Result<()> {
    let server = Server::start(|r| match r.target.as_str() {
        "/a" => redirect("302 Found", "/b"),
        _ => reply("200 OK", &[], b"unreachable"),
    })?;
    let port = server.port();
    let dns = Arc::new(
        StubResolver::new()
            .answer("rebind.test", [LOOPBACK])
            .answer("rebind.test", [IpAddr::V4(Ipv4Addr::new(10, 0, 0, 7))]),
    );
    let p = load(HttpGrant {
        allow_private: vec!["127.0.0.1".into()],
        ..HttpGrant::to([format!("http://rebind.test:{port}")])
    })?;
    let ctx = ctx_with(dns.clone(), http_limits())?;
    let out = fetch(
        &p,
        &ctx,
        &head("GET", &format!("http://rebind.test:{port}/a"), &[]),
    );
    assert_eq!(refused(&out)?, ErrorCode::NotPermitted);
    let error = only_record(&out)?.error.clone().unwrap_or_default();
    assert!(
        error.contains("hop 1") && error.contains("10.0.0.7"),
        "{error}"
    );
    assert_eq!(dns.lookups("rebind.test"), 2);
    let seen = server.seen();
    assert_eq!(seen.len(), 1, "only the first hop connected");
    assert_eq!(seen[0].target, "/a");
    Ok(())
}

#[test]
fn a_redirect_to_a_host_outside_the_grant_is_refused() -> Result<()> {
    let elsewhere = Quiet::new()?;
    let target = format!("http://127.0.0.1:{}/steal", elsewhere.port()?);
    let server = Server::start(move |_| redirect("307 Temporary Redirect", &target))?;
    let base = format!("http://127.0.0.1:{}", server.port());
    let p = load(loopback_grant(std::slice::from_ref(&base)))?;
    let out = fetch(&p, &ctx()?, &head("GET", &format!("{base}/start"), &[]));
    assert_eq!(refused(&out)?, ErrorCode::NotPermitted);
    assert_eq!(server.seen().len(), 1);
    elsewhere.assert_untouched()
}

#[test]
fn requests_past_the_grants_count_are_refused_unsent() -> Result<()> {
    let server = Server::start(|_| reply("200 OK", &[], b"ok"))?;
    let base = format!("http://127.0.0.1:{}", server.port());
    let p = load(HttpGrant {
        max_requests: 2,
        ..loopback_grant(std::slice::from_ref(&base))
    })?;
    let ctx = ctx()?;
    let h = head("GET", &format!("{base}/"), &[]);

    let out = p.invoke("fetch", input(2, &h, b""), &ctx);
    assert_eq!(response(out)?.body, b"ok");
    let out = p.invoke("fetch", input(3, &h, b""), &ctx);
    assert_eq!(refused(&out)?, ErrorCode::QuotaExceeded);
    let codes: Vec<_> = out.http.iter().map(|r| (r.status, r.code)).collect();
    assert_eq!(
        codes,
        [
            (Some(200), None),
            (Some(200), None),
            (None, Some(ErrorCode::QuotaExceeded))
        ]
    );
    assert_eq!(server.seen().len(), 4, "2 + 2 sent, the fifth refused");
    Ok(())
}

#[test]
fn oversized_requests_and_responses_are_too_large() -> Result<()> {
    let server = Server::start(|_| reply("200 OK", &[], &[b'x'; 2048]))?;
    let base = format!("http://127.0.0.1:{}", server.port());
    let p = load(loopback_grant(std::slice::from_ref(&base)))?;
    let limits = HttpLimits {
        max_response_bytes: 1024,
        max_request_bytes: 16,
        ..http_limits()
    };
    let ctx = ctx_with(Arc::new(StubResolver::new()), limits)?;
    let h = head("GET", &format!("{base}/"), &[]);

    let out = fetch(&p, &ctx, &h);
    assert_eq!(refused(&out)?, ErrorCode::TooLarge);
    let error = only_record(&out)?.error.clone().unwrap_or_default();
    assert!(error.contains("1024"), "{error}");

    // A body over the limit is refused before it leaves the guest.
    let out = p.invoke("fetch", input(1, &h, &[0; 17]), &ctx);
    assert_eq!(refused(&out)?, ErrorCode::TooLarge);
    assert!(out.http.is_empty(), "refused before it was counted");
    assert_eq!(server.seen().len(), 1);
    Ok(())
}

#[test]
fn a_silent_server_times_out_and_a_closed_port_fails_to_connect() -> Result<()> {
    let server = Server::start(|_| Reply::Silent)?;
    let base = format!("http://127.0.0.1:{}", server.port());
    let closed = std::net::TcpListener::bind((LOOPBACK, 0))?
        .local_addr()?
        .port();
    let closed = format!("http://127.0.0.1:{closed}");
    let p = load(loopback_grant(&[base.clone(), closed.clone()]))?;
    let limits = HttpLimits {
        timeout: Duration::from_millis(200),
        ..http_limits()
    };
    let ctx = ctx_with(Arc::new(StubResolver::new()), limits)?;

    let started = Instant::now();
    let out = fetch(&p, &ctx, &head("GET", &format!("{base}/"), &[]));
    assert_eq!(refused(&out)?, ErrorCode::TimedOut);
    assert!(started.elapsed() < Duration::from_secs(3));

    let out = fetch(&p, &ctx, &head("GET", &format!("{closed}/"), &[]));
    assert_eq!(refused(&out)?, ErrorCode::ConnectionFailed);
    let error = only_record(&out)?.error.clone().unwrap_or_default();
    assert!(error.contains("cannot connect"), "{error}");
    Ok(())
}

/// The invocation's deadline bounds a request even when the HTTP timeout
/// is longer: the call ends by the deadline, as a deadline or as the
/// guest's `timed_out`.
#[test]
fn the_invocation_deadline_bounds_a_request() -> Result<()> {
    let server = Server::start(|_| Reply::Silent)?;
    let base = format!("http://127.0.0.1:{}", server.port());
    let p = load(loopback_grant(std::slice::from_ref(&base)))?;
    let limits = Limits {
        deadline_ms: 300,
        ..LimitPolicy::standard().default
    };
    let ctx = CallContext::new(limits).with_http(
        HttpClient::new(None)?,
        Arc::new(StubResolver::new()),
        http_limits(),
    );
    let started = Instant::now();
    let out = fetch(&p, &ctx, &head("GET", &format!("{base}/"), &[]));
    let elapsed = started.elapsed();
    assert!(elapsed < Duration::from_secs(2), "{elapsed:?}");
    match &out.result {
        Err(InvokeError::Deadline { .. }) => {}
        Err(InvokeError::PluginError { code, .. }) if *code == ErrorCode::TimedOut.code() => {}
        other => bail!("expected a deadline, got {other:?}"),
    }
    Ok(())
}

#[test]
fn malformed_heads_forbidden_headers_and_hostile_pointers_are_refused() -> Result<()> {
    let quiet = Quiet::new()?;
    let base = format!("http://127.0.0.1:{}", quiet.port()?);
    let p = load(loopback_grant(std::slice::from_ref(&base)))?;
    let ctx = ctx()?;
    let url = format!("{base}/");

    let host = head("GET", &url, &[("Host", b"evil.test")]);
    assert_eq!(
        refused(&fetch(&p, &ctx, &host))?,
        ErrorCode::InvalidArgument
    );
    let split = head("GET", &url, &[("x-a", b"1\r\nx-b: 2")]);
    assert_eq!(
        refused(&fetch(&p, &ctx, &split))?,
        ErrorCode::InvalidArgument
    );
    let method = head("TRACE", &url, &[]);
    assert_eq!(
        refused(&fetch(&p, &ctx, &method))?,
        ErrorCode::InvalidArgument
    );

    // Bytes that are not a head at all; a URL that is not UTF-8.
    let mut garbage = 1u32.to_le_bytes().to_vec();
    garbage.extend_from_slice(&7u32.to_le_bytes());
    garbage.extend_from_slice(&[0xff; 7]);
    let out = p.invoke("fetch", garbage, &ctx);
    assert_eq!(refused(&out)?, ErrorCode::InvalidArgument);
    let mut bad_utf8 = wire::encode_http_request(&head("GET", "", &[]));
    // After the method (4-byte length, "GET"): the URL's length, then 0xff.
    bad_utf8[7..11].copy_from_slice(&1u32.to_le_bytes());
    bad_utf8.insert(11, 0xff);
    let mut framed = 1u32.to_le_bytes().to_vec();
    framed.extend_from_slice(&(bad_utf8.len() as u32).to_le_bytes());
    framed.extend_from_slice(&bad_utf8);
    assert_eq!(
        refused(&p.invoke("fetch", framed, &ctx))?,
        ErrorCode::InvalidUtf8
    );

    let out = p.invoke("hostile", Vec::new(), &ctx);
    assert_eq!(refused(&out)?, ErrorCode::OutOfBounds);
    quiet.assert_untouched()
}

#[test]
fn without_a_client_the_function_answers_unavailable() -> Result<()> {
    let p = load(HttpGrant::to(["https://example.com"]))?;
    let ctx = CallContext::new(LimitPolicy::standard().default);
    let out = fetch(&p, &ctx, &head("GET", "https://example.com/", &[]));
    assert_eq!(refused(&out)?, ErrorCode::Unavailable);
    Ok(())
}

#[test]
fn without_the_grant_the_module_is_refused_before_it_runs() -> Result<()> {
    let rt = Runtime::new(RuntimeConfig::new())?;
    match rt.load(&wat::parse_str(FETCH)?, &Grants::core()) {
        Err(LoadError::CapabilityDenied { imports }) => {
            assert_eq!(imports.len(), 1);
            assert_eq!(imports[0].name, "http_request");
            assert_eq!(
                imports[0].reason,
                DenyReason::NotGranted {
                    capability: CapabilityKind::Http
                }
            );
        }
        other => bail!("expected capability_denied, got {other:?}"),
    }
    Ok(())
}

#[test]
fn a_grant_that_does_not_parse_is_refused_naming_the_entry() -> Result<()> {
    let rt = Runtime::new(RuntimeConfig::new())?;
    let wasm = wat::parse_str(FETCH)?;
    for (grant, needle) in [
        (HttpGrant::to(["ftp://example.com"]), "ftp"),
        (HttpGrant::to(["https://*.example.com"]), "wildcard"),
        (
            HttpGrant {
                allow_private: vec!["10.0.0.0/33".into()],
                ..HttpGrant::to(["https://example.com"])
            },
            "10.0.0.0/33",
        ),
    ] {
        match rt.load(&wasm, &grants(grant)) {
            Err(e @ LoadError::InvalidGrant { .. }) => {
                assert_eq!(e.kind().name(), "capability_denied");
                assert!(e.to_string().contains(needle), "{e}");
            }
            other => bail!("expected invalid_grant, got {other:?}"),
        }
    }
    Ok(())
}
