//! extism-policy (extension point `policy_hook`; capabilities `io`,
//! `config`): an upload size limit, written with the Extism PDK.
//!
//! The export `policy_hook_v1_evaluate` is an Extism plugin function: the
//! host passes the encoded `EvaluateRequest` as the Extism input and takes
//! the Extism output as the `EvaluateResponse`, as it does for a
//! `bitvault_v1` plugin's `read_input` and `write_output`.
//!
//! - A `write` of a resource larger than the configuration's `max_size`
//!   (bytes; default 10 MiB) is denied, with the sizes as the reason.
//! - Anything else gets ABSTAIN: the hook never allows on its own.
//! - Bytes that are not an `EvaluateRequest` are the plugin error 2; a
//!   `max_size` that is not a number of bytes, the plugin error 30.

use bitvault_pdk::points::proto::policy_hook::v1::{Decision, EvaluateRequest, EvaluateResponse};
use extism_pdk::{config, plugin_fn, Error, FnResult, WithReturnCode};
use prost::Message;

/// The limit when the configuration names none.
const DEFAULT_MAX_SIZE: u64 = 10 << 20;

fn refuse(code: i32, message: String) -> WithReturnCode<Error> {
    WithReturnCode::new(Error::msg(message), code)
}

#[plugin_fn]
pub fn policy_hook_v1_evaluate(input: Vec<u8>) -> FnResult<Vec<u8>> {
    let req = EvaluateRequest::decode(input.as_slice())
        .map_err(|e| refuse(2, format!("the request is not an EvaluateRequest: {e}")))?;
    let max_size = match config::get("max_size")? {
        Some(v) => v.trim().parse::<u64>().map_err(|_| {
            refuse(
                30,
                format!("config `max_size` = `{v}`: not a number of bytes"),
            )
        })?,
        None => DEFAULT_MAX_SIZE,
    };
    let response = match &req.resource {
        Some(r) if req.action == "write" && r.size > max_size => EvaluateResponse {
            decision: Decision::Deny as i32,
            reasons: vec![format!(
                "{} bytes is over the upload limit of {max_size} bytes",
                r.size
            )],
            ..Default::default()
        },
        _ => EvaluateResponse {
            decision: Decision::Abstain as i32,
            ..Default::default()
        },
    };
    Ok(response.encode_to_vec())
}
