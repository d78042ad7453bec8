//! The Rust guest SDK for BitVault Plugins: safe wrappers over every
//! `bitvault_v1` host function, and [`export!`] to turn a
//! `fn(Input) -> Result<Output, Error>` into a plugin entry point.
//!
//! ```
//! use bitvault_pdk::{Error, export, log};
//!
//! fn shout(text: String) -> Result<String, Error> {
//!     if text.is_empty() {
//!         return Err(Error::new(1, "nothing to shout"));
//!     }
//!     log::info(&format!("shouting {} bytes", text.len()));
//!     Ok(text.to_uppercase())
//! }
//!
//! export!(shout);
//!
//! // Natively, the same code runs against the in-memory test host:
//! let out = bitvault_pdk::testing::Host::new()
//!     .input(b"hi")
//!     .run(|| bitvault_pdk::run(shout));
//! assert_eq!(out.code, 0);
//! assert_eq!(out.output, b"HI");
//! assert_eq!(out.logs, [(log::Level::Info, "shouting 2 bytes".to_string())]);
//! ```
//!
//! Built for `wasm32-unknown-unknown` or `wasm32-wasip1` (crate type
//! `cdylib`), `export!(shout)` exports a function `shout` of type
//! `() -> i32` that reads the request, calls `shout`, and writes the
//! response, or on `Err` passes the message to `set_error` and returns the
//! error's code. Nothing about pointers, lengths or allocation shows in a
//! plugin: the SDK copies data into Rust values. A panic still ends the
//! call as a `trap` (build with `panic = "abort"`), but the entry point
//! first passes its message and location to `set_error`, so the host's
//! trap outcome reads `…; the plugin's error message: panicked at
//! src/lib.rs:10:5: …`.
//!
//! # Testing natively
//! On targets other than wasm (where the module [`testing`] exists) the
//! same functions run against an in-memory host,
//! [`testing::Host`], so a plugin's logic can be unit-tested with
//! `cargo test`: give it a request, configuration, KV contents and grants,
//! run the entry point, and read the response, error, log and events.
//!
//! # Extension points
//! [`points`] has one trait per extension point and a macro that exports
//! an implementation (`export_content_transform!(MyPlugin)`): the plugin
//! writes `impl ContentTransform for MyPlugin` over the contract's message
//! types, and nothing about the ABI or protobuf framing.
//!
//! # Capabilities
//! Each module mirrors one capability of the ABI (`docs/abi.md`): [`log`],
//! [`config`], [`clock`], [`random`], [`kv`], [`events`], [`http`]. A function of a
//! capability the plugin is not granted makes the module fail admission
//! (or, for the soft `clock` and `random`, returns
//! [`HostError::NotPermitted`]).

mod backend;
pub mod clock;
pub mod config;
mod error;
pub mod events;
pub mod http;
pub mod kv;
pub mod log;
pub mod points;
pub mod random;
#[cfg(not(target_family = "wasm"))]
pub mod testing;

pub use error::{Error, HostError};

/// The whole request of the current invocation.
pub fn input() -> Vec<u8> {
    let len = backend::input_len().max(0) as usize;
    let mut buf = vec![0u8; len];
    let mut at = 0;
    while at < len {
        let n = backend::read_input(at, &mut buf[at..]);
        if n <= 0 {
            break;
        }
        at += n as usize;
    }
    buf.truncate(at);
    buf
}

/// Appends `bytes` to the response.
///
/// # Errors
/// [`HostError`] if the host refuses (it cannot for a buffer Rust owns).
/// Past the output limit the invocation ends instead.
pub fn output(bytes: &[u8]) -> Result<(), HostError> {
    HostError::check(backend::write_output(bytes)).map(drop)
}

/// Sets the message that accompanies a non-zero return code.
///
/// # Errors
/// [`HostError::TooLarge`] for a message over the host's bound.
pub fn set_error(message: &str) -> Result<(), HostError> {
    HostError::check(backend::set_error(message.as_bytes())).map(drop)
}

/// Reads the staged result of the last call that returned a length.
fn staged(len: i32) -> Vec<u8> {
    let len = len.max(0) as usize;
    let mut buf = vec![0u8; len];
    let mut at = 0;
    while at < len {
        let n = backend::result_read(at, &mut buf[at..]);
        if n <= 0 {
            break;
        }
        at += n as usize;
    }
    buf.truncate(at);
    buf
}

/// A request type an entry point can take.
pub trait FromInput: Sized {
    /// Converts the request bytes.
    ///
    /// # Errors
    /// An [`Error`] the entry point returns to the host.
    fn from_input(bytes: Vec<u8>) -> Result<Self, Error>;
}

impl FromInput for Vec<u8> {
    fn from_input(bytes: Vec<u8>) -> Result<Self, Error> {
        Ok(bytes)
    }
}

impl FromInput for String {
    fn from_input(bytes: Vec<u8>) -> Result<Self, Error> {
        String::from_utf8(bytes).map_err(|_| Error::new(Error::BAD_INPUT, "request is not UTF-8"))
    }
}

impl FromInput for () {
    fn from_input(_: Vec<u8>) -> Result<Self, Error> {
        Ok(())
    }
}

/// A response type an entry point can return.
pub trait IntoOutput {
    /// The response bytes.
    fn into_output(self) -> Vec<u8>;
}

impl IntoOutput for Vec<u8> {
    fn into_output(self) -> Vec<u8> {
        self
    }
}

impl IntoOutput for String {
    fn into_output(self) -> Vec<u8> {
        self.into_bytes()
    }
}

impl IntoOutput for &str {
    fn into_output(self) -> Vec<u8> {
        self.as_bytes().to_vec()
    }
}

impl IntoOutput for () {
    fn into_output(self) -> Vec<u8> {
        Vec::new()
    }
}

/// Runs an entry point: reads and converts the request, calls `f`, writes
/// the response or reports the error. Returns the export's result code.
/// [`export!`] calls this; plugins need not.
pub fn run<I: FromInput, O: IntoOutput>(f: impl FnOnce(I) -> Result<O, Error>) -> i32 {
    report_panics();
    let result = I::from_input(input()).and_then(f);
    match result {
        Ok(out) => match output(&out.into_output()) {
            Ok(()) => 0,
            Err(e) => e.code(),
        },
        Err(e) => {
            // A message the host refuses (too long) still leaves the code.
            let _ = set_error(&e.message);
            e.code
        }
    }
}

/// The most bytes of a panic's message passed to the host: within the
/// host's smallest default bound on error messages (4 KiB).
#[cfg(target_family = "wasm")]
const PANIC_MESSAGE_BYTES: usize = 1024;

/// On wasm, makes a panic's message (`panicked at src/lib.rs:10:5: …`,
/// on one line)
/// the call's error message before the module traps, so that the host's
/// `trap` outcome carries it. [`run`] installs it; every instance is
/// fresh, so it is installed once per call.
fn report_panics() {
    #[cfg(target_family = "wasm")]
    std::panic::set_hook(Box::new(|info| {
        let text = match (info.location(), info.payload_as_str()) {
            (Some(at), Some(m)) => format!("panicked at {at}: {m}"),
            (Some(at), None) => format!("panicked at {at}"),
            (None, Some(m)) => format!("panicked: {m}"),
            (None, None) => "panicked".to_owned(),
        };
        let mut end = text.len().min(PANIC_MESSAGE_BYTES);
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        // Nothing more can be done for a message the host refuses.
        let _ = set_error(&text[..end]);
    }));
}

/// Exports `fn(Input) -> Result<Output, Error>` handlers as plugin entry
/// points. `export!(name)` exports `name` as the entry point `name`;
/// `export!(handler as entry)` chooses the export name.
///
/// On wasm targets the export is a `() -> i32` function of that name that
/// calls [`run`] with the handler. On other targets the macro only checks
/// that the handler fits; run it against [`testing::Host`] with
/// `bitvault_pdk::run(handler)`.
#[macro_export]
macro_rules! export {
    ($handler:ident) => {
        $crate::export!($handler as $handler);
    };
    ($handler:ident as $name:ident) => {
        #[cfg(target_family = "wasm")]
        const _: () = {
            #[unsafe(export_name = stringify!($name))]
            extern "C" fn __bitvault_entry() -> i32 {
                $crate::run($handler)
            }
        };
        #[cfg(not(target_family = "wasm"))]
        const _: fn() -> i32 = || $crate::run($handler);
    };
}
