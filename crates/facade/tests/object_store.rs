//! A storage-provider plugin (`plugins/kvstore`) as an
//! `object_store::ObjectStore`, run through the `object_store` crate's own
//! integration suite: the same checks its built-in stores pass.

mod common;

use std::sync::Arc;

use anyhow::Result;
use bitvault_plugins::extpoints::{ExtPlugin, Invocation, PluginStore, Point};
use bitvault_plugins::kv::{KvQuotas, MemoryKv};
use bitvault_plugins::{CallContext, Grants, LimitPolicy, Runtime, RuntimeConfig};
use object_store::integration;

fn store() -> Result<PluginStore> {
    let rt = Runtime::new(RuntimeConfig::new())?;
    let plugin = ExtPlugin::load(
        &rt,
        &common::plugin_wasm("kvstore")?,
        &Grants::core_with_kv(),
        &[Point::StorageProvider],
    )?;
    // The suite writes objects of 22 MB (by multipart upload, which the
    // adapter sends as one Put): larger than the default request, response
    // and memory limits of one call.
    let max = LimitPolicy::standard().max;
    let limits = bitvault_plugins::Limits {
        fuel: max.fuel,
        input_bytes: 64 << 20,
        output_bytes: 64 << 20,
        memory_bytes: 512 << 20,
        deadline_ms: max.deadline_ms,
        ..LimitPolicy::standard().default
    };
    let quotas = KvQuotas {
        max_bytes: 1 << 30,
        ..KvQuotas::standard()
    };
    let call = CallContext::new(limits)
        .for_plugin("tenant-a", "kvstore")
        .with_kv(Arc::new(MemoryKv::new()), quotas, None)?;
    Ok(PluginStore::new(plugin, Invocation::new(call))?)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_kvstore_plugin_passes_the_object_store_integration_suite() -> Result<()> {
    let store = store()?;
    integration::put_get_delete_list(&store).await;
    integration::get_opts(&store).await;
    integration::put_opts(&store, true).await;
    integration::list_uses_directories_correctly(&store).await;
    integration::list_with_delimiter(&store).await;
    integration::rename_and_copy(&store).await;
    integration::copy_if_not_exists(&store).await;
    integration::copy_rename_nonexistent_object(&store).await;
    integration::stream_get(&store).await;
    integration::list_with_offset_exclusivity(&store).await;
    Ok(())
}
