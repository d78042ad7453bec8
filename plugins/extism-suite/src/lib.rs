//! extism-suite: plugins written against the official Extism Rust PDK
//! (`extism-pdk` 1.4), exactly as an Extism user writes them, one export per
//! behaviour the host's `extism:host/env` kernel must serve:
//!
//! - `echo`: the input bytes as the output;
//! - `greet`: JSON in, JSON out (serde);
//! - `config_read`: the configuration value named by the input;
//! - `count`: a counter kept in an Extism variable across calls;
//! - `fetch`: an HTTP GET of the URL given as input;
//! - `fail` and `fail_with_code`: errors returned with `Err`;
//! - `log_levels`: one log line per level;
//! - `spin`: a loop that never ends.

use extism_pdk::*;
use serde::{Deserialize, Serialize};

/// Returns the input unchanged.
#[plugin_fn]
pub fn echo(input: Vec<u8>) -> FnResult<Vec<u8>> {
    Ok(input)
}

/// The request of `greet`.
#[derive(Deserialize)]
pub struct GreetRequest {
    /// Who to greet.
    pub name: String,
    /// How many times.
    pub times: u32,
}

/// The response of `greet`.
#[derive(Serialize)]
pub struct GreetResponse {
    /// The greeting.
    pub greeting: String,
    /// The length of the name in characters.
    pub name_chars: usize,
}

/// Greets `name`, `times` times.
#[plugin_fn]
pub fn greet(Json(req): Json<GreetRequest>) -> FnResult<Json<GreetResponse>> {
    let greeting = vec![format!("Hello, {}!", req.name); req.times as usize].join(" ");
    Ok(Json(GreetResponse {
        greeting,
        name_chars: req.name.chars().count(),
    }))
}

/// The configuration value of the key given as input, or `<unset>`.
#[plugin_fn]
pub fn config_read(key: String) -> FnResult<String> {
    Ok(config::get(&key)?.unwrap_or_else(|| "<unset>".to_owned()))
}

/// Increments the variable `count` and returns its new value; the input
/// `reset` removes it instead.
#[plugin_fn]
pub fn count(command: String) -> FnResult<String> {
    if command == "reset" {
        var::remove("count")?;
        return Ok("reset".to_owned());
    }
    let n: u64 = match var::get::<String>("count")? {
        Some(s) => s.parse()?,
        None => 0,
    };
    let n = n + 1;
    var::set("count", n.to_string())?;
    Ok(n.to_string())
}

/// Stores the input as the value of a variable named `big`: a way to fill
/// the variable store.
#[plugin_fn]
pub fn var_fill(value: Vec<u8>) -> FnResult<String> {
    var::set("big", value)?;
    Ok("stored".to_owned())
}

/// The answer of `fetch`.
#[derive(Serialize)]
pub struct Fetched {
    /// The response status.
    pub status: u16,
    /// The response body as text.
    pub body: String,
    /// The `content-type` response header, when present.
    pub content_type: Option<String>,
}

/// Sends a GET to the URL given as input.
#[plugin_fn]
pub fn fetch(url: String) -> FnResult<Json<Fetched>> {
    let req = HttpRequest::new(url)
        .with_method("GET")
        .with_header("x-plugin", "extism-suite");
    let res = http::request::<()>(&req, None)?;
    Ok(Json(Fetched {
        status: res.status_code(),
        body: String::from_utf8_lossy(&res.body()).into_owned(),
        content_type: res.header("content-type").map(str::to_owned),
    }))
}

/// Always fails, with the default return code (-1).
#[plugin_fn]
pub fn fail(reason: String) -> FnResult<()> {
    Err(Error::msg(format!("refused: {reason}")).into())
}

/// Always fails, with return code 7.
#[plugin_fn]
pub fn fail_with_code() -> FnResult<()> {
    Err(WithReturnCode::new(Error::msg("failed with code 7"), 7))
}

/// Logs the input once at each level (the PDK's macros skip the levels
/// below the one the host reports with `get_log_level`).
#[plugin_fn]
pub fn log_levels(message: String) -> FnResult<String> {
    trace!("trace: {message}");
    debug!("debug: {message}");
    info!("info: {message}");
    warn!("warn: {message}");
    error!("error: {message}");
    Ok("logged".to_owned())
}

/// Never returns: the host's fuel budget or deadline must end it.
#[plugin_fn]
pub fn spin() -> FnResult<()> {
    let mut n = 0u64;
    loop {
        n = std::hint::black_box(n.wrapping_add(1));
    }
}
