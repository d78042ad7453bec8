//! The remote backend: any registry that speaks the OCI distribution API
//! (`docker-registry`/distribution, zot, Harbor, GHCR, …), through
//! `oci-client`. Built with the `remote` feature.
//!
//! # Names and repositories
//!
//! A remote registry is named by a URL, `SCHEME://HOST[:PORT][/NAMESPACE]`:
//!
//! | URL                              | registry           | plugin `echo` is    |
//! | -------------------------------- | ------------------ | ------------------- |
//! | `https://ghcr.io/acme/plugins`   | `ghcr.io`          | `acme/plugins/echo` |
//! | `http://127.0.0.1:5000/bitvault` | `127.0.0.1:5000`   | `bitvault/echo`     |
//! | `https://registry.example`       | `registry.example` | `echo`              |
//!
//! Every [`Registry`] method takes a plugin name and works on the
//! repository `NAMESPACE/NAME`; [`Registry::repositories`] lists only the
//! catalog's repositories under `NAMESPACE/`, with that prefix taken off.
//! Versions are tags ([`crate::oci::version_tag`]).
//!
//! # Transport
//!
//! `https://` is TLS through rustls (ring), verified against the system's
//! roots (`rustls-platform-verifier`: `/etc/ssl/certs` on Linux); plain
//! `http://` is used only when the URL says so. Access is anonymous (with
//! the anonymous bearer tokens public registries hand out) unless
//! [`RemoteOptions::basic_auth`] is set.
//!
//! # Blocking
//!
//! A [`RemoteRegistry`] owns a current-thread tokio runtime and blocks on
//! it in every call, as the [`Registry`] trait requires. Async callers
//! must call it from `tokio::task::spawn_blocking`: called from inside a
//! runtime, a method returns [`RegistryError::Transport`] instead of
//! panicking. It may be dropped anywhere.
//!
//! # Limits
//!
//! [`Registry::pull_blob`] refuses a `Content-Length` over its limit before
//! reading the body, and stops reading as soon as the bytes pass it.
//! Manifests are read whole by `oci-client` and refused above
//! [`MAX_MANIFEST_BYTES`] afterwards. Listings are read in the registry's
//! own page size (asking for more than its maximum is an error in
//! distribution), following `last` until a page comes back empty.

use std::fmt;
use std::future::Future;
use std::time::Duration;

use futures_util::StreamExt as _;
use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::errors::{DigestError, OciDistributionError, OciErrorCode};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};

use crate::oci::{
    Digest, MAX_MANIFEST_BYTES, OCI_MANIFEST_MEDIA_TYPE, Progress, Registry, RegistryError,
    check_repository, check_tag,
};

/// Most pages read for one listing (a registry that pages without end).
const MAX_PAGES: usize = 1000;
/// Bytes between two progress reports of a blob download.
const PROGRESS_STEP: u64 = 256 << 10;
/// Most bytes reserved up front for a blob, whatever its `Content-Length`.
const MAX_PREALLOCATION: u64 = 16 << 20;

/// HTTP basic credentials for a remote registry.
#[derive(Clone, PartialEq, Eq)]
pub struct BasicAuth {
    /// The user name.
    pub username: String,
    /// The password or access token.
    pub password: String,
}

impl fmt::Debug for BasicAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BasicAuth")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// How to reach a remote registry.
#[derive(Debug, Clone)]
pub struct RemoteOptions {
    /// Credentials; `None` is anonymous access.
    pub basic_auth: Option<BasicAuth>,
    /// Most time to open a connection (30 s by default).
    pub connect_timeout: Duration,
    /// Most time to wait for any one read (60 s by default).
    pub read_timeout: Duration,
}

impl Default for RemoteOptions {
    fn default() -> Self {
        RemoteOptions {
            basic_auth: None,
            connect_timeout: Duration::from_secs(30),
            read_timeout: Duration::from_secs(60),
        }
    }
}

/// A remote OCI distribution registry (see the [module docs](self)).
pub struct RemoteRegistry {
    /// The URL as normalised, for messages.
    url: String,
    /// `HOST[:PORT]`.
    registry: String,
    /// The repository prefix, without slashes at its ends; may be empty.
    namespace: String,
    auth: RegistryAuth,
    client: Client,
    runtime: Runtime,
}

impl fmt::Debug for RemoteRegistry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RemoteRegistry")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

/// A runtime that may be dropped anywhere, even inside another runtime
/// (a plain drop there panics).
struct Runtime(Option<tokio::runtime::Runtime>);

impl Drop for Runtime {
    fn drop(&mut self) {
        if let Some(runtime) = self.0.take() {
            runtime.shutdown_background();
        }
    }
}

impl RemoteRegistry {
    /// Connects nothing yet: parses `url` (`https://HOST[:PORT][/NAMESPACE]`,
    /// or `http://…` for plain HTTP) and sets up the client.
    ///
    /// # Errors
    /// [`RegistryError::InvalidReference`] for a URL of another form,
    /// [`RegistryError::InvalidName`] for a namespace that is no repository
    /// name, [`RegistryError::Transport`] when called inside an async
    /// runtime or when the client cannot be built.
    pub fn new(url: &str, options: RemoteOptions) -> Result<RemoteRegistry, RegistryError> {
        refuse_inside_runtime()?;
        let bad = |why: &str| RegistryError::InvalidReference(format!("{url}: {why}"));
        let (scheme, protocol, rest) = if let Some(rest) = url.strip_prefix("https://") {
            ("https", ClientProtocol::Https, rest)
        } else if let Some(rest) = url.strip_prefix("http://") {
            ("http", ClientProtocol::Http, rest)
        } else {
            return Err(bad(
                "a remote registry is https://HOST[:PORT][/NAMESPACE] (or http://…)",
            ));
        };
        let rest = rest.trim_end_matches('/');
        let (registry, namespace) = rest.split_once('/').unwrap_or((rest, ""));
        if registry.is_empty() || registry.contains(['@', '?', '#']) || rest.contains(['?', '#']) {
            return Err(bad(
                "expected HOST[:PORT][/NAMESPACE], without credentials, query or fragment",
            ));
        }
        if !namespace.is_empty() {
            check_repository(namespace)?;
        }

        // reqwest is built without a crypto provider: use ring, which the
        // workspace's rustls already builds. An already installed provider
        // (the embedder's) is kept.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let config = ClientConfig {
            protocol,
            connect_timeout: Some(options.connect_timeout),
            read_timeout: Some(options.read_timeout),
            platform_resolver: None,
            user_agent: concat!("bitvault-registry/", env!("CARGO_PKG_VERSION")),
            ..ClientConfig::default()
        };
        let client = Client::try_from(config).map_err(|e| {
            RegistryError::Transport(format!("cannot set up the HTTP client: {}", chain(&e)))
        })?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .enable_time()
            .build()
            .map_err(|e| RegistryError::Transport(format!("cannot start a runtime: {e}")))?;
        let auth = match options.basic_auth {
            Some(BasicAuth { username, password }) => RegistryAuth::Basic(username, password),
            None => RegistryAuth::Anonymous,
        };
        let remote = RemoteRegistry {
            url: format!("{scheme}://{rest}"),
            registry: registry.to_owned(),
            namespace: namespace.to_owned(),
            auth,
            client,
            runtime: Runtime(Some(runtime)),
        };
        // Calls that take no credentials (blob streams) find them here.
        remote.run(async {
            remote
                .client
                .store_auth_if_needed(&remote.registry, &remote.auth)
                .await;
            Ok(())
        })?;
        Ok(remote)
    }

    /// Blocks on `future` in this registry's runtime.
    fn run<T>(
        &self,
        future: impl Future<Output = Result<T, RegistryError>>,
    ) -> Result<T, RegistryError> {
        refuse_inside_runtime()?;
        match &self.runtime.0 {
            Some(runtime) => runtime.block_on(future),
            None => Err(RegistryError::Transport(
                "the registry's runtime is shut down".into(),
            )),
        }
    }

    /// The repository that holds plugin `name`.
    fn repository(&self, name: &str) -> Result<String, RegistryError> {
        let repository = if self.namespace.is_empty() {
            name.to_owned()
        } else {
            format!("{}/{name}", self.namespace)
        };
        check_repository(&repository)?;
        Ok(repository)
    }

    /// `name` at `tag`.
    fn tagged(&self, name: &str, tag: &str) -> Result<Reference, RegistryError> {
        check_tag(tag)?;
        Ok(Reference::with_tag(
            self.registry.clone(),
            self.repository(name)?,
            tag.to_owned(),
        ))
    }

    /// `name` at `digest`.
    fn pinned(&self, name: &str, digest: &Digest) -> Result<Reference, RegistryError> {
        Ok(Reference::with_digest(
            self.registry.clone(),
            self.repository(name)?,
            digest.to_string(),
        ))
    }

    /// Maps an `oci-client` error about `subject` (`module blob sha256:…
    /// in bitvault/echo`); `role` names the content in a digest mismatch.
    fn error(&self, error: OciDistributionError, role: &str, subject: &str) -> RegistryError {
        use OciDistributionError as E;
        let not_found = match &error {
            E::RegistryError { envelope, .. } => envelope.errors.iter().any(|e| {
                matches!(
                    e.code,
                    OciErrorCode::BlobUnknown
                        | OciErrorCode::ManifestUnknown
                        | OciErrorCode::NameUnknown
                        | OciErrorCode::NotFound
                )
            }),
            E::ServerError { code, .. } => *code == 404,
            E::RequestError(e) => e.status().is_some_and(|s| s.as_u16() == 404),
            E::ImageManifestNotFoundError(_) => true,
            _ => false,
        };
        if not_found {
            return RegistryError::NotFound(format!("{subject} at {}", self.url));
        }
        if let E::DigestError(DigestError::VerificationError { expected, actual }) = &error
            && let (Ok(expected), Ok(actual)) = (Digest::parse(expected), Digest::parse(actual))
        {
            return RegistryError::DigestMismatch {
                what: role.to_owned(),
                expected,
                actual,
            };
        }
        let refused = match &error {
            E::UnauthorizedError { .. } | E::AuthenticationFailure(_) => true,
            E::RequestError(e) => e.status().is_some_and(|s| matches!(s.as_u16(), 401 | 403)),
            E::RegistryError { envelope, .. } => envelope
                .errors
                .iter()
                .any(|e| matches!(e.code, OciErrorCode::Unauthorized | OciErrorCode::Denied)),
            _ => false,
        };
        let hint = if refused {
            "not authorized (credentials missing or refused): "
        } else {
            ""
        };
        RegistryError::Transport(format!(
            "{subject} at {}: {hint}{}",
            self.url,
            chain(&error)
        ))
    }

    /// Reads a listing page by page (`last`) until a page comes back empty
    /// or ends where the one before did (a registry that ignores `last`).
    fn paged(
        &self,
        subject: &str,
        mut page: impl FnMut(Option<&str>) -> Result<Vec<String>, RegistryError>,
    ) -> Result<Vec<String>, RegistryError> {
        let mut all: Vec<String> = Vec::new();
        for _ in 0..MAX_PAGES {
            let items = page(all.last().map(String::as_str))?;
            if items.is_empty() || items.last() == all.last() {
                return Ok(all);
            }
            all.extend(items);
        }
        Err(RegistryError::Transport(format!(
            "{subject} at {}: more than {MAX_PAGES} pages",
            self.url
        )))
    }
}

impl Registry for RemoteRegistry {
    fn location(&self) -> String {
        self.url.clone()
    }

    fn push_blob(
        &self,
        repository: &str,
        digest: &Digest,
        bytes: &[u8],
        what: &str,
        progress: &dyn Progress,
    ) -> Result<(), RegistryError> {
        let reference = self.pinned(repository, digest)?;
        let subject = format!("{what} blob {digest} in {}", reference.repository());
        let size = bytes.len() as u64;
        progress.transfer(what, digest, 0, size);
        self.run(async {
            let error = |e| self.error(e, what, &subject);
            if !self
                .client
                .blob_exists(&reference, digest.as_str())
                .await
                .map_err(error)?
            {
                self.client
                    .push_blob(&reference, bytes.to_vec(), digest.as_str())
                    .await
                    .map_err(error)?;
            }
            Ok(())
        })?;
        progress.transfer(what, digest, size, size);
        Ok(())
    }

    /// Streams the blob; `total` in progress reports is the registry's
    /// `Content-Length`, or the bytes so far when it sends none.
    fn pull_blob(
        &self,
        repository: &str,
        digest: &Digest,
        limit: u64,
        what: &str,
        progress: &dyn Progress,
    ) -> Result<Vec<u8>, RegistryError> {
        let reference = self.pinned(repository, digest)?;
        let subject = format!("{what} blob {digest} in {}", reference.repository());
        let too_large = |size| RegistryError::TooLarge {
            what: what.to_owned(),
            size,
            limit,
        };
        self.run(async {
            let mut stream = self
                .client
                .pull_blob_stream(&reference, digest.as_str())
                .await
                .map_err(|e| self.error(e, what, &subject))?;
            let length = stream.content_length;
            if let Some(size) = length.filter(|&size| size > limit) {
                return Err(too_large(size));
            }
            let capacity = length.unwrap_or(0).min(limit).min(MAX_PREALLOCATION);
            let mut bytes = Vec::with_capacity(usize::try_from(capacity).unwrap_or(0));
            progress.transfer(what, digest, 0, length.unwrap_or(0));
            let mut reported = 0;
            while let Some(chunk) = stream.next().await {
                let chunk = chunk.map_err(|e| {
                    // oci-client checks the digest at the end of the stream.
                    if e.get_ref()
                        .and_then(|e| e.downcast_ref::<DigestError>())
                        .is_some()
                    {
                        RegistryError::DigestMismatch {
                            what: what.to_owned(),
                            expected: digest.clone(),
                            actual: Digest::of(&bytes),
                        }
                    } else {
                        RegistryError::Transport(format!(
                            "{subject} at {}: {}",
                            self.url,
                            chain(&e)
                        ))
                    }
                })?;
                let done = (bytes.len() + chunk.len()) as u64;
                if done > limit {
                    return Err(too_large(done));
                }
                bytes.extend_from_slice(&chunk);
                if done - reported >= PROGRESS_STEP {
                    progress.transfer(what, digest, done, length.unwrap_or(done).max(done));
                    reported = done;
                }
            }
            let done = bytes.len() as u64;
            progress.transfer(what, digest, done, done);
            Ok(bytes)
        })
    }

    fn push_manifest(
        &self,
        repository: &str,
        tag: &str,
        bytes: &[u8],
    ) -> Result<Digest, RegistryError> {
        let reference = self.tagged(repository, tag)?;
        let subject = format!("manifest {}:{tag}", reference.repository());
        self.run(async {
            self.client
                .push_manifest_raw(
                    &reference,
                    bytes.to_vec(),
                    http::HeaderValue::from_static(OCI_MANIFEST_MEDIA_TYPE),
                )
                .await
                .map_err(|e| self.error(e, "manifest", &subject))
        })?;
        Ok(Digest::of(bytes))
    }

    fn pull_manifest(&self, repository: &str, reference: &str) -> Result<Vec<u8>, RegistryError> {
        let (target, subject) = if reference.contains(':') {
            let target = self.pinned(repository, &Digest::parse(reference)?)?;
            let subject = format!("manifest {}@{reference}", target.repository());
            (target, subject)
        } else {
            let target = self.tagged(repository, reference)?;
            let subject = format!("manifest {}:{reference}", target.repository());
            (target, subject)
        };
        let (bytes, _) = self.run(async {
            self.client
                .pull_manifest_raw(&target, &self.auth, &[OCI_MANIFEST_MEDIA_TYPE])
                .await
                .map_err(|e| self.error(e, "manifest", &subject))
        })?;
        if bytes.len() as u64 > MAX_MANIFEST_BYTES {
            return Err(RegistryError::TooLarge {
                what: "manifest".into(),
                size: bytes.len() as u64,
                limit: MAX_MANIFEST_BYTES,
            });
        }
        Ok(bytes.to_vec())
    }

    fn tags(&self, repository: &str) -> Result<Vec<String>, RegistryError> {
        let target = self.tagged(repository, "latest")?;
        let subject = format!("tags of {}", target.repository());
        let listed = self.paged(&subject, |last| {
            self.run(async {
                let page = self.client.list_tags(&target, &self.auth, None, last).await;
                page.map(|p| p.tags)
                    .map_err(|e| self.error(e, "tags", &subject))
            })
        });
        match listed {
            Err(RegistryError::NotFound(_)) => Ok(Vec::new()),
            other => other,
        }
    }

    fn repositories(&self) -> Result<Vec<String>, RegistryError> {
        // The catalog is registry-wide; the reference only names the host
        // (and the scope of an anonymous token).
        let scope = if self.namespace.is_empty() {
            "library"
        } else {
            &self.namespace
        };
        let anchor = Reference::with_tag(self.registry.clone(), scope.to_owned(), "latest".into());
        let all = self.paged("the catalog", |last| {
            self.run(async {
                let page = self.client.catalog(&anchor, &self.auth, None, last).await;
                page.map(|p| p.repositories)
                    .map_err(|e| self.error(e, "catalog", "the catalog"))
            })
        })?;
        if self.namespace.is_empty() {
            return Ok(all);
        }
        Ok(all
            .into_iter()
            .filter_map(|repository| {
                let name = repository
                    .strip_prefix(&self.namespace)?
                    .strip_prefix('/')?;
                Some(name.to_owned())
            })
            .collect())
    }
}

/// Refuses to block inside an async runtime (`block_on` would panic there).
fn refuse_inside_runtime() -> Result<(), RegistryError> {
    if tokio::runtime::Handle::try_current().is_ok() {
        return Err(RegistryError::Transport(
            "the remote registry blocks, and was called from inside an async runtime: \
             call it from tokio::task::spawn_blocking"
                .into(),
        ));
    }
    Ok(())
}

/// An error and its sources, `outer: inner: …`, each said once.
fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(inner) = source {
        let said = inner.to_string();
        if !text.contains(&said) {
            text.push_str(": ");
            text.push_str(&said);
        }
        source = inner.source();
    }
    text
}
