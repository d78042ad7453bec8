//! The scoped-HTTP client against real HTTP servers that each test starts
//! on 127.0.0.1 (granted explicitly with `allow_private`): allowlisted
//! requests succeed; refused origins, names, addresses, redirects and
//! headers fail with their exact error before a connection is made; sizes
//! and time are bounded. No test sends traffic anywhere but to its own
//! servers on 127.0.0.1: every other address a resolver answers is refused
//! by the policy before any connection.

use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use bitvault_runtime::http::{
    HttpClient, HttpError, HttpLimits, HttpRequest, HttpResponse, Phase, STOP_GRACE,
};
use bitvault_runtime::net::{
    AddrClass, Allowlist, Method, NetError, Origin, Refusal, Resolver, StubResolver,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

mod plugin;

const LOOPBACK: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

/// The CA of the test TLS server (valid 2000–2100).
const TEST_CA: &str = "\
-----BEGIN CERTIFICATE-----
MIIBaTCCARCgAwIBAgICEAAwCgYIKoZIzj0EAwIwGzEZMBcGA1UEAwwQQml0VmF1
bHQgdGVzdCBDQTAgFw0wMDAxMDEwMDAwMDBaGA8yMTAwMDEwMTAwMDAwMFowGzEZ
MBcGA1UEAwwQQml0VmF1bHQgdGVzdCBDQTBZMBMGByqGSM49AgEGCCqGSM49AwEH
A0IABMRF9bzV63vP1fCgspgQ4wfxzPQ6df3QZxu8PdFJCJ0/er/nnJ+Yg7k73Bqh
3Tu26NucWI8XPzB+09SNvzmtc/ajQjBAMA8GA1UdEwEB/wQFMAMBAf8wDgYDVR0P
AQH/BAQDAgEGMB0GA1UdDgQWBBQHf/CEutN2hpO24aTYup+bO/E51DAKBggqhkjO
PQQDAgNHADBEAiBISr5fL0FX4ItvRm1XS1HevGlPDLyMfuIfNOs01YsKYQIgcvfx
sgVnaESWL6wqV50gWW0NyOBzPSaEe38V90YWYjQ=
-----END CERTIFICATE-----
";
/// The server's certificate: `localhost`, `tls.test`, `127.0.0.1`.
const TEST_LEAF: &str = "\
-----BEGIN CERTIFICATE-----
MIIBvDCCAWOgAwIBAgICEAEwCgYIKoZIzj0EAwIwGzEZMBcGA1UEAwwQQml0VmF1
bHQgdGVzdCBDQTAgFw0wMDAxMDEwMDAwMDBaGA8yMTAwMDEwMTAwMDAwMFowEzER
MA8GA1UEAwwIdGxzLnRlc3QwWTATBgcqhkjOPQIBBggqhkjOPQMBBwNCAASCOFA6
4f02vcUnCXYgry52De7IotmfsJKIEmMafqhLSsBawCFa500dMdJ77eEZ4mX8myij
zDAh84ZUaxunek/ko4GcMIGZMAwGA1UdEwEB/wQCMAAwDgYDVR0PAQH/BAQDAgeA
MBMGA1UdJQQMMAoGCCsGAQUFBwMBMCQGA1UdEQQdMBuCCWxvY2FsaG9zdIIIdGxz
LnRlc3SHBH8AAAEwHQYDVR0OBBYEFFtp1LpPrntdUfGbBbZ2S5hrTs9aMB8GA1Ud
IwQYMBaAFAd/8IS603aGk7bhpNi6n5s78TnUMAoGCCqGSM49BAMCA0cAMEQCIED+
FZGpFocB8ttdSc+NSP3x0s+Lo4qYSKi0scIM10ExAiBdp2D25uVScgqtTPKvlayS
kMOtBL4gPtZ66HM7dyZaiA==
-----END CERTIFICATE-----
";
/// The server's key (P-256, PKCS#8).
const TEST_KEY: &str = "\
-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQghrdIPYGkGIdkeSyR
y25uLk03xB15Z1qEIsQGeqE8YQuhRANCAASCOFA64f02vcUnCXYgry52De7Iotmf
sJKIEmMafqhLSsBawCFa500dMdJ77eEZ4mX8myijzDAh84ZUaxunek/k
-----END PRIVATE KEY-----
";

/// What a test server saw of one request.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Seen {
    method: String,
    target: String,
    /// Names in lower case, in order.
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Seen {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// How a test server answers.
enum Reply {
    /// These bytes, then close.
    Raw(Vec<u8>),
    /// Nothing: wait for the client to hang up (at most 5 s).
    Silent,
    /// `head`, then up to `total` body bytes until a write fails; records
    /// whether all of them were written.
    Stream { head: Vec<u8>, total: usize },
}

/// `HTTP/1.1 {status}` with `headers`, `Content-Length` and
/// `Connection: close`.
fn reply(status: &str, headers: &[(&str, &str)], body: &[u8]) -> Reply {
    let mut out = format!("HTTP/1.1 {status}\r\n");
    for (n, v) in headers {
        out.push_str(&format!("{n}: {v}\r\n"));
    }
    out.push_str(&format!(
        "Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    ));
    let mut out = out.into_bytes();
    out.extend_from_slice(body);
    Reply::Raw(out)
}

fn redirect(status: &str, location: &str) -> Reply {
    reply(status, &[("Location", location)], b"")
}

type Handler = dyn Fn(&Seen) -> Reply + Send + Sync;

/// A one-thread HTTP/1.1 server on 127.0.0.1 that serves connections one
/// at a time until dropped (or for 30 s at most).
struct Server {
    addr: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
    /// For each `Reply::Stream`: whether the whole body was written.
    streamed: Arc<Mutex<Vec<bool>>>,
    stop: Arc<AtomicBool>,
    thread: Option<thread::JoinHandle<()>>,
}

impl Server {
    fn start(handler: impl Fn(&Seen) -> Reply + Send + Sync + 'static) -> Result<Server> {
        Server::start_with(None, Arc::new(handler))
    }

    fn start_tls(handler: impl Fn(&Seen) -> Reply + Send + Sync + 'static) -> Result<Server> {
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(
            vec![CertificateDer::from_pem_slice(TEST_LEAF.as_bytes())?],
            PrivateKeyDer::from_pem_slice(TEST_KEY.as_bytes())?,
        )?;
        Server::start_with(Some(Arc::new(config)), Arc::new(handler))
    }

    fn start_with(tls: Option<Arc<rustls::ServerConfig>>, handler: Arc<Handler>) -> Result<Server> {
        let listener = TcpListener::bind((LOOPBACK, 0))?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let seen = Arc::new(Mutex::new(Vec::new()));
        let streamed = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = thread::spawn({
            let (seen, streamed, stop) = (seen.clone(), streamed.clone(), stop.clone());
            move || {
                let until = Instant::now() + Duration::from_secs(30);
                while !stop.load(Ordering::Relaxed) && Instant::now() < until {
                    match listener.accept() {
                        Ok((tcp, _)) => {
                            let _ = serve(tcp, tls.as_ref(), &*handler, &seen, &streamed);
                        }
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                            thread::sleep(Duration::from_millis(2));
                        }
                        Err(_) => break,
                    }
                }
            }
        });
        Ok(Server {
            addr,
            seen,
            streamed,
            stop,
            thread: Some(thread),
        })
    }

    fn port(&self) -> u16 {
        self.addr.port()
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Stops the server, waits for its thread (so every stream has ended),
    /// and returns what it saw and, for each stream, whether it was written
    /// whole.
    fn finish(self) -> (Vec<Seen>, Vec<bool>) {
        let streamed = self.streamed.clone();
        let seen = self.seen();
        drop(self);
        let streamed = streamed
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        (seen, streamed)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn serve(
    tcp: TcpStream,
    tls: Option<&Arc<rustls::ServerConfig>>,
    handler: &Handler,
    seen: &Mutex<Vec<Seen>>,
    streamed: &Mutex<Vec<bool>>,
) -> Result<()> {
    tcp.set_nonblocking(false)?;
    tcp.set_read_timeout(Some(Duration::from_secs(5)))?;
    tcp.set_write_timeout(Some(Duration::from_secs(5)))?;
    match tls {
        None => exchange(tcp, handler, seen, streamed),
        Some(config) => {
            let conn = rustls::ServerConnection::new(config.clone())?;
            let mut stream = rustls::StreamOwned::new(conn, tcp);
            exchange(&mut stream, handler, seen, streamed)?;
            stream.conn.send_close_notify();
            stream.flush()?;
            Ok(())
        }
    }
}

fn exchange<S: Read + Write>(
    mut stream: S,
    handler: &Handler,
    seen: &Mutex<Vec<Seen>>,
    streamed: &Mutex<Vec<bool>>,
) -> Result<()> {
    let request = read_request(&mut stream)?;
    let answer = handler(&request);
    seen.lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push(request);
    match answer {
        Reply::Raw(bytes) => stream.write_all(&bytes)?,
        Reply::Silent => {
            let mut sink = [0u8; 1024];
            while matches!(stream.read(&mut sink), Ok(n) if n > 0) {}
        }
        Reply::Stream { head, total } => {
            let chunk = vec![b'x'; 64 << 10];
            let mut written = 0;
            let mut complete = stream.write_all(&head).is_ok();
            while complete && written < total {
                let n = chunk.len().min(total - written);
                complete = stream.write_all(&chunk[..n]).is_ok();
                written += n;
            }
            streamed
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(complete && written == total);
        }
    }
    stream.flush()?;
    Ok(())
}

fn read_request<S: Read>(stream: &mut S) -> Result<Seen> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        ensure!(buf.len() < 64 << 10, "request head too large");
        let n = stream.read(&mut chunk)?;
        ensure!(n > 0, "connection closed before the request head");
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8(buf[..end].to_vec())?;
    let mut lines = head.split("\r\n");
    let mut request_line = lines.next().context("no request line")?.split(' ');
    let method = request_line.next().context("no method")?.to_owned();
    let target = request_line.next().context("no target")?.to_owned();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let len: usize = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .map_or(Ok(0), |(_, v)| v.parse())?;
    let mut body = buf[end + 4..].to_vec();
    while body.len() < len {
        let n = stream.read(&mut chunk)?;
        ensure!(n > 0, "connection closed before the request body");
        body.extend_from_slice(&chunk[..n]);
    }
    body.truncate(len);
    Ok(Seen {
        method,
        target,
        headers,
        body,
    })
}

/// A listener nothing serves: after a refused request, `accept` must find
/// no connection waiting (a completed connect sits in the backlog).
struct Quiet(TcpListener);

impl Quiet {
    fn new() -> Result<Quiet> {
        let l = TcpListener::bind((LOOPBACK, 0))?;
        l.set_nonblocking(true)?;
        Ok(Quiet(l))
    }

    fn port(&self) -> Result<u16> {
        Ok(self.0.local_addr()?.port())
    }

    fn assert_untouched(&self) -> Result<()> {
        match self.0.accept() {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(()),
            Ok((_, peer)) => bail!("a connection from {peer} reached a refused origin"),
            Err(e) => Err(e.into()),
        }
    }
}

/// `origins`, with 127.0.0.0/8 granted.
fn loopback_policy(origins: &[String]) -> Result<Allowlist> {
    Ok(Allowlist::parse(
        origins.iter().map(String::as_str),
        ["127.0.0.0/8"],
    )?)
}

fn limits() -> HttpLimits {
    HttpLimits {
        timeout: Duration::from_secs(5),
        ..HttpLimits::standard()
    }
}

fn in_5s() -> Instant {
    Instant::now() + Duration::from_secs(5)
}

fn request(method: Method, url: &str) -> HttpRequest {
    HttpRequest {
        method,
        url: url.to_owned(),
        headers: Vec::new(),
        body: Vec::new(),
    }
}

fn send(
    client: &HttpClient,
    policy: &Allowlist,
    resolver: &dyn Resolver,
    req: HttpRequest,
) -> Result<HttpResponse, HttpError> {
    client.send(policy, resolver, req, &limits(), in_5s())
}

fn headers(list: &[(&str, &str)]) -> Vec<(String, Vec<u8>)> {
    list.iter()
        .map(|(n, v)| ((*n).to_owned(), v.as_bytes().to_vec()))
        .collect()
}

fn seen_headers(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
        .collect()
}

/// The hop and `NetError` of a policy refusal.
fn policy_refusal(result: Result<HttpResponse, HttpError>) -> Result<(u32, NetError)> {
    match result {
        Err(HttpError::Policy { hop, source }) => Ok((hop, source)),
        other => bail!("expected HttpError::Policy, got {other:?}"),
    }
}

fn address_refused(e: NetError) -> Result<(String, IpAddr, AddrClass)> {
    match e {
        NetError::AddressRefused { host, addr, class } => Ok((host, addr, class)),
        other => bail!("expected AddressRefused, got {other:?}"),
    }
}

fn not_allowed(e: NetError) -> Result<Refusal> {
    match e {
        NetError::NotAllowed { reason, .. } => Ok(reason),
        other => bail!("expected NotAllowed, got {other:?}"),
    }
}

#[test]
fn standard_limits_are_documented_values() {
    assert_eq!(
        HttpLimits::standard(),
        HttpLimits {
            max_request_bytes: 1 << 20,
            max_response_bytes: 4 << 20,
            max_headers: 64,
            max_header_bytes: 16 << 10,
            timeout: Duration::from_secs(10),
            max_redirects: 5,
        }
    );
}

#[test]
fn an_allowlisted_get_and_post_succeed() -> Result<()> {
    let server = Server::start(|r| match (r.method.as_str(), r.target.as_str()) {
        ("GET", "/v1/items?page=2") => Reply::Raw(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nX-Item: a\r\nX-Item: b\r\n\
              Content-Length: 5\r\nConnection: close\r\n\r\nhello"
                .to_vec(),
        ),
        ("POST", "/v1/items") => reply("201 Created", &[("Item-Id", "7")], b"created"),
        ("PUT", "/v1/upload") => reply("200 OK", &[], r.body.len().to_string().as_bytes()),
        _ => reply("404 Not Found", &[], b""),
    })?;
    let port = server.port();
    let policy = loopback_policy(&[format!("http://127.0.0.1:{port}/v1/")])?;
    let client = HttpClient::new(None)?;
    let dns = StubResolver::new();

    let mut get = request(
        Method::Get,
        &format!("http://127.0.0.1:{port}/v1/items?page=2#top"),
    );
    get.headers = headers(&[("Accept", "text/plain"), ("x-trace", "t1")]);
    let response = send(&client, &policy, &dns, get)?;
    assert_eq!(
        response,
        HttpResponse {
            status: 200,
            headers: headers(&[
                ("content-type", "text/plain"),
                ("x-item", "a"),
                ("x-item", "b"),
                ("content-length", "5"),
                ("connection", "close"),
            ]),
            body: b"hello".to_vec(),
            final_url: format!("http://127.0.0.1:{port}/v1/items?page=2"),
        }
    );

    let mut post = request(Method::Post, &format!("http://127.0.0.1:{port}/v1/items"));
    post.headers = headers(&[("content-type", "application/json")]);
    post.body = br#"{"n":1}"#.to_vec();
    let response = send(&client, &policy, &dns, post)?;
    assert_eq!(
        (response.status, response.body.as_slice()),
        (201, &b"created"[..])
    );
    assert_eq!(
        response.headers,
        headers(&[
            ("item-id", "7"),
            ("content-length", "7"),
            ("connection", "close")
        ])
    );

    // A body of exactly the standard limit goes through whole.
    let mut upload = request(Method::Put, &format!("http://127.0.0.1:{port}/v1/upload"));
    upload.body = vec![b'z'; HttpLimits::standard().max_request_bytes];
    let response = send(&client, &policy, &dns, upload)?;
    assert_eq!(
        (response.status, response.body.as_slice()),
        (200, &b"1048576"[..])
    );

    let host = format!("127.0.0.1:{port}");
    assert_eq!(
        server.seen()[..2],
        [
            Seen {
                method: "GET".into(),
                target: "/v1/items?page=2".into(),
                headers: seen_headers(&[
                    ("host", &host),
                    ("connection", "close"),
                    ("accept", "text/plain"),
                    ("x-trace", "t1"),
                ]),
                body: Vec::new(),
            },
            Seen {
                method: "POST".into(),
                target: "/v1/items".into(),
                headers: seen_headers(&[
                    ("host", &host),
                    ("connection", "close"),
                    ("content-type", "application/json"),
                    ("content-length", "7"),
                ]),
                body: br#"{"n":1}"#.to_vec(),
            },
        ]
    );
    assert_eq!(dns.lookups("127.0.0.1"), 0, "IP literals are not resolved");
    Ok(())
}

#[test]
fn a_request_outside_the_allowlist_is_refused_before_connecting() -> Result<()> {
    let quiet = Quiet::new()?;
    let port = quiet.port()?;
    let other = Quiet::new()?;
    let client = HttpClient::new(None)?;
    let dns = StubResolver::new();
    let policy = Allowlist::new()
        .with_origin(Origin::parse(&format!("http://127.0.0.1:{port}/v1/"))?)
        .with_origin(
            Origin::parse(&format!("http://127.0.0.1:{port}/read/"))?.with_methods([Method::Get]),
        )
        .with_private("127.0.0.0/8".parse()?);

    let url = format!("http://127.0.0.1:{}/v1/", other.port()?);
    let (hop, e) = policy_refusal(send(&client, &policy, &dns, request(Method::Get, &url)))?;
    assert_eq!(
        (hop, not_allowed(e)?),
        (
            0,
            Refusal::Origin {
                origin: format!("http://127.0.0.1:{}", other.port()?)
            }
        )
    );
    let url = format!("http://127.0.0.1:{port}/admin");
    let (hop, e) = policy_refusal(send(&client, &policy, &dns, request(Method::Get, &url)))?;
    assert_eq!(
        (hop, not_allowed(e)?),
        (
            0,
            Refusal::Path {
                path: "/admin".into()
            }
        )
    );
    let url = format!("http://127.0.0.1:{port}/read/x");
    let (hop, e) = policy_refusal(send(&client, &policy, &dns, request(Method::Post, &url)))?;
    assert_eq!(
        (hop, not_allowed(e)?),
        (
            0,
            Refusal::Method {
                method: Method::Post
            }
        )
    );
    quiet.assert_untouched()?;
    other.assert_untouched()
}

#[test]
fn a_name_resolving_to_loopback_is_refused_without_a_grant() -> Result<()> {
    let quiet = Quiet::new()?;
    let port = quiet.port()?;
    let policy = Allowlist::parse([format!("http://inside.test:{port}").as_str()], [])?;
    let dns = StubResolver::new().answer("inside.test", [LOOPBACK]);
    let client = HttpClient::new(None)?;
    let url = format!("http://inside.test:{port}/");
    let (hop, e) = policy_refusal(send(&client, &policy, &dns, request(Method::Get, &url)))?;
    assert_eq!(hop, 0);
    assert_eq!(
        address_refused(e)?,
        ("inside.test".into(), LOOPBACK, AddrClass::Loopback)
    );
    assert_eq!(dns.lookups("inside.test"), 1);
    quiet.assert_untouched()
}

/// The name answers 127.0.0.1 (granted) and then the metadata address. The
/// first request connects to the address that was checked; the second is
/// judged by its own resolution and refused before any connection.
#[test]
fn dns_rebinding_cannot_move_a_request_to_an_unchecked_address() -> Result<()> {
    let server = Server::start(|_| reply("200 OK", &[], b"checked"))?;
    let port = server.port();
    let metadata = IpAddr::V4(Ipv4Addr::new(169, 254, 169, 254));
    let policy = loopback_policy(&[format!("http://rebind.test:{port}")])?;
    let dns = StubResolver::new()
        .answer("rebind.test", [LOOPBACK])
        .answer("rebind.test", [metadata]);
    let client = HttpClient::new(None)?;
    let url = format!("http://rebind.test:{port}/x");

    let response = send(&client, &policy, &dns, request(Method::Get, &url))?;
    assert_eq!(
        (response.status, response.body.as_slice()),
        (200, &b"checked"[..])
    );
    assert_eq!(dns.lookups("rebind.test"), 1, "resolved once, by the host");
    let seen = server.seen();
    assert_eq!(seen.len(), 1);
    let host = format!("rebind.test:{port}");
    assert_eq!(seen[0].header("host"), Some(host.as_str()));

    let (hop, e) = policy_refusal(send(&client, &policy, &dns, request(Method::Get, &url)))?;
    assert_eq!(hop, 0);
    assert_eq!(
        address_refused(e)?,
        ("rebind.test".into(), metadata, AddrClass::Metadata)
    );
    assert_eq!(dns.lookups("rebind.test"), 2);
    assert_eq!(server.seen().len(), 1);
    Ok(())
}

#[test]
fn redirects_within_the_allowlist_are_followed_and_rechecked() -> Result<()> {
    let server = Server::start(|r| match (r.method.as_str(), r.target.as_str()) {
        ("POST", "/v1/old") => redirect("302 Found", "/v1/new"),
        ("GET", "/v1/new") => reply("200 OK", &[], b"new"),
        ("PUT", "/v1/keep") => {
            let port = r.header("host").and_then(|h| h.rsplit(':').next());
            let location = format!("http://alias.test:{}/v1/kept", port.unwrap_or("0"));
            redirect("307 Temporary Redirect", &location)
        }
        ("PUT", "/v1/kept") => reply("200 OK", &[], b"kept"),
        _ => reply("404 Not Found", &[], b""),
    })?;
    let port = server.port();
    let policy = loopback_policy(&[
        format!("http://127.0.0.1:{port}/v1/"),
        format!("http://alias.test:{port}/v1/"),
    ])?;
    let dns = StubResolver::new().answer("alias.test", [LOOPBACK]);
    let client = HttpClient::new(None)?;
    let with_body = |method, path: &str| {
        let mut r = request(method, &format!("http://127.0.0.1:{port}{path}"));
        r.headers = headers(&[("content-type", "text/plain"), ("authorization", "secret")]);
        r.body = b"data".to_vec();
        r
    };

    // 302 after POST: GET without the body and its headers, same origin so
    // the credentials stay.
    let response = send(&client, &policy, &dns, with_body(Method::Post, "/v1/old"))?;
    assert_eq!(
        (
            response.status,
            response.body.as_slice(),
            response.final_url
        ),
        (200, &b"new"[..], format!("http://127.0.0.1:{port}/v1/new"))
    );
    // 307 to another allowlisted origin: method and body kept, credentials
    // dropped, the new name resolved and checked.
    let response = send(&client, &policy, &dns, with_body(Method::Put, "/v1/keep"))?;
    assert_eq!(
        (
            response.status,
            response.body.as_slice(),
            response.final_url
        ),
        (
            200,
            &b"kept"[..],
            format!("http://alias.test:{port}/v1/kept")
        )
    );
    assert_eq!(dns.lookups("alias.test"), 1);

    let host = format!("127.0.0.1:{port}");
    let alias = format!("alias.test:{port}");
    let seen = server.seen();
    let summary: Vec<(&str, &str, &[u8])> = seen
        .iter()
        .map(|s| (s.method.as_str(), s.target.as_str(), s.body.as_slice()))
        .collect();
    assert_eq!(
        summary,
        [
            ("POST", "/v1/old", &b"data"[..]),
            ("GET", "/v1/new", &b""[..]),
            ("PUT", "/v1/keep", &b"data"[..]),
            ("PUT", "/v1/kept", &b"data"[..]),
        ]
    );
    assert_eq!(
        seen[1].headers,
        seen_headers(&[
            ("host", &host),
            ("connection", "close"),
            ("authorization", "secret"),
        ])
    );
    assert_eq!(
        seen[3].headers,
        seen_headers(&[
            ("host", &alias),
            ("connection", "close"),
            ("content-type", "text/plain"),
            ("content-length", "4"),
        ])
    );
    Ok(())
}

#[test]
fn a_redirect_to_a_host_not_allowlisted_is_refused() -> Result<()> {
    let quiet = Quiet::new()?;
    let qport = quiet.port()?;
    let server = Server::start(move |r| match r.target.as_str() {
        "/away" => redirect("302 Found", &format!("http://evil.test:{qport}/steal")),
        "/inward" => redirect(
            "301 Moved Permanently",
            &format!("http://inside.test:{qport}/"),
        ),
        "/meta" => redirect("308 Permanent Redirect", "http://169.254.169.254/latest/"),
        _ => reply("404 Not Found", &[], b""),
    })?;
    let port = server.port();
    let policy = Allowlist::parse(
        [
            format!("http://127.0.0.1:{port}").as_str(),
            &format!("http://inside.test:{qport}"),
            "http://169.254.169.254",
        ],
        ["127.0.0.0/8"],
    )?;
    let dns = StubResolver::new().answer("inside.test", [IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1))]);
    let client = HttpClient::new(None)?;
    let url = |path: &str| format!("http://127.0.0.1:{port}{path}");

    let (hop, e) = policy_refusal(send(
        &client,
        &policy,
        &dns,
        request(Method::Get, &url("/away")),
    ))?;
    assert_eq!(
        (hop, not_allowed(e)?),
        (
            1,
            Refusal::Origin {
                origin: format!("http://evil.test:{qport}")
            }
        )
    );
    assert_eq!(dns.lookups("evil.test"), 0, "refused before resolution");

    let (hop, e) = policy_refusal(send(
        &client,
        &policy,
        &dns,
        request(Method::Get, &url("/inward")),
    ))?;
    assert_eq!(hop, 1);
    assert_eq!(
        address_refused(e)?,
        (
            "inside.test".into(),
            IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
            AddrClass::Private
        )
    );

    let (hop, e) = policy_refusal(send(
        &client,
        &policy,
        &dns,
        request(Method::Get, &url("/meta")),
    ))?;
    assert_eq!(hop, 1);
    assert_eq!(
        address_refused(e)?,
        (
            "169.254.169.254".into(),
            IpAddr::V4(Ipv4Addr::new(169, 254, 169, 254)),
            AddrClass::Metadata
        )
    );
    assert_eq!(server.seen().len(), 3);
    quiet.assert_untouched()
}

#[test]
fn a_redirect_loop_is_cut_at_max_redirects() -> Result<()> {
    let server = Server::start(|_| redirect("302 Found", "/loop"))?;
    let port = server.port();
    let policy = loopback_policy(&[format!("http://127.0.0.1:{port}")])?;
    let client = HttpClient::new(None)?;
    let limits = HttpLimits {
        max_redirects: 3,
        ..limits()
    };
    let url = format!("http://127.0.0.1:{port}/loop");
    match client.send(
        &policy,
        &StubResolver::new(),
        request(Method::Get, &url),
        &limits,
        in_5s(),
    ) {
        Err(HttpError::TooManyRedirects { max, location }) => {
            assert_eq!((max, location.as_str()), (3, "/loop"));
        }
        other => bail!("expected TooManyRedirects, got {other:?}"),
    }
    assert_eq!(server.seen().len(), 4, "the request and three redirects");
    Ok(())
}

#[test]
fn an_oversized_response_is_refused_without_reading_it_all() -> Result<()> {
    const TOTAL: usize = 64 << 20;
    let server = Server::start(|r| match r.target.as_str() {
        "/declared" => Reply::Stream {
            head: format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {TOTAL}\r\nConnection: close\r\n\r\n"
            )
            .into_bytes(),
            total: TOTAL,
        },
        "/undeclared" => Reply::Stream {
            head: b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n".to_vec(),
            total: TOTAL,
        },
        "/exact" => reply("200 OK", &[], &[b'y'; 1000]),
        _ => reply("200 OK", &[], &[b'y'; 1001]),
    })?;
    let port = server.port();
    let policy = loopback_policy(&[format!("http://127.0.0.1:{port}")])?;
    let client = HttpClient::new(None)?;
    let dns = StubResolver::new();
    let url = |path: &str| format!("http://127.0.0.1:{port}{path}");
    let mib = HttpLimits {
        max_response_bytes: 1 << 20,
        ..limits()
    };
    let small = HttpLimits {
        max_response_bytes: 1000,
        ..limits()
    };

    for (path, lim, declared) in [
        ("/declared", &mib, Some(TOTAL as u64)),
        ("/undeclared", &mib, None),
        ("/over", &small, Some(1001)),
    ] {
        match client.send(
            &policy,
            &dns,
            request(Method::Get, &url(path)),
            lim,
            in_5s(),
        ) {
            Err(HttpError::ResponseBodyTooLarge { limit, declared: d }) => {
                assert_eq!((limit, d), (lim.max_response_bytes, declared), "{path}");
            }
            other => bail!("{path}: expected ResponseBodyTooLarge, got {other:?}"),
        }
    }
    let exact = client.send(
        &policy,
        &dns,
        request(Method::Get, &url("/exact")),
        &small,
        in_5s(),
    )?;
    assert_eq!(exact.body, vec![b'y'; 1000]);
    let (seen, streamed) = server.finish();
    assert_eq!(seen.len(), 4);
    assert_eq!(streamed, [false, false], "the client hung up mid-body");
    Ok(())
}

#[test]
fn an_oversized_response_head_is_refused() -> Result<()> {
    let server = Server::start(|r| match r.target.as_str() {
        "/many" => {
            let mut head = String::from("HTTP/1.1 200 OK\r\n");
            for i in 0..100 {
                head.push_str(&format!("X-H{i}: v\r\n"));
            }
            head.push_str("Content-Length: 0\r\nConnection: close\r\n\r\n");
            Reply::Raw(head.into_bytes())
        }
        _ => {
            let big = "v".repeat(20 << 10);
            reply("200 OK", &[("X-Big", &big)], b"")
        }
    })?;
    let port = server.port();
    let policy = loopback_policy(&[format!("http://127.0.0.1:{port}")])?;
    let client = HttpClient::new(None)?;
    for path in ["/many", "/big"] {
        let url = format!("http://127.0.0.1:{port}{path}");
        match send(
            &client,
            &policy,
            &StubResolver::new(),
            request(Method::Get, &url),
        ) {
            Err(HttpError::ResponseHeadTooLarge {
                max_headers,
                max_header_bytes,
            }) => assert_eq!((max_headers, max_header_bytes), (64, 16 << 10), "{path}"),
            other => bail!("{path}: expected ResponseHeadTooLarge, got {other:?}"),
        }
    }
    Ok(())
}

#[test]
fn a_silent_server_hits_the_timeout_or_deadline_in_bounded_time() -> Result<()> {
    let server = Server::start(|_| Reply::Silent)?;
    let port = server.port();
    let policy = loopback_policy(&[format!("http://127.0.0.1:{port}")])?;
    let client = HttpClient::new(None)?;
    let dns = StubResolver::new();
    let url = format!("http://127.0.0.1:{port}/wait");
    let bound = Duration::from_millis(300);
    let slack = Duration::from_millis(500);

    let short = HttpLimits {
        timeout: bound,
        ..limits()
    };
    let start = Instant::now();
    let result = client.send(&policy, &dns, request(Method::Get, &url), &short, in_5s());
    let elapsed = start.elapsed();
    match result {
        Err(HttpError::Timeout { timeout, phase }) => {
            assert_eq!((timeout, phase), (bound, Phase::Request));
        }
        other => bail!("expected Timeout, got {other:?}"),
    }
    ensure!(
        elapsed >= bound && elapsed < bound + slack,
        "took {elapsed:?}"
    );

    let start = Instant::now();
    let result = client.send(
        &policy,
        &dns,
        request(Method::Get, &url),
        &HttpLimits::standard(),
        start + bound,
    );
    let elapsed = start.elapsed();
    match result {
        Err(HttpError::Deadline { phase }) => assert_eq!(phase, Phase::Request),
        other => bail!("expected Deadline, got {other:?}"),
    }
    ensure!(
        elapsed >= bound && elapsed < bound + slack,
        "took {elapsed:?}"
    );
    assert_eq!(server.seen().len(), 2);

    // A deadline already past: nothing is resolved or connected.
    let quiet = Quiet::new()?;
    let qurl = format!("http://127.0.0.1:{}/", quiet.port()?);
    let policy = loopback_policy(&[format!("http://127.0.0.1:{}", quiet.port()?)])?;
    match client.send(
        &policy,
        &dns,
        request(Method::Get, &qurl),
        &limits(),
        Instant::now(),
    ) {
        Err(HttpError::Deadline { phase }) => assert_eq!(phase, Phase::Resolve),
        other => bail!("expected Deadline, got {other:?}"),
    }
    ensure!(STOP_GRACE < slack);
    quiet.assert_untouched()
}

#[test]
fn forbidden_and_invalid_request_headers_are_refused_before_connecting() -> Result<()> {
    let quiet = Quiet::new()?;
    let port = quiet.port()?;
    let policy = loopback_policy(&[format!("http://127.0.0.1:{port}")])?;
    let client = HttpClient::new(None)?;
    let dns = StubResolver::new();
    let url = format!("http://127.0.0.1:{port}/");
    let with = |list: &[(&str, &str)]| {
        let mut r = request(Method::Post, &url);
        r.headers = headers(list);
        r
    };

    for name in [
        "Host",
        "content-length",
        "Transfer-Encoding",
        "CONNECTION",
        "keep-alive",
        "TE",
        "trailer",
        "Upgrade",
        "Proxy-Authorization",
        "proxy-connection",
    ] {
        let req = with(&[("accept", "*/*"), (name, "x")]);
        match send(&client, &policy, &dns, req) {
            Err(HttpError::ForbiddenHeader { name: n }) => {
                assert_eq!(n, name.to_ascii_lowercase());
            }
            other => bail!("{name}: expected ForbiddenHeader, got {other:?}"),
        }
    }
    match send(&client, &policy, &dns, with(&[("bad name", "x")])) {
        Err(HttpError::InvalidHeaderName { name }) => assert_eq!(name, "bad name"),
        other => bail!("expected InvalidHeaderName, got {other:?}"),
    }
    match send(
        &client,
        &policy,
        &dns,
        with(&[("x-evil", "a\r\nInjected: 1")]),
    ) {
        Err(HttpError::InvalidHeaderValue { name }) => assert_eq!(name, "x-evil"),
        other => bail!("expected InvalidHeaderValue, got {other:?}"),
    }

    let tight = HttpLimits {
        max_request_bytes: 10,
        max_headers: 2,
        max_header_bytes: 20,
        ..limits()
    };
    let mut big = request(Method::Post, &url);
    big.body = vec![0; 11];
    match client.send(&policy, &dns, big, &tight, in_5s()) {
        Err(HttpError::RequestBodyTooLarge { size, limit }) => assert_eq!((size, limit), (11, 10)),
        other => bail!("expected RequestBodyTooLarge, got {other:?}"),
    }
    for (list, count, bytes) in [
        (&[("a", "1"), ("b", "2"), ("c", "3")][..], 3, 6),
        (&[("x-long", "0123456789abcdef")][..], 1, 22),
    ] {
        match client.send(&policy, &dns, with(list), &tight, in_5s()) {
            Err(HttpError::RequestHeadersTooLarge {
                count: c,
                bytes: b,
                max_headers,
                max_header_bytes,
            }) => assert_eq!((c, b, max_headers, max_header_bytes), (count, bytes, 2, 20)),
            other => bail!("expected RequestHeadersTooLarge, got {other:?}"),
        }
    }
    quiet.assert_untouched()
}

#[test]
fn https_is_verified_against_the_trust_anchors() -> Result<()> {
    let server =
        Server::start_tls(|r| reply("200 OK", &[], format!("secure {}", r.target).as_bytes()))?;
    let port = server.port();
    let policy = loopback_policy(&[format!("https://tls.test:{port}")])?;
    let dns = StubResolver::new().answer("tls.test", [LOOPBACK]);
    let url = format!("https://tls.test:{port}/hello");
    let ca = CertificateDer::from_pem_slice(TEST_CA.as_bytes())?;

    let default = HttpClient::new(None)?;
    let trusting = default.with_trust_anchors([ca.as_ref()])?;
    let response = send(&trusting, &policy, &dns, request(Method::Get, &url))?;
    assert_eq!(
        (
            response.status,
            response.body.as_slice(),
            response.final_url
        ),
        (200, &b"secure /hello"[..], url.clone())
    );

    // The Mozilla roots do not know the test CA.
    match send(&default, &policy, &dns, request(Method::Get, &url)) {
        Err(HttpError::Tls { host, .. }) => assert_eq!(host, "tls.test"),
        other => bail!("expected Tls, got {other:?}"),
    }
    match default.with_trust_anchors([b"not a certificate".as_slice()]) {
        Err(HttpError::TlsConfig { .. }) => {}
        other => bail!("expected TlsConfig, got {other:?}"),
    }
    assert_eq!(server.seen().len(), 1);
    Ok(())
}

/// Async embedding: the client runs on the embedder's runtime and is
/// called from its blocking pool, several requests at once.
#[test]
fn a_client_on_a_shared_runtime_serves_its_blocking_pool() -> Result<()> {
    let server = Server::start(|r| reply("200 OK", &[], r.target.as_bytes()))?;
    let port = server.port();
    let policy = Arc::new(loopback_policy(&[format!("http://127.0.0.1:{port}")])?);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let client = HttpClient::new(Some(runtime.handle().clone()))?;
    let owned = HttpClient::new(None)?;

    let bodies = runtime.block_on(async move {
        let tasks: Vec<_> = (0..4)
            .map(|i| {
                let (client, policy) = (client.clone(), policy.clone());
                let url = format!("http://127.0.0.1:{port}/n{i}");
                tokio::task::spawn_blocking(move || {
                    send(
                        &client,
                        &policy,
                        &StubResolver::new(),
                        request(Method::Get, &url),
                    )
                })
            })
            .collect();
        let mut bodies = Vec::new();
        for t in tasks {
            bodies.push(t.await??.body);
        }
        // The last clone of a client that owns its runtime may be dropped
        // on an async worker.
        drop(owned);
        anyhow::Ok(bodies)
    })?;
    assert_eq!(
        bodies,
        [
            b"/n0".to_vec(),
            b"/n1".to_vec(),
            b"/n2".to_vec(),
            b"/n3".to_vec()
        ]
    );
    assert_eq!(server.seen().len(), 4);
    Ok(())
}
