//! kvstore (extension point `storage_provider`; capabilities `io`, `kv`):
//! an object store in the plugin's KV namespace, with the full contract:
//! ETags, byte ranges, conditional writes, idempotent deletes, and listing
//! with delimiters and pages.
//!
//! Layout in the namespace: an object's metadata (an `ObjectMeta` message)
//! under `m:<key>`, its content in chunks of 512 KiB under
//! `d:<key>\0<index>` (so an object may be larger than one KV value). A
//! put writes the chunks, drops chunks the old version had beyond the new
//! size, and writes the metadata last: the metadata is the commit point,
//! and an object is visible only with all its chunks. (A put interrupted
//! between the chunks and the metadata leaves the old metadata over
//! partly new chunks; the KV namespace has no transactions across calls.)
//!
//! The ETag is the quoted first 32 hex digits of the content's SHA-256,
//! so equal content has equal ETags. `last_modified_unix_ms` is the
//! request context's time. A KV failure is the plugin error 60.

use bitvault_pdk::points::Message;
use bitvault_pdk::points::StorageProvider;
use bitvault_pdk::points::contract::is_valid_key;
use bitvault_pdk::points::proto::storage_provider::v1::{
    DeleteRequest, DeleteResponse, GetRequest, GetResponse, HeadRequest, HeadResponse, ListRequest,
    ListResponse, ObjectMeta, PutRequest, PutResponse, Status,
};
use bitvault_pdk::{Error, HostError, kv};
use sha2::{Digest, Sha256};

/// The plugin.
pub struct KvStore;

/// Bytes per content chunk.
pub const CHUNK: usize = 512 * 1024;
/// The page size when a list asks for none, and the most it may ask for.
pub const MAX_RESULTS: usize = 1000;

fn kv_err(e: HostError) -> Error {
    Error::new(60, format!("the KV namespace failed: {e}"))
}

fn meta_key(key: &str) -> Vec<u8> {
    [b"m:", key.as_bytes()].concat()
}

fn chunk_key(key: &str, index: usize) -> Vec<u8> {
    let mut k = [b"d:", key.as_bytes(), b"\0"].concat();
    k.extend_from_slice(&(index as u32).to_be_bytes());
    k
}

fn chunks(size: u64) -> usize {
    (size as usize).div_ceil(CHUNK)
}

fn load_meta(key: &str) -> Result<Option<ObjectMeta>, Error> {
    match kv::get(&meta_key(key)).map_err(kv_err)? {
        None => Ok(None),
        Some(bytes) => ObjectMeta::decode(bytes.as_slice())
            .map(Some)
            .map_err(|e| Error::new(61, format!("stored metadata of `{key}` is corrupt: {e}"))),
    }
}

fn etag(data: &[u8]) -> String {
    let digest = Sha256::digest(data);
    let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
    format!("\"{hex}\"")
}

fn now(context: Option<&bitvault_pdk::points::proto::common::v1::Context>) -> i64 {
    context.map_or(0, |c| c.now_unix_ms)
}

/// Reads bytes `start..end` of an object (`end` at most its size).
fn read_range(key: &str, start: u64, end: u64) -> Result<Vec<u8>, Error> {
    let mut out = Vec::with_capacity((end - start) as usize);
    if start >= end {
        return Ok(out);
    }
    let (first, last) = (start as usize / CHUNK, (end as usize - 1) / CHUNK);
    for index in first..=last {
        let chunk = kv::get(&chunk_key(key, index))
            .map_err(kv_err)?
            .ok_or_else(|| Error::new(61, format!("chunk {index} of `{key}` is missing")))?;
        let base = (index * CHUNK) as u64;
        let from = start.saturating_sub(base) as usize;
        let to = ((end - base) as usize).min(chunk.len());
        out.extend_from_slice(chunk.get(from..to).ok_or_else(|| {
            Error::new(
                61,
                format!("chunk {index} of `{key}` is shorter than its object"),
            )
        })?);
    }
    Ok(out)
}

impl StorageProvider for KvStore {
    fn put(req: PutRequest) -> Result<PutResponse, Error> {
        let status = |s: Status| PutResponse {
            status: s as i32,
            meta: None,
        };
        if !is_valid_key(&req.key) {
            return Ok(status(Status::InvalidKey));
        }
        let old = load_meta(&req.key)?;
        if req.if_none_match_any && old.is_some() {
            return Ok(status(Status::PreconditionFailed));
        }
        if !req.if_match.is_empty() && old.as_ref().is_none_or(|m| m.etag != req.if_match) {
            return Ok(status(Status::PreconditionFailed));
        }
        let count = req.data.len().div_ceil(CHUNK);
        for (index, chunk) in req.data.chunks(CHUNK).enumerate() {
            kv::put(&chunk_key(&req.key, index), chunk).map_err(kv_err)?;
        }
        if let Some(old) = &old {
            for index in count..chunks(old.size) {
                kv::delete(&chunk_key(&req.key, index)).map_err(kv_err)?;
            }
        }
        let meta = ObjectMeta {
            key: req.key.clone(),
            size: req.data.len() as u64,
            etag: etag(&req.data),
            content_type: req.content_type.clone(),
            last_modified_unix_ms: now(req.context.as_ref()),
        };
        kv::put(&meta_key(&req.key), &meta.encode_to_vec()).map_err(kv_err)?;
        Ok(PutResponse {
            status: Status::Ok as i32,
            meta: Some(meta),
        })
    }

    fn get(req: GetRequest) -> Result<GetResponse, Error> {
        let status = |s: Status| GetResponse {
            status: s as i32,
            ..Default::default()
        };
        if !is_valid_key(&req.key) {
            return Ok(status(Status::InvalidKey));
        }
        let Some(meta) = load_meta(&req.key)? else {
            return Ok(status(Status::NotFound));
        };
        if !req.if_match.is_empty() && req.if_match != meta.etag {
            return Ok(status(Status::PreconditionFailed));
        }
        let (start, end) = match &req.range {
            None => (0, meta.size),
            Some(r) => {
                let end = if r.end == 0 {
                    meta.size
                } else {
                    r.end.min(meta.size)
                };
                let empty_whole = meta.size == 0 && r.start == 0;
                if r.start >= end && !empty_whole {
                    return Ok(status(Status::InvalidRange));
                }
                (r.start, end)
            }
        };
        let data = read_range(&req.key, start, end)?;
        Ok(GetResponse {
            status: Status::Ok as i32,
            meta: Some(meta),
            data,
            range_start: start,
        })
    }

    fn head(req: HeadRequest) -> Result<HeadResponse, Error> {
        if !is_valid_key(&req.key) {
            return Ok(HeadResponse {
                status: Status::InvalidKey as i32,
                meta: None,
            });
        }
        Ok(match load_meta(&req.key)? {
            Some(meta) => HeadResponse {
                status: Status::Ok as i32,
                meta: Some(meta),
            },
            None => HeadResponse {
                status: Status::NotFound as i32,
                meta: None,
            },
        })
    }

    fn delete(req: DeleteRequest) -> Result<DeleteResponse, Error> {
        if !is_valid_key(&req.key) {
            return Ok(DeleteResponse {
                status: Status::InvalidKey as i32,
                existed: false,
            });
        }
        let Some(meta) = load_meta(&req.key)? else {
            return Ok(DeleteResponse {
                status: Status::Ok as i32,
                existed: false,
            });
        };
        // The metadata first: from here the object is gone, even if a
        // chunk deletion fails.
        kv::delete(&meta_key(&req.key)).map_err(kv_err)?;
        for index in 0..chunks(meta.size) {
            kv::delete(&chunk_key(&req.key, index)).map_err(kv_err)?;
        }
        Ok(DeleteResponse {
            status: Status::Ok as i32,
            existed: true,
        })
    }

    fn list(req: ListRequest) -> Result<ListResponse, Error> {
        let max = match req.max_results as usize {
            0 => MAX_RESULTS,
            n => n.min(MAX_RESULTS),
        };
        // The KV cursor to continue after: a key (`k:`), or past every key
        // under a common prefix (`p:`; 0xFF sorts after any UTF-8 byte).
        let mut cursor: Option<Vec<u8>> = match req.page_token.split_once(':') {
            None if req.page_token.is_empty() => None,
            Some(("k", key)) => Some(meta_key(key)),
            Some(("p", prefix)) => Some([meta_key(prefix), vec![0xff]].concat()),
            _ => {
                return Err(Error::new(
                    Error::BAD_INPUT,
                    "the page token is not one this provider issued",
                ));
            }
        };
        let kv_prefix = meta_key(&req.prefix);
        let mut response = ListResponse {
            status: Status::Ok as i32,
            ..Default::default()
        };
        let mut taken = 0usize;
        let mut last_token = String::new();
        loop {
            let page = kv::list(&kv_prefix, cursor.as_deref(), 1000).map_err(kv_err)?;
            let mut advanced_to: Option<Vec<u8>> = None;
            for raw in &page.keys {
                let key = String::from_utf8_lossy(&raw[2..]).into_owned();
                let rest = &key[req.prefix.len()..];
                let rolled = (!req.delimiter.is_empty())
                    .then(|| rest.find(&req.delimiter))
                    .flatten()
                    .map(|i| format!("{}{}", req.prefix, &rest[..i + req.delimiter.len()]));
                if taken == max {
                    // One more entry exists: this page ends here.
                    response.next_page_token = last_token;
                    return Ok(response);
                }
                match rolled {
                    Some(common) => {
                        response.common_prefixes.push(common.clone());
                        last_token = format!("p:{common}");
                        taken += 1;
                        // Skip every other key under this prefix.
                        advanced_to = Some([meta_key(&common), vec![0xff]].concat());
                        break;
                    }
                    None => {
                        let meta = kv::get(raw)
                            .map_err(kv_err)?
                            .and_then(|b| ObjectMeta::decode(b.as_slice()).ok())
                            .ok_or_else(|| {
                                Error::new(61, format!("stored metadata of `{key}` is corrupt"))
                            })?;
                        response.objects.push(meta);
                        last_token = format!("k:{key}");
                        taken += 1;
                        advanced_to = Some(raw.clone());
                    }
                }
            }
            match advanced_to {
                Some(next) => cursor = Some(next),
                None => return Ok(response),
            }
        }
    }
}

bitvault_pdk::export_storage_provider!(KvStore);

#[cfg(test)]
mod tests {
    use super::*;
    use bitvault_pdk::points::call;
    use bitvault_pdk::points::proto::storage_provider::v1::ByteRange;
    use bitvault_pdk::testing::Host;

    #[test]
    fn chunked_objects_read_back_by_range() {
        let data: Vec<u8> = (0..(CHUNK * 2 + 10)).map(|i| (i % 253) as u8).collect();
        let put: PutResponse = call(
            Host::new(),
            KvStore::put,
            &PutRequest {
                key: "big".into(),
                data: data.clone(),
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(put.status, Status::Ok as i32);
        // Replay the namespace the put left into a fresh host.
        let out = Host::new()
            .input(
                &PutRequest {
                    key: "big".into(),
                    data: data.clone(),
                    ..Default::default()
                }
                .encode_to_vec(),
            )
            .run(|| bitvault_pdk::points::serve(KvStore::put));
        let mut host = Host::new();
        for (k, v) in &out.kv {
            host = host.kv_entry(k, v);
        }
        assert_eq!(out.kv.len(), 4, "metadata and three chunks");
        let start = (CHUNK - 5) as u64;
        let get: GetResponse = call(
            host,
            KvStore::get,
            &GetRequest {
                key: "big".into(),
                range: Some(ByteRange {
                    start,
                    end: start + 20,
                }),
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(get.data, data[start as usize..start as usize + 20]);
        assert_eq!(get.range_start, start);
    }

    #[test]
    fn etags_are_content_hashes() {
        assert_eq!(etag(b"a"), etag(b"a"));
        assert_ne!(etag(b"a"), etag(b"b"));
        assert_eq!(etag(b"").len(), 34);
    }
}
