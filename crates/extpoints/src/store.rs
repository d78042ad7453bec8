//! A storage-provider plugin as an [`object_store::ObjectStore`], the Rust
//! ecosystem's storage abstraction (feature `object-store`), so the host
//! can use a plugin wherever it takes an object store.
//!
//! Each operation runs the plugin on tokio's blocking pool (wasm calls are
//! synchronous), so the methods must be awaited inside a tokio runtime.
//! Objects map one to one: an `object_store` path is the contract's key
//! (both forbid empty, `.` and `..` segments), a prefix is matched on
//! whole segments as `object_store` requires, and `list_with_delimiter`
//! uses the delimiter `/`.
//!
//! Deviations, all documented in `docs/extension-points.md`:
//! - `get_opts` and `copy` read the metadata first (one call), check the
//!   conditional headers against it with [`GetOptions::check_preconditions`]
//!   and then read the bytes with `if_match` on that ETag, both calls in
//!   one turn of the store; an object another host replaced in between is
//!   read again, up to eight times, and then a precondition failure, never
//!   a mix;
//! - multipart uploads are buffered in memory and written with one `Put`
//!   when completed (the contract has no multipart operation);
//! - attributes, tags and versions are not stored (the contract has a
//!   content type only); `copy` reads and writes the whole object.

use std::fmt;
use std::ops::Range;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures_util::stream::{self, BoxStream, StreamExt};
use object_store::path::Path;
use object_store::{
    CopyMode, CopyOptions, GetOptions, GetResult, GetResultPayload, ListResult, MultipartUpload,
    ObjectMeta, ObjectStore, PutMode, PutMultipartOptions, PutOptions, PutPayload, PutResult,
    Result, UploadPart,
};

use crate::proto::storage_provider::v1 as sp;
use crate::{ExtError, ExtPlugin, Invocation, StorageProvider};

const STORE: &str = "BitVaultPlugin";

/// A storage-provider plugin, bound to one invocation template (tenant,
/// grants' KV namespace, limits), as an [`ObjectStore`].
///
/// Calls through one `PluginStore` (and its clones) run one at a time: the
/// contract's conditional writes (`if_match`, `if_none_match_any`) are
/// atomic only if no other call of the plugin interleaves with them, and a
/// plugin keeping objects in its KV namespace has no transaction across
/// its KV calls. Two hosts sharing one namespace are not serialised with
/// each other.
#[derive(Clone)]
pub struct PluginStore {
    plugin: ExtPlugin,
    inv: Invocation,
    serial: Arc<Mutex<()>>,
}

impl fmt::Debug for PluginStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PluginStore")
            .field("tenant", &self.inv.call.tenant)
            .field("plugin", &self.inv.call.plugin)
            .finish_non_exhaustive()
    }
}

impl fmt::Display for PluginStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "BitVaultPlugin({}/{})",
            self.inv.call.tenant, self.inv.call.plugin
        )
    }
}

fn generic(source: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> object_store::Error {
    object_store::Error::Generic {
        store: STORE,
        source: source.into(),
    }
}

fn not_found(path: &str) -> object_store::Error {
    object_store::Error::NotFound {
        path: path.to_owned(),
        source: "no object under this key".into(),
    }
}

fn precondition(path: &str, what: &str) -> object_store::Error {
    object_store::Error::Precondition {
        path: path.to_owned(),
        source: what.to_owned().into(),
    }
}

fn status(raw: i32) -> sp::Status {
    sp::Status::try_from(raw).unwrap_or(sp::Status::Unspecified)
}

fn unexpected(op: &str, path: &str, raw: i32) -> object_store::Error {
    generic(format!("{op} `{path}` answered {:?}", status(raw)))
}

fn meta(m: sp::ObjectMeta) -> Result<ObjectMeta> {
    let location =
        Path::parse(&m.key).map_err(|source| object_store::Error::InvalidPath { source })?;
    Ok(ObjectMeta {
        location,
        last_modified: DateTime::<Utc>::from_timestamp_millis(m.last_modified_unix_ms)
            .unwrap_or_default(),
        size: m.size,
        e_tag: Some(m.etag),
        version: None,
    })
}

/// The contract's list prefix for an `object_store` prefix: whole segments.
fn segment_prefix(prefix: Option<&Path>) -> String {
    match prefix.map(Path::as_ref) {
        None | Some("") => String::new(),
        Some(p) => format!("{p}/"),
    }
}

/// The metadata a `Head` answered.
fn head_answer(key: &str, r: sp::HeadResponse) -> Result<ObjectMeta> {
    match status(r.status) {
        sp::Status::Ok => meta(r.meta.unwrap_or_default()),
        sp::Status::NotFound => Err(not_found(key)),
        _ => Err(unexpected("head", key, r.status)),
    }
}

/// What one turn of [`PluginStore::fetch`] found.
enum Fetched {
    /// The metadata, range and bytes, or why not.
    Done(Result<(ObjectMeta, Range<u64>, Bytes)>),
    /// The object was replaced between its `Head` and its `Get`.
    Replaced,
}

/// One turn of [`PluginStore::fetch`]: `Head`, the checks, then a `Get` of
/// the range on that ETag.
fn fetch_turn(
    p: &ExtPlugin,
    inv: &Invocation,
    key: &str,
    options: &GetOptions,
) -> Result<Fetched, ExtError> {
    let head = p.head(
        inv,
        sp::HeadRequest {
            key: key.to_owned(),
            ..Default::default()
        },
    )?;
    let checked = head_answer(key, head.message).and_then(|meta| {
        options.check_preconditions(&meta)?;
        let range = match &options.range {
            Some(r) => r.as_range(meta.size).map_err(generic)?,
            None => 0..meta.size,
        };
        Ok((meta, range))
    });
    let (meta, range) = match checked {
        Ok(found) => found,
        Err(e) => return Ok(Fetched::Done(Err(e))),
    };
    if options.head || range.is_empty() {
        return Ok(Fetched::Done(Ok((meta, range, Bytes::new()))));
    }
    let got = p
        .get(
            inv,
            sp::GetRequest {
                key: key.to_owned(),
                range: Some(sp::ByteRange {
                    start: range.start,
                    end: range.end,
                }),
                if_match: meta.e_tag.clone().unwrap_or_default(),
                ..Default::default()
            },
        )?
        .message;
    Ok(match status(got.status) {
        sp::Status::Ok => Fetched::Done(Ok((meta, range, Bytes::from(got.data)))),
        sp::Status::PreconditionFailed => Fetched::Replaced,
        sp::Status::NotFound => Fetched::Done(Err(not_found(key))),
        _ => Fetched::Done(Err(unexpected("get", key, got.status))),
    })
}

impl PluginStore {
    /// `plugin` (loaded for the storage-provider point) serving as an
    /// object store, every call made with `inv`.
    ///
    /// # Errors
    /// [`ExtError::NotImplemented`] if the plugin was not loaded for the
    /// storage-provider point.
    pub fn new(plugin: ExtPlugin, inv: Invocation) -> Result<PluginStore, ExtError> {
        if !plugin.points().contains(&crate::Point::StorageProvider) {
            return Err(ExtError::NotImplemented {
                point: crate::Point::StorageProvider,
            });
        }
        Ok(PluginStore {
            plugin,
            inv,
            serial: Arc::new(Mutex::new(())),
        })
    }

    /// Runs `f` with the plugin on the blocking pool, one call at a time.
    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&ExtPlugin, &Invocation) -> Result<T, ExtError> + Send + 'static,
    ) -> Result<T> {
        let (plugin, inv, serial) = (self.plugin.clone(), self.inv.clone(), self.serial.clone());
        tokio::task::spawn_blocking(move || {
            // A panic in another call leaves nothing half-done here: each
            // call is one plugin invocation.
            let _one_at_a_time = serial.lock().unwrap_or_else(|p| p.into_inner());
            f(&plugin, &inv)
        })
        .await
        .map_err(generic)?
        .map_err(generic)
    }

    async fn put_request(&self, req: sp::PutRequest, mode_create: bool) -> Result<PutResult> {
        let key = req.key.clone();
        let r = self.blocking(move |p, inv| p.put(inv, req)).await?.message;
        match status(r.status) {
            sp::Status::Ok => Ok(PutResult {
                e_tag: r.meta.map(|m| m.etag),
                version: None,
                extensions: Default::default(),
            }),
            sp::Status::PreconditionFailed if mode_create => {
                Err(object_store::Error::AlreadyExists {
                    path: key,
                    source: "an object exists under this key".into(),
                })
            }
            sp::Status::PreconditionFailed => Err(precondition(&key, "the ETag does not match")),
            _ => Err(unexpected("put", &key, r.status)),
        }
    }

    /// The object's metadata, checked against `options`, and the bytes of
    /// its range (none for a `head` request). The two plugin calls run in
    /// one turn of the store, so no call through this store comes between
    /// them; when another host sharing the namespace replaces the object in
    /// between, the read starts again (bounded).
    async fn fetch(
        &self,
        location: &Path,
        options: GetOptions,
    ) -> Result<(ObjectMeta, Range<u64>, Bytes)> {
        let key = location.to_string();
        for _ in 0..8 {
            let (key, options) = (key.clone(), options.clone());
            let turn = self
                .blocking(move |p, inv| fetch_turn(p, inv, &key, &options))
                .await?;
            match turn {
                Fetched::Done(found) => return found,
                Fetched::Replaced => continue,
            }
        }
        Err(precondition(
            &key,
            "the object changed while it was being read, eight times",
        ))
    }

    /// Every page of a list.
    async fn list_all(&self, prefix: String, delimiter: &str) -> Result<sp::ListResponse> {
        let delimiter = delimiter.to_owned();
        self.blocking(move |p, inv| {
            let mut all = sp::ListResponse::default();
            let mut token = String::new();
            loop {
                let page = p
                    .list(
                        inv,
                        sp::ListRequest {
                            prefix: prefix.clone(),
                            delimiter: delimiter.clone(),
                            page_token: token,
                            ..Default::default()
                        },
                    )?
                    .message;
                all.status = page.status;
                all.objects.extend(page.objects);
                all.common_prefixes.extend(page.common_prefixes);
                if page.next_page_token.is_empty() {
                    return Ok(all);
                }
                token = page.next_page_token;
            }
        })
        .await
    }
}

#[async_trait]
impl ObjectStore for PluginStore {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> Result<PutResult> {
        let mut req = sp::PutRequest {
            key: location.to_string(),
            data: Bytes::from(payload).to_vec(),
            ..Default::default()
        };
        let create = match opts.mode {
            PutMode::Overwrite => false,
            PutMode::Create => {
                req.if_none_match_any = true;
                true
            }
            PutMode::Update(v) => {
                req.if_match = v.e_tag.ok_or_else(|| {
                    generic("an update needs the ETag of the version it replaces")
                })?;
                false
            }
        };
        self.put_request(req, create).await
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        _opts: PutMultipartOptions,
    ) -> Result<Box<dyn MultipartUpload>> {
        Ok(Box::new(BufferedUpload {
            store: self.clone(),
            location: location.clone(),
            parts: Vec::new(),
        }))
    }

    async fn get_opts(&self, location: &Path, options: GetOptions) -> Result<GetResult> {
        let (meta, range, data) = self.fetch(location, options).await?;
        Ok(GetResult {
            payload: GetResultPayload::Stream(stream::once(async move { Ok(data) }).boxed()),
            meta,
            range,
            attributes: Default::default(),
            extensions: Default::default(),
        })
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, Result<Path>>,
    ) -> BoxStream<'static, Result<Path>> {
        let store = self.clone();
        locations
            .then(move |location| {
                let store = store.clone();
                async move {
                    let location = location?;
                    let req = sp::DeleteRequest {
                        key: location.to_string(),
                        ..Default::default()
                    };
                    let r = store
                        .blocking(move |p, inv| p.delete(inv, req))
                        .await?
                        .message;
                    match status(r.status) {
                        sp::Status::Ok => Ok(location),
                        _ => Err(unexpected("delete", location.as_ref(), r.status)),
                    }
                }
            })
            .boxed()
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, Result<ObjectMeta>> {
        let store = self.clone();
        let prefix = segment_prefix(prefix);
        stream::once(async move { store.list_all(prefix, "").await })
            .flat_map(|page| match page {
                Ok(page) => stream::iter(page.objects.into_iter().map(meta).collect::<Vec<_>>()),
                Err(e) => stream::iter(vec![Err(e)]),
            })
            .boxed()
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> Result<ListResult> {
        let page = self.list_all(segment_prefix(prefix), "/").await?;
        let objects = page
            .objects
            .into_iter()
            .map(meta)
            .collect::<Result<Vec<_>>>()?;
        let common_prefixes = page
            .common_prefixes
            .iter()
            .map(|p| {
                Path::parse(p.trim_end_matches('/'))
                    .map_err(|source| object_store::Error::InvalidPath { source })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(ListResult {
            common_prefixes,
            objects,
            extensions: Default::default(),
        })
    }

    async fn copy_opts(&self, from: &Path, to: &Path, options: CopyOptions) -> Result<()> {
        let (_, _, data) = self.fetch(from, GetOptions::default()).await?;
        let create = matches!(options.mode, CopyMode::Create);
        let req = sp::PutRequest {
            key: to.to_string(),
            data: data.to_vec(),
            if_none_match_any: create,
            ..Default::default()
        };
        self.put_request(req, create).await.map(drop)
    }
}

/// A multipart upload buffered in memory and written by one `Put`.
#[derive(Debug)]
struct BufferedUpload {
    store: PluginStore,
    location: Path,
    parts: Vec<PutPayload>,
}

#[async_trait]
impl MultipartUpload for BufferedUpload {
    fn put_part(&mut self, data: PutPayload) -> UploadPart {
        self.parts.push(data);
        Box::pin(async { Ok(()) })
    }

    async fn complete(&mut self) -> Result<PutResult> {
        let mut data = Vec::with_capacity(self.parts.iter().map(PutPayload::content_length).sum());
        for part in self.parts.drain(..) {
            for chunk in &part {
                data.extend_from_slice(chunk);
            }
        }
        let req = sp::PutRequest {
            key: self.location.to_string(),
            data,
            ..Default::default()
        };
        self.store.put_request(req, false).await
    }

    async fn abort(&mut self) -> Result<()> {
        self.parts.clear();
        Ok(())
    }
}
