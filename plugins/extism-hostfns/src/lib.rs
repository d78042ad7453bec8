//! Calls host functions the embedder registers in `extism:host/user`:
//!
//! - `lookup_user(id) -> name`, a string in and a string out;
//! - `record(entry)`, a JSON value in and nothing out.
//!
//! Exports:
//!
//! - `greet`: the input is a user id; the output `Hello, <name>!`;
//! - `greet_all`: the input is comma-separated ids; the output one greeting
//!   per line, one host call per id;
//! - `audit`: the input is `{"action": …, "count": …}`, recorded through the
//!   host; the output `recorded`.

use extism_pdk::*;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize)]
struct Entry {
    action: String,
    count: u32,
}

#[host_fn]
extern "ExtismHost" {
    fn lookup_user(id: String) -> String;
    fn record(entry: Json<Entry>);
}

#[plugin_fn]
pub fn greet(id: String) -> FnResult<String> {
    // SAFETY: admission links `lookup_user` only with exactly the signature
    // the PDK declares, and the call passes PDK-managed memory handles.
    let name = unsafe { lookup_user(id)? };
    Ok(format!("Hello, {name}!"))
}

#[plugin_fn]
pub fn greet_all(ids: String) -> FnResult<String> {
    let mut out = String::new();
    for id in ids.split(',') {
        // SAFETY: as in `greet`.
        let name = unsafe { lookup_user(id.to_owned())? };
        out.push_str(&format!("Hello, {name}!\n"));
    }
    Ok(out)
}

#[plugin_fn]
pub fn audit(entry: Json<Entry>) -> FnResult<String> {
    // SAFETY: as in `greet`.
    unsafe { record(entry)? };
    Ok("recorded".to_owned())
}
