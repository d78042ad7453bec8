//! The suites, one module per point, and what they share.

mod auth;
mod events;
mod policy;
mod search;
mod storage;
mod transform;

use bitvault_extpoints::{ExtError, Point};
use prost::Message;

use crate::{Case, Ctx, describe, is_plugin_error};

pub(crate) fn of(point: Point) -> &'static [Case] {
    match point {
        Point::ContentTransform => transform::CASES,
        Point::EventHandler => events::CASES,
        Point::StorageProvider => storage::CASES,
        Point::AuthProvider => auth::CASES,
        Point::PolicyHook => policy::CASES,
        Point::Search => search::CASES,
    }
}

/// A typed call's error as a reason.
pub(crate) fn why(e: ExtError) -> String {
    e.to_string()
}

/// Whether a typed call failed with the plugin's own error (a refusal the
/// contract allows), rather than a trap, a limit or a broken response.
pub(crate) fn is_refusal(e: &ExtError) -> bool {
    matches!(e, ExtError::Invoke { error, .. } if matches!(**error, bitvault_runtime::InvokeError::PluginError { .. }))
}

/// `Ok` for a response or a refusal by the plugin; the reason otherwise.
pub(crate) fn answered_or_refused<T>(r: Result<T, ExtError>) -> Result<(), String> {
    match r {
        Ok(_) => Ok(()),
        Err(e) if is_refusal(&e) => Ok(()),
        Err(e) => Err(why(e)),
    }
}

/// Fails with `message` unless `cond`.
pub(crate) fn check(cond: bool, message: impl FnOnce() -> String) -> Result<(), String> {
    if cond { Ok(()) } else { Err(message()) }
}

/// Bytes that are no protobuf message: a field with wire type 7, which
/// does not exist.
pub(crate) const GARBAGE: &[u8] = &[0x0f, 0xff, 0xff, 0xff];

/// The export must refuse `GARBAGE` with a plugin error: not succeed, not
/// trap.
pub(crate) fn refuses_garbage(ctx: &Ctx<'_>, export: &str) -> Result<(), String> {
    let out = ctx.raw(export, GARBAGE.to_vec());
    check(is_plugin_error(&out), || {
        format!(
            "{export} given bytes that are not its request ended with {}, not a plugin error",
            describe(&out)
        )
    })
}

/// A request with every field at its default is a valid request: the
/// export answers a response that decodes, or a plugin error; it does not
/// trap or hit a limit.
pub(crate) fn survives_defaults<R: Message + Default>(
    ctx: &Ctx<'_>,
    export: &str,
) -> Result<(), String> {
    let out = ctx.raw(export, Vec::new());
    match &out.result {
        Ok(bytes) => R::decode(bytes.as_slice()).map(drop).map_err(|e| {
            format!("{export} answered an empty request with bytes that do not decode: {e}")
        }),
        Err(_) if is_plugin_error(&out) => Ok(()),
        Err(_) => Err(format!(
            "{export} given an empty request ended with {}",
            describe(&out)
        )),
    }
}
