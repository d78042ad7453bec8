//! The reference plugins under `plugins/`, written with the Rust PDK and
//! built for wasm32, run through the public API under their grants.

mod common;

use std::sync::Arc;

use anyhow::{Context, Result};
use bitvault_plugins::abi::EventsGrant;
use bitvault_plugins::events::{EventLimits, InProcessBus};
use bitvault_plugins::kv::{KvQuotas, KvStore, MemoryKv};
use bitvault_plugins::{
    CallContext, Grants, InvokeError, LimitPolicy, Prepared, Runtime, RuntimeConfig,
};

fn load(name: &str, grants: &Grants) -> Result<Prepared> {
    let wasm = common::plugin_wasm(name)?;
    Ok(Runtime::new(RuntimeConfig::new())?.load(&wasm, grants)?)
}

fn ctx() -> CallContext {
    CallContext::new(LimitPolicy::standard().default).for_plugin("tenant-a", "ref")
}

#[test]
fn echo_returns_its_request() -> Result<()> {
    let p = load("echo", &Grants::core())?;
    let big: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    assert_eq!(p.invoke("echo", big.clone(), &ctx()).result?, big);
    assert_eq!(p.invoke("echo", Vec::new(), &ctx()).result?, b"");
    Ok(())
}

#[test]
fn greeter_reads_its_configuration_and_reports_errors() -> Result<()> {
    let p = load("greeter", &Grants::core())?;
    let mut config = bitvault_plugins::PluginConfig::new();
    config.insert("greeting".into(), "Hej".into());
    let c = ctx().with_config(config);
    assert_eq!(p.invoke("greet", b"Ada".to_vec(), &c).result?, b"Hej, Ada!");
    assert_eq!(
        p.invoke("greet", b"Ada".to_vec(), &ctx()).result?,
        b"Hello, Ada!"
    );
    assert_eq!(
        p.invoke("greet", b"  ".to_vec(), &c).result.unwrap_err(),
        InvokeError::PluginError {
            code: 10,
            message: Some("no name to greet".into())
        }
    );
    assert_eq!(
        p.invoke("greet", vec![0xff], &c).result.unwrap_err(),
        InvokeError::PluginError {
            code: 2,
            message: Some("request is not UTF-8".into())
        }
    );
    Ok(())
}

#[test]
fn counter_keeps_state_in_kv_and_publishes_events() -> Result<()> {
    let grants = Grants {
        events: Some(EventsGrant {
            topics: vec!["counter.*".into()],
        }),
        ..Grants::core_with_kv()
    };
    let p = load("counter", &grants)?;
    let store: Arc<dyn KvStore> = Arc::new(MemoryKv::new());
    let bus = Arc::new(InProcessBus::new(64));
    let rx = bus.subscribe();
    let c = ctx()
        .with_kv(store, KvQuotas::standard(), None)?
        .with_events(bus.clone(), 0, EventLimits::standard());
    for expected in ["1", "2", "3"] {
        assert_eq!(
            p.invoke("hit", b"/a.png".to_vec(), &c).result?,
            expected.as_bytes()
        );
    }
    assert_eq!(p.invoke("hit", b"/b.png".to_vec(), &c).result?, b"1");
    assert_eq!(
        p.invoke("report", Vec::new(), &c).result?,
        b"/a.png=3\n/b.png=1\n"
    );
    let events: Vec<_> = rx
        .try_iter()
        .map(|e| (e.topic, e.payload.to_vec()))
        .collect();
    assert_eq!(events.len(), 4);
    assert_eq!(
        events[3],
        ("counter.updated".to_string(), b"/b.png=1".to_vec())
    );

    // Without the events grant the module is refused before it compiles.
    let err = load("counter", &Grants::core_with_kv()).unwrap_err();
    assert!(err.to_string().contains("emit_event"), "{err}");
    Ok(())
}

#[test]
fn dice_uses_the_soft_capabilities_and_reports_when_withheld() -> Result<()> {
    let p = load("dice", &Grants::core())?;
    let out = String::from_utf8(p.invoke("roll", Vec::new(), &ctx()).result?)?;
    let roll: u8 = out["{\"roll\":".len()..out.find(',').context("no comma")?].parse()?;
    assert!((1..=6).contains(&roll), "{out}");
    let withheld = load(
        "dice",
        &Grants {
            random: false,
            ..Grants::core()
        },
    )?;
    match withheld
        .invoke("roll", Vec::new(), &ctx())
        .result
        .unwrap_err()
    {
        InvokeError::PluginError { code: 12, message } => {
            assert_eq!(
                message.as_deref(),
                Some("no randomness: not_permitted (-7)")
            );
        }
        other => panic!("{other:?}"),
    }
    Ok(())
}

/// A loopback HTTP/1.1 server for the `fetch` tests: answers each
/// connection with `answer(request head)`, counts connections, and stops
/// when dropped.
struct Loopback {
    port: u16,
    connections: Arc<std::sync::atomic::AtomicUsize>,
    stop: Arc<std::sync::atomic::AtomicBool>,
}

impl Loopback {
    fn start(answer: impl Fn(&str) -> String + Send + 'static) -> Result<Loopback> {
        use std::io::{BufRead, BufReader, Write};
        use std::sync::atomic::Ordering;
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        listener.set_nonblocking(true)?;
        let port = listener.local_addr()?.port();
        let connections = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (count, halt) = (connections.clone(), stop.clone());
        std::thread::spawn(move || {
            while !halt.load(Ordering::Relaxed) {
                let Ok((tcp, _)) = listener.accept() else {
                    std::thread::sleep(std::time::Duration::from_millis(2));
                    continue;
                };
                count.fetch_add(1, Ordering::Relaxed);
                let _ = tcp.set_nonblocking(false);
                let mut reader = BufReader::new(&tcp);
                let mut head = String::new();
                while reader.read_line(&mut head).is_ok_and(|n| n > 2) {}
                let _ = (&tcp).write_all(answer(&head).as_bytes());
            }
        });
        Ok(Loopback {
            port,
            connections,
            stop,
        })
    }

    fn connections(&self) -> usize {
        self.connections.load(std::sync::atomic::Ordering::Relaxed)
    }
}

impl Drop for Loopback {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

fn http_response(status: &str, extra: &str, body: &str) -> String {
    format!(
        "HTTP/1.1 {status}\r\n{extra}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

fn http_ctx() -> Result<CallContext> {
    use bitvault_plugins::http::{HttpClient, HttpLimits};
    use bitvault_plugins::net::StubResolver;
    Ok(ctx().with_http(
        HttpClient::new(None)?,
        Arc::new(StubResolver::new()),
        HttpLimits::standard(),
    ))
}

#[test]
fn fetch_reaches_a_granted_origin_and_nothing_else() -> Result<()> {
    use bitvault_plugins::abi::HttpGrant;
    let server = Loopback::start(|head| {
        if head.starts_with("GET /v1/hello ") {
            http_response("200 OK", "", "hello from loopback")
        } else {
            http_response("302 Found", "Location: http://10.0.0.1/steal\r\n", "")
        }
    })?;
    let base = format!("http://127.0.0.1:{}", server.port);
    let grants = Grants {
        http: Some(HttpGrant {
            allow_private: vec!["127.0.0.1".into()],
            ..HttpGrant::to([format!("{base}/v1/")])
        }),
        ..Grants::core()
    };
    let p = load("fetch", &grants)?;
    let ctx = http_ctx()?;

    let out = p.invoke("fetch", format!("GET {base}/v1/hello").into_bytes(), &ctx);
    assert_eq!(out.result?, b"200\nhello from loopback");
    assert_eq!(out.http[0].status, Some(200));

    // Outside the path prefix: refused before any connection.
    let out = p.invoke("fetch", format!("GET {base}/admin").into_bytes(), &ctx);
    match out.result {
        Err(InvokeError::PluginError { code: 4, message }) => assert_eq!(
            message.as_deref(),
            Some("http request refused: not_permitted (-7)")
        ),
        other => anyhow::bail!("expected a refusal, got {other:?}"),
    }
    assert_eq!(server.connections(), 1);

    // A granted path that redirects to a private address: refused at hop 1.
    let out = p.invoke("fetch", format!("GET {base}/v1/moved").into_bytes(), &ctx);
    assert!(
        matches!(out.result, Err(InvokeError::PluginError { code: 4, .. })),
        "{:?}",
        out.result
    );
    let error = out.http[0].error.clone().unwrap_or_default();
    assert!(error.contains("hop 1"), "{error}");
    assert_eq!(server.connections(), 2);
    Ok(())
}

#[test]
fn fetch_is_refused_at_admission_without_an_http_grant() -> Result<()> {
    match load("fetch", &Grants::core()) {
        Err(e) => assert!(e.to_string().contains("http_request"), "{e}"),
        Ok(_) => anyhow::bail!("fetch loaded without an http grant"),
    }
    Ok(())
}

/// Item 7 of the async embedding: invocations run on tokio's blocking
/// pool, and `http_request` sends each exchange as a task on the
/// embedder's own runtime through a handle, waiting for it from the
/// blocking thread (never `block_on` inside the runtime).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fetch_from_async_code_runs_its_requests_on_the_embedders_runtime() -> Result<()> {
    use bitvault_plugins::AsyncInvoke;
    use bitvault_plugins::abi::HttpGrant;
    use bitvault_plugins::http::{HttpClient, HttpLimits};
    use bitvault_plugins::net::StubResolver;

    let server = Loopback::start(|_| http_response("200 OK", "", "pong"))?;
    let base = format!("http://127.0.0.1:{}", server.port);
    let grants = Grants {
        http: Some(HttpGrant {
            allow_private: vec!["127.0.0.1".into()],
            ..HttpGrant::to([base.clone()])
        }),
        ..Grants::core()
    };
    let p = tokio::task::spawn_blocking(move || load("fetch", &grants)).await??;
    let client = HttpClient::new(Some(tokio::runtime::Handle::current()))?;
    let ctx = ctx().with_http(
        client,
        Arc::new(StubResolver::new()),
        HttpLimits::standard(),
    );
    let calls: Vec<_> = (0..32)
        .map(|_| p.invoke_async("fetch", format!("GET {base}/ping").into_bytes(), &ctx))
        .collect();
    for call in calls {
        assert_eq!(call.await.result?, b"200\npong");
    }
    assert_eq!(server.connections(), 32);
    Ok(())
}

#[test]
fn a_pdk_plugin_that_panics_traps_with_the_panic_message() -> Result<()> {
    // The broken fixture's auth provider asserts on an empty token; an
    // empty request is an empty token.
    let p = load("broken", &Grants::core())?;
    match p
        .invoke("auth_provider_v1_authenticate", Vec::new(), &ctx())
        .result
    {
        Err(InvokeError::Trap(t)) => {
            assert_eq!(t.code.as_deref(), Some("unreachable_code_reached"));
            assert!(
                t.message.ends_with(
                    "; the plugin's error message: panicked at broken/src/lib.rs:118:9: empty token"
                ),
                "{}",
                t.message
            );
        }
        other => anyhow::bail!("expected a trap, got {other:?}"),
    }
    Ok(())
}
