//! The remote backend against a real registry: Debian's `docker-registry`
//! (distribution 2.8) on 127.0.0.1, one per test, with its storage in a
//! temporary directory; and the `oras` Python library pulling what it
//! pushed. Without the binary (or `oras`) the tests skip with a message,
//! except under CI, where they fail.
#![cfg(feature = "remote")]

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use bitvault_registry::oci::{
    ARTIFACT_TYPE, CONFIG_MEDIA_TYPE, Descriptor, Digest, ImageManifest, MODULE_MEDIA_TYPE,
    OCI_MANIFEST_MEDIA_TYPE, Progress, Quiet, Registry, RegistryError, SIGNATURE_MEDIA_TYPE,
    TITLE_ANNOTATION,
};
use bitvault_registry::remote::{BasicAuth, RemoteOptions, RemoteRegistry};

const BINARY: &str = "/usr/bin/docker-registry";

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false")
}

/// A `docker-registry` on 127.0.0.1, killed on drop.
struct Server {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
}

impl Server {
    /// Starts one, or returns `None` (outside CI) when the binary is missing.
    fn start() -> Option<Server> {
        Server::start_with("")
    }

    /// Starts one that asks for `bitvault`/`s3cret` (HTTP basic).
    fn start_with_auth() -> Option<Server> {
        // bcrypt of `s3cret`, cost 4 (checked on every request).
        let auth = "auth:
  htpasswd:
    realm: bitvault-test
    path: {dir}/htpasswd
";
        Server::start_with(auth)
    }

    /// Starts one with `extra` configuration (`{dir}` is its directory).
    fn start_with(extra: &str) -> Option<Server> {
        if !Path::new(BINARY).exists() {
            assert!(
                !in_ci(),
                "{BINARY} is missing: CI must `apt-get install -y docker-registry`"
            );
            eprintln!("skipped: {BINARY} is missing (apt-get install -y docker-registry)");
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        // No auth, no redis, no notifications; small catalog pages so that
        // listing the catalog has to page.
        let config = format!(
            "version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: {root}
  cache:
    blobdescriptor: inmemory
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: 127.0.0.1:{port}
  secret: bitvault-test
catalog:
  maxentries: 2
{extra}",
            root = dir.path().join("storage").display(),
            extra = extra.replace("{dir}", &dir.path().display().to_string()),
        );
        std::fs::write(
            dir.path().join("htpasswd"),
            "bitvault:$2b$04$pIz24wQClZ1f4ud6e/6cl.xgoi7CSkMCkJ9dqTvyAk.Qlt5M9xizK\n",
        )
        .unwrap();
        let config_path = dir.path().join("config.yml");
        std::fs::write(&config_path, config).unwrap();
        let log = std::fs::File::create(dir.path().join("registry.log")).unwrap();
        let child = Command::new(BINARY)
            .arg("serve")
            .arg(&config_path)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        let mut server = Server { child, port, dir };
        server.wait_ready();
        Some(server)
    }

    /// Waits until `GET /v2/` answers (200, or 401 when it asks for auth).
    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("docker-registry exited ({status}):\n{}", self.log());
            }
            if let Ok(mut stream) = TcpStream::connect(("127.0.0.1", self.port)) {
                let mut answer = String::new();
                let asked = stream.write_all(b"GET /v2/ HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n");
                if asked.is_ok()
                    && stream.read_to_string(&mut answer).is_ok()
                    && (answer.starts_with("HTTP/1.0 200") || answer.starts_with("HTTP/1.0 401"))
                {
                    return;
                }
            }
            assert!(
                Instant::now() < deadline,
                "docker-registry never answered:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("registry.log")).unwrap_or_default()
    }

    fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// A client for the namespace `namespace`.
    fn registry(&self, namespace: &str) -> RemoteRegistry {
        RemoteRegistry::new(
            &format!("http://{}/{namespace}", self.host()),
            RemoteOptions::default(),
        )
        .unwrap()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Records every progress report.
#[derive(Default)]
struct Recorder(Mutex<Vec<(String, u64, u64)>>);

impl Progress for Recorder {
    fn transfer(&self, what: &str, _: &Digest, done: u64, total: u64) {
        self.0.lock().unwrap().push((what.to_owned(), done, total));
    }
}

/// The blobs and manifest of a package as pushed.
struct Pushed {
    config: Vec<u8>,
    module: Vec<u8>,
    signature: Vec<u8>,
    manifest: Vec<u8>,
    digest: Digest,
}

/// Pushes a package artifact for `name` at `tag` with a `module_size`-byte
/// module.
fn push_package(registry: &RemoteRegistry, name: &str, tag: &str, module_size: usize) -> Pushed {
    let config = format!(r#"{{"name":"{name}","version":"{tag}"}}"#).into_bytes();
    let mut module = b"\0asm\x01\0\0\0".to_vec();
    module.extend((0..module_size.saturating_sub(8)).map(|i| (i * 7 % 251) as u8));
    let signature = format!(r#"{{"signed":"{name}"}}"#).into_bytes();
    let titled = |media_type: &str, bytes: &[u8], title: &str| {
        let mut d = Descriptor::of(media_type, bytes);
        d.annotations.insert(TITLE_ANNOTATION.into(), title.into());
        d
    };
    let manifest = ImageManifest {
        schema_version: 2,
        media_type: Some(OCI_MANIFEST_MEDIA_TYPE.into()),
        artifact_type: Some(ARTIFACT_TYPE.into()),
        config: Descriptor::of(CONFIG_MEDIA_TYPE, &config),
        layers: vec![
            titled(MODULE_MEDIA_TYPE, &module, &format!("{name}.wasm")),
            titled(
                SIGNATURE_MEDIA_TYPE,
                &signature,
                &format!("{name}.sig.json"),
            ),
        ],
        annotations: BTreeMap::new(),
    };
    for (what, bytes) in [
        ("config", &config),
        ("module", &module),
        ("signature", &signature),
    ] {
        registry
            .push_blob(name, &Digest::of(bytes), bytes, what, &Quiet)
            .unwrap();
    }
    let manifest = manifest.to_bytes();
    let digest = registry.push_manifest(name, tag, &manifest).unwrap();
    assert_eq!(digest, Digest::of(&manifest));
    Pushed {
        config,
        module,
        signature,
        manifest,
        digest,
    }
}

#[test]
fn push_and_pull_round_trip() {
    let Some(server) = Server::start() else {
        return;
    };
    let registry = server.registry("bitvault");
    assert_eq!(
        registry.location(),
        format!("http://{}/bitvault", server.host())
    );
    let pushed = push_package(&registry, "echo", "1.0.0", 600 << 10);

    // Pushing again is a no-op that still reports start and end.
    let progress = Recorder::default();
    let module_digest = Digest::of(&pushed.module);
    let size = pushed.module.len() as u64;
    registry
        .push_blob("echo", &module_digest, &pushed.module, "module", &progress)
        .unwrap();
    assert_eq!(
        *progress.0.lock().unwrap(),
        [
            ("module".to_owned(), 0, size),
            ("module".to_owned(), size, size)
        ]
    );

    assert_eq!(
        registry.pull_manifest("echo", "1.0.0").unwrap(),
        pushed.manifest
    );
    assert_eq!(
        registry
            .pull_manifest("echo", pushed.digest.as_str())
            .unwrap(),
        pushed.manifest
    );

    let progress = Recorder::default();
    let module = registry
        .pull_blob("echo", &module_digest, size, "module", &progress)
        .unwrap();
    assert_eq!(module, pushed.module);
    let reports = progress.0.lock().unwrap();
    assert_eq!(reports.first(), Some(&("module".to_owned(), 0, size)));
    assert_eq!(reports.last(), Some(&("module".to_owned(), size, size)));
    assert!(
        reports.len() >= 3,
        "no report between start and end: {reports:?}"
    );
    assert!(reports.windows(2).all(|w| w[0].1 <= w[1].1), "{reports:?}");

    for (what, bytes) in [("config", &pushed.config), ("signature", &pushed.signature)] {
        let pulled = registry.pull_blob("echo", &Digest::of(bytes), 1 << 20, what, &Quiet);
        assert_eq!(&pulled.unwrap(), bytes);
    }
}

#[test]
fn tags_and_catalog() {
    let Some(server) = Server::start() else {
        return;
    };
    let registry = server.registry("bitvault");
    push_package(&registry, "echo", "1.0.0", 64);
    push_package(&registry, "echo", "1.1.0_build.5", 64);
    for name in ["alpha", "zeta", "nested/deep"] {
        push_package(&registry, name, "0.1.0", 64);
    }
    // Outside the namespace: never listed.
    push_package(&server.registry("other"), "echo", "9.9.9", 64);
    push_package(&server.registry("bitvaultx"), "echo", "9.9.9", 64);

    let mut tags = registry.tags("echo").unwrap();
    tags.sort();
    assert_eq!(tags, ["1.0.0", "1.1.0_build.5"]);
    assert_eq!(registry.tags("never-pushed").unwrap(), Vec::<String>::new());

    // Six repositories with two to a page: the catalog pages.
    let mut names = registry.repositories().unwrap();
    names.sort();
    assert_eq!(names, ["alpha", "echo", "nested/deep", "zeta"]);

    let root = RemoteRegistry::new(
        &format!("http://{}", server.host()),
        RemoteOptions::default(),
    );
    let mut all = root.unwrap().repositories().unwrap();
    all.sort();
    assert_eq!(
        all,
        [
            "bitvault/alpha",
            "bitvault/echo",
            "bitvault/nested/deep",
            "bitvault/zeta",
            "bitvaultx/echo",
            "other/echo"
        ]
    );
}

#[test]
fn basic_auth() {
    let Some(server) = Server::start_with_auth() else {
        return;
    };
    let url = format!("http://{}/bitvault", server.host());
    let anonymous = RemoteRegistry::new(&url, RemoteOptions::default()).unwrap();
    let blob = b"module";
    match anonymous.push_blob("echo", &Digest::of(blob), blob, "module", &Quiet) {
        Err(RegistryError::Transport(why)) => assert!(why.contains("not authorized"), "{why}"),
        other => panic!("expected Transport, got {other:?}"),
    }

    let login = |password: &str| {
        let basic_auth = Some(BasicAuth {
            username: "bitvault".into(),
            password: password.into(),
        });
        RemoteRegistry::new(
            &url,
            RemoteOptions {
                basic_auth,
                ..RemoteOptions::default()
            },
        )
        .unwrap()
    };
    match login("wrong").tags("echo") {
        Err(RegistryError::Transport(why)) => assert!(why.contains("not authorized"), "{why}"),
        other => panic!("expected Transport, got {other:?}"),
    }
    let registry = login("s3cret");
    let pushed = push_package(&registry, "echo", "1.0.0", 64);
    assert_eq!(
        registry.pull_manifest("echo", "1.0.0").unwrap(),
        pushed.manifest
    );
    assert_eq!(registry.tags("echo").unwrap(), ["1.0.0"]);
    assert_eq!(registry.repositories().unwrap(), ["echo"]);
}

#[test]
fn missing_things_are_not_found() {
    let Some(server) = Server::start() else {
        return;
    };
    let registry = server.registry("bitvault");
    let pushed = push_package(&registry, "echo", "1.0.0", 64);
    let absent = Digest::of(b"never pushed");

    let not_found = |r: Result<Vec<u8>, RegistryError>| match r {
        Err(RegistryError::NotFound(what)) => what,
        other => panic!("expected NotFound, got {other:?}"),
    };
    let what = not_found(registry.pull_manifest("echo", "2.0.0"));
    assert!(what.contains("bitvault/echo:2.0.0"), "{what}");
    not_found(registry.pull_manifest("echo", absent.as_str()));
    not_found(registry.pull_manifest("unknown", "1.0.0"));
    let what = not_found(registry.pull_blob("echo", &absent, 1 << 20, "module", &Quiet));
    assert!(what.contains(absent.as_str()), "{what}");
    // A blob of another repository is not this one's.
    let config = Digest::of(&pushed.config);
    not_found(registry.pull_blob("unknown", &config, 1 << 20, "config", &Quiet));

    assert!(matches!(
        registry.pull_manifest("echo", "sha512:00"),
        Err(RegistryError::InvalidDigest(_))
    ));
    assert!(matches!(
        registry.pull_manifest("Echo", "1.0.0"),
        Err(RegistryError::InvalidName(_))
    ));
}

#[test]
fn pull_blob_enforces_the_limit() {
    let Some(server) = Server::start() else {
        return;
    };
    let registry = server.registry("bitvault");
    let pushed = push_package(&registry, "echo", "1.0.0", 4096);
    let digest = Digest::of(&pushed.module);
    let result = registry.pull_blob("echo", &digest, 4095, "module", &Quiet);
    assert_eq!(
        result,
        Err(RegistryError::TooLarge {
            what: "module".into(),
            size: 4096,
            limit: 4095
        })
    );
    assert_eq!(
        registry
            .pull_blob("echo", &digest, 4096, "module", &Quiet)
            .unwrap()
            .len(),
        4096
    );
}

/// A hostile registry on 127.0.0.1 that answers `/v2/` and serves every
/// blob as `body`: `None` streams chunks without a `Content-Length` (64
/// MiB at most). Returns its port; it stops when the blob is served.
fn hostile_registry(body: Option<&'static [u8]>) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let mut stream = stream.unwrap();
            let mut request = Vec::new();
            let mut byte = [0u8];
            while !request.ends_with(b"\r\n\r\n") && stream.read(&mut byte).unwrap_or(0) == 1 {
                request.push(byte[0]);
                if !request[0].is_ascii_uppercase() {
                    break; // not HTTP (a TLS hello): answer in plain HTTP
                }
            }
            if !String::from_utf8_lossy(&request).contains("/blobs/") {
                let _ = stream.write_all(
                    b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}",
                );
                continue;
            }
            match body {
                Some(body) => {
                    let head = format!(
                        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                        body.len()
                    );
                    let _ = stream
                        .write_all(head.as_bytes())
                        .and_then(|()| stream.write_all(body));
                }
                None => {
                    let chunk = [b'x'; 64 << 10];
                    let head = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n";
                    let _ = stream.write_all(head.as_bytes());
                    for _ in 0..1024 {
                        let sent = write!(stream, "{:x}\r\n", chunk.len())
                            .and_then(|()| stream.write_all(&chunk))
                            .and_then(|()| stream.write_all(b"\r\n"));
                        if sent.is_err() {
                            break;
                        }
                    }
                }
            }
            return;
        }
    });
    port
}

#[test]
fn pull_blob_stops_an_endless_stream_at_the_limit() {
    let port = hostile_registry(None);
    let registry = RemoteRegistry::new(
        &format!("http://127.0.0.1:{port}/bitvault"),
        RemoteOptions::default(),
    );
    let progress = Recorder::default();
    let result =
        registry
            .unwrap()
            .pull_blob("echo", &Digest::of(b"x"), 1 << 20, "module", &progress);
    match result {
        Err(RegistryError::TooLarge {
            size,
            limit: 1048576,
            ..
        }) => {
            assert!(size > 1 << 20 && size <= (1 << 20) + (64 << 10), "{size}");
        }
        other => panic!("expected TooLarge, got {other:?}"),
    }
    assert_eq!(
        progress.0.lock().unwrap().first(),
        Some(&("module".to_owned(), 0, 0))
    );
}

#[test]
fn pull_blob_refuses_other_bytes() {
    let port = hostile_registry(Some(b"not the module"));
    let registry = RemoteRegistry::new(
        &format!("http://127.0.0.1:{port}/bitvault"),
        RemoteOptions::default(),
    );
    let expected = Digest::of(b"the module");
    let result = registry
        .unwrap()
        .pull_blob("echo", &expected, 1 << 20, "module", &Quiet);
    assert_eq!(
        result,
        Err(RegistryError::DigestMismatch {
            what: "module".into(),
            expected,
            actual: Digest::of(b"not the module"),
        })
    );
}

#[test]
fn https_to_a_plain_http_server_is_a_tls_error() {
    // TLS is set up (rustls with ring) and fails as a transport error.
    let port = hostile_registry(Some(b""));
    let url = format!("https://127.0.0.1:{port}/bitvault");
    match RemoteRegistry::new(&url, RemoteOptions::default())
        .unwrap()
        .tags("echo")
    {
        Err(RegistryError::Transport(why)) => assert!(why.contains(&url), "{why}"),
        other => panic!("expected Transport, got {other:?}"),
    }
}

#[test]
fn inside_a_runtime_is_refused_not_a_panic() {
    let registry = RemoteRegistry::new("http://127.0.0.1:9/bitvault", RemoteOptions::default());
    let registry = registry.unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    runtime.block_on(async {
        match registry.tags("echo") {
            Err(RegistryError::Transport(why)) => assert!(why.contains("spawn_blocking"), "{why}"),
            other => panic!("expected Transport, got {other:?}"),
        }
        assert!(RemoteRegistry::new("http://127.0.0.1:9", RemoteOptions::default()).is_err());
        // Dropping it here must not panic either.
        drop(registry);
    });
}

#[test]
fn unreachable_registry_is_a_transport_error() {
    // A loopback port that was free a moment ago: nothing listens there.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}/bitvault");
    match RemoteRegistry::new(&url, RemoteOptions::default())
        .unwrap()
        .tags("echo")
    {
        Err(RegistryError::Transport(why)) => assert!(why.contains(&url), "{why}"),
        other => panic!("expected Transport, got {other:?}"),
    }
}

#[test]
fn urls() {
    let ok = |url: &str| {
        RemoteRegistry::new(url, RemoteOptions::default())
            .unwrap()
            .location()
    };
    assert_eq!(
        ok("https://ghcr.io/acme/plugins/"),
        "https://ghcr.io/acme/plugins"
    );
    assert_eq!(ok("http://127.0.0.1:5000"), "http://127.0.0.1:5000");
    for bad in [
        "ghcr.io/acme",
        "ftp://host/x",
        "https://",
        "https://u:p@host/x",
        "http://h/x?y",
    ] {
        assert!(
            matches!(
                RemoteRegistry::new(bad, RemoteOptions::default()),
                Err(RegistryError::InvalidReference(_))
            ),
            "{bad}"
        );
    }
    assert!(matches!(
        RemoteRegistry::new("https://ghcr.io/Acme", RemoteOptions::default()),
        Err(RegistryError::InvalidName(_))
    ));
}

#[test]
fn oras_pulls_what_was_pushed() {
    let Some(server) = Server::start() else {
        return;
    };
    let registry = server.registry("bitvault");
    let pushed = push_package(&registry, "echo", "1.0.0", 100 << 10);

    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/oras_pull.py");
    let out = tempfile::tempdir().unwrap();
    let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
    let output = Command::new(&python)
        .arg(&script)
        .args([&server.host(), "bitvault/echo", "1.0.0"])
        .arg(out.path())
        .output();
    let output = match output {
        Ok(output) if output.status.code() == Some(3) => {
            let why = String::from_utf8_lossy(&output.stderr).into_owned();
            assert!(!in_ci(), "oras is missing: {why}");
            eprintln!("skipped: {why}");
            return;
        }
        Err(e) => {
            assert!(!in_ci(), "cannot run {python}: {e}");
            eprintln!("skipped: cannot run {python}: {e}");
            return;
        }
        Ok(output) => output,
    };
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "oras_pull.py failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let pulled: BTreeMap<&str, &str> = stdout
        .lines()
        .filter_map(|line| line.strip_prefix("pulled "))
        .filter_map(|line| line.split_once(' '))
        .map(|(digest, what)| (what, digest))
        .collect();
    let expected = BTreeMap::from([
        ("manifest", pushed.digest.to_string()),
        ("config", Digest::of(&pushed.config).to_string()),
        ("echo.wasm", Digest::of(&pushed.module).to_string()),
        ("echo.sig.json", Digest::of(&pushed.signature).to_string()),
    ]);
    let expected: BTreeMap<&str, &str> = expected
        .iter()
        .map(|(what, digest)| (*what, digest.as_str()))
        .collect();
    assert_eq!(pulled, expected, "oras_pull.py printed:\n{stdout}");
}

/// The whole package flow through the real server: publish a signed
/// package with a cosign signature, read the catalog, fetch it with every
/// digest checked, verify it against a trust policy, and verify the cosign
/// signature with the `docker-reference` cosign would claim.
#[test]
fn a_signed_package_travels_through_the_registry() {
    use bitvault_registry::{
        KeyStatus, Manifest, ModuleRef, TrustPolicy, catalog, cosign, fetch_package, generate_key,
        publish, sha256_hex, sign, verify,
    };
    let Some(server) = Server::start() else {
        return;
    };
    let registry = RemoteRegistry::new(
        &format!("http://127.0.0.1:{}/bitvault", server.port),
        RemoteOptions::default(),
    )
    .unwrap();
    let key = generate_key().unwrap();
    let module = b"\0asm\x01\0\0\0\0\x05\x04test".to_vec();
    let manifest = Manifest {
        schema: 1,
        name: "hello".into(),
        version: "1.2.0".into(),
        publisher: "acme.example".into(),
        description: "says hello".into(),
        extension_points: vec!["search".into()],
        event_types: vec![],
        capabilities: bitvault_abi::Grants::core(),
        limits: None,
        abi_version: bitvault_abi::ABI_VERSION,
        module: ModuleRef {
            sha256: sha256_hex(&module),
            size: module.len() as u64,
        },
    };
    let (bytes, sig) = sign(&manifest, &key).unwrap();
    let published = publish(
        &registry,
        &bytes,
        Some(&sig.to_canonical()),
        &module,
        &Quiet,
    )
    .unwrap();
    let reference = cosign::docker_reference(&registry, "hello");
    assert_eq!(
        reference,
        format!("127.0.0.1:{}/bitvault/hello", server.port)
    );
    cosign::attach(&registry, "hello", &reference, &published.digest, &key).unwrap();

    let entries = catalog(&registry, None).unwrap();
    assert_eq!(
        entries.len(),
        1,
        "the .sig tag is not a release: {entries:?}"
    );
    assert_eq!(entries[0].version, "1.2.0");

    let fetched = fetch_package(&registry, &"hello@1.2.0".parse().unwrap(), &Quiet).unwrap();
    assert_eq!(fetched.digest, published.digest);
    let mut policy = TrustPolicy::default();
    policy
        .trust("acme.example", &key.verifying_key(), KeyStatus::Active)
        .unwrap();
    assert_eq!(
        verify(fetched.bytes(), &policy).unwrap().manifest.name,
        "hello"
    );
    let checked =
        cosign::verify_attached(&registry, "hello", &published.digest, &key.verifying_key())
            .unwrap();
    assert_eq!(checked.docker_reference, reference);
    drop(server);
}
