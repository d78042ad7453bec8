//! The reference plugins as conformance subjects: how each is configured
//! and granted for its suite, the sample inputs it must accept, and
//! building them. `cargo xtask conformance` without arguments runs these.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use bitvault_abi::Grants;
use bitvault_extpoints::Point;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::{Subject, TokenSample, TransformSample};

/// The repository root, from this crate's manifest directory.
pub fn repository_root() -> PathBuf {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../..")).to_path_buf()
}

/// Builds the reference plugins for `wasm32-unknown-unknown` (as `cargo
/// xtask build-plugins` does) once per process and returns the directory
/// of their `.wasm` files.
///
/// # Errors
/// The build's output when it fails (often: the wasm32 target is missing;
/// `rustup target add wasm32-unknown-unknown`).
pub fn plugins_dir() -> Result<PathBuf, String> {
    static BUILT: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            let root = repository_root();
            let target = root.join("target/plugins");
            let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
            let out = Command::new(cargo)
                .args(["build", "--release", "--target", "wasm32-unknown-unknown"])
                .arg("--manifest-path")
                .arg(root.join("plugins/Cargo.toml"))
                .arg("--target-dir")
                .arg(&target)
                .output()
                .map_err(|e| format!("cannot run cargo: {e}"))?;
            if !out.status.success() {
                return Err(format!(
                    "building the reference plugins failed (is the target installed? \
                     `rustup target add wasm32-unknown-unknown`, or run `cargo xtask build-plugins`):\n{}",
                    String::from_utf8_lossy(&out.stderr)
                ));
            }
            Ok(target.join("wasm32-unknown-unknown/release"))
        })
        .clone()
}

/// The fuel per call of the plugins that handle bulk data (text analysis
/// of large documents, image decoding, hashing 1 MiB objects): ten times
/// the runtime's default.
pub const PLUGIN_FUEL: u64 = 1_000_000_000;

/// The HS256 secret the `jwtauth` subject is configured with (32 bytes).
const JWT_SECRET: &[u8; 32] = b"bitvault-conformance-hs256-key!!";

/// The reference plugins with the points each serves and its subject
/// (configuration, grants, samples), read from `dir`.
///
/// # Errors
/// A module that cannot be read.
pub fn subjects(dir: &Path) -> std::io::Result<Vec<(Subject, Vec<Point>)>> {
    let read = |name: &str| std::fs::read(dir.join(format!("{name}.wasm")));
    let now = crate::DEFAULT_NOW_UNIX_MS;
    Ok(vec![
        (
            Subject::new("textsearch", read("textsearch")?).fuel(PLUGIN_FUEL),
            vec![Point::Search],
        ),
        (
            Subject::new("policy", read("policy")?)
                .config("max_size", "10485760")
                .config("media_types", "image/*, text/plain, application/pdf")
                .config("hours", "6-22")
                .config("deny_paths", "tmp/**, *.exe"),
            vec![Point::PolicyHook],
        ),
        // Built with the Extism Rust PDK: the same suite through the
        // Extism kernel.
        (
            Subject::new("extism-policy", read("extism_policy")?).config("max_size", "10485760"),
            vec![Point::PolicyHook],
        ),
        (
            Subject::new("pathcount", read("pathcount")?).topics(&["pathcount.*"]),
            vec![Point::EventHandler],
        ),
        (
            Subject {
                token_samples: vec![TokenSample {
                    token: hs256_token(
                        JWT_SECRET,
                        &format!(
                            r#"{{"sub":"ada","groups":["staff"],"exp":{}}}"#,
                            now / 1000 + 3600
                        ),
                    ),
                    subject: "ada".into(),
                    expired_at_unix_ms: Some(now + 3_600_000),
                }],
                ..Subject::new("jwtauth", read("jwtauth")?).config("hs256_key", &base64(JWT_SECRET))
            },
            vec![Point::AuthProvider],
        ),
        (
            Subject {
                transform_samples: vec![TransformSample {
                    media_type: "image/png".into(),
                    content: png_gradient(320, 240),
                    parameters: vec![
                        ("max_width".into(), "64".into()),
                        ("max_height".into(), "64".into()),
                    ],
                }],
                ..Subject::new("thumbnailer", read("thumbnailer")?).fuel(PLUGIN_FUEL)
            },
            vec![Point::ContentTransform],
        ),
        (
            Subject::new("kvstore", read("kvstore")?).fuel(PLUGIN_FUEL),
            vec![Point::StorageProvider],
        ),
    ])
}

/// Where `cargo xtask build-plugins` puts the plugins written in languages
/// other than Rust.
pub fn polyglot_dir() -> PathBuf {
    repository_root().join("target/plugins/polyglot")
}

/// The plugins written in other languages (C, Zig, Go, AssemblyScript, …)
/// with the points each serves, read from `dir` ([`polyglot_dir`]). They
/// are built by `cargo xtask build-plugins`, not by [`plugins_dir`].
///
/// # Errors
/// A module that cannot be read (most often: not built yet; run `cargo
/// xtask build-plugins`).
pub fn polyglot_subjects(dir: &Path) -> std::io::Result<Vec<(Subject, Vec<Point>)>> {
    let read = |name: &str| {
        let path = dir.join(format!("{name}.wasm"));
        std::fs::read(&path).map_err(|e| {
            std::io::Error::new(
                e.kind(),
                format!(
                    "{}: {e} (build it with `cargo xtask build-plugins`)",
                    path.display()
                ),
            )
        })
    };
    let mut subjects: Vec<(Subject, Vec<Point>)> = vec![];
    subjects.extend(polyglot_subject("textindex", read("textindex")?));
    subjects.extend(polyglot_subject("htmltext", read("htmltext")?));
    subjects.extend(polyglot_subject("wordsearch", read("wordsearch")?));
    subjects.extend(polyglot_subject("linenum", read("linenum")?));
    Ok(subjects)
}

/// The HTML document the `htmltext` subject must turn into text.
pub const HTML_SAMPLE: &str = include_str!("../../../plugins/assemblyscript/htmltext/sample.html");

/// The text the `linenum` subject must number.
pub const LINENUM_SAMPLE: &str = include_str!("../../../plugins/zig/linenum/sample.txt");

/// The subject of the polyglot plugin `name` over `wasm` (its grants,
/// limits and samples) and the points it serves, or `None` for a name
/// without one. The conformance runner also uses it for modules given by
/// path in [`polyglot_dir`].
pub fn polyglot_subject(name: &str, wasm: Vec<u8>) -> Option<(Subject, Vec<Point>)> {
    let io = Grants {
        io: true,
        ..Grants::none()
    };
    match name {
        // Go (plugins/go/textindex): the Go runtime reads the clock as it
        // starts (it exits with code 2 without `clock`); it starts in
        // about 2×10^6 fuel, and analysing the suite's 221 KB text takes
        // about 3×10^8.
        "textindex" => Some((
            Subject {
                grants: Grants { clock: true, ..io },
                ..Subject::new(name, wasm).fuel(PLUGIN_FUEL)
            },
            vec![Point::Search],
        )),
        // AssemblyScript (plugins/assemblyscript/htmltext): about 10^5
        // fuel for the sample and 100 to 160 per byte of HTML, so a
        // request at its 4 MiB bound needs up to 7×10^8.
        "htmltext" => Some((
            Subject {
                grants: io,
                transform_samples: vec![TransformSample {
                    media_type: "text/html".into(),
                    content: HTML_SAMPLE.as_bytes().to_vec(),
                    parameters: vec![("max_bytes".into(), "4096".into())],
                }],
                ..Subject::new(name, wasm).fuel(PLUGIN_FUEL)
            },
            vec![Point::ContentTransform],
        )),
        // C (plugins/c/wordsearch), on the raw ABI with `io` only: about
        // 25 fuel per byte of text and 700 per word, so the suite's 221 KB
        // text (40 960 words) takes about 4×10^7, within the default.
        "wordsearch" => Some((
            Subject {
                grants: io,
                ..Subject::new(name, wasm)
            },
            vec![Point::Search],
        )),
        // Zig (plugins/zig/linenum), on the raw ABI with `io` only: about
        // 8 fuel per byte of content, so the suite's 8 MiB takes about
        // 6×10^7, within the default.
        "linenum" => Some((
            Subject {
                grants: io,
                transform_samples: vec![TransformSample {
                    media_type: "text/plain".into(),
                    content: LINENUM_SAMPLE.as_bytes().to_vec(),
                    parameters: vec![
                        ("start".into(), "1".into()),
                        ("separator".into(), ": ".into()),
                    ],
                }],
                ..Subject::new(name, wasm)
            },
            vec![Point::ContentTransform],
        )),
        _ => None,
    }
}

fn base64(bytes: &[u8]) -> String {
    encode(
        bytes,
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/",
        true,
    )
}

/// Unpadded base64url (RFC 4648 §5), as JWS uses it.
pub(crate) fn base64url(bytes: &[u8]) -> String {
    encode(
        bytes,
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_",
        false,
    )
}

fn encode(bytes: &[u8], alphabet: &[u8; 64], pad: bool) -> String {
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, b)| acc | u32::from(*b) << (16 - 8 * i));
        for i in 0..=chunk.len() {
            out.push(alphabet[(n >> (18 - 6 * i) & 63) as usize] as char);
        }
        if pad {
            for _ in chunk.len()..3 {
                out.push('=');
            }
        }
    }
    out
}

/// A compact HS256 JWS of `claims` (JSON) under `secret`.
pub fn hs256_token(secret: &[u8], claims: &str) -> String {
    let signing_input = format!(
        "{}.{}",
        base64url(br#"{"alg":"HS256","typ":"JWT"}"#),
        base64url(claims.as_bytes())
    );
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(signing_input.as_bytes());
    format!(
        "{signing_input}.{}",
        base64url(&mac.finalize().into_bytes())
    )
}

/// A `width` × `height` RGB PNG of a gradient, encoded here (stored
/// deflate blocks), so the suites need no image library.
pub fn png_gradient(width: u32, height: u32) -> Vec<u8> {
    let mut raw = Vec::with_capacity((height * (1 + 3 * width)) as usize);
    for y in 0..height {
        raw.push(0); // filter: none
        for x in 0..width {
            raw.extend_from_slice(&[
                (x * 255 / width.max(1)) as u8,
                (y * 255 / height.max(1)) as u8,
                128,
            ]);
        }
    }
    let mut zlib = vec![0x78, 0x01];
    let mut blocks = raw.chunks(65_535).peekable();
    while let Some(block) = blocks.next() {
        zlib.push(u8::from(blocks.peek().is_none()));
        let len = block.len() as u16;
        zlib.extend_from_slice(&len.to_le_bytes());
        zlib.extend_from_slice(&(!len).to_le_bytes());
        zlib.extend_from_slice(block);
    }
    let (mut a, mut b) = (1u32, 0u32);
    for byte in &raw {
        a = (a + u32::from(*byte)) % 65_521;
        b = (b + a) % 65_521;
    }
    zlib.extend_from_slice(&(b << 16 | a).to_be_bytes());

    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&width.to_be_bytes());
    ihdr.extend_from_slice(&height.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]); // 8-bit RGB
    for (kind, data) in [(b"IHDR", ihdr.as_slice()), (b"IDAT", &zlib), (b"IEND", &[])] {
        png.extend_from_slice(&(data.len() as u32).to_be_bytes());
        let start = png.len();
        png.extend_from_slice(kind);
        png.extend_from_slice(data);
        let crc = crc32(&png[start..]);
        png.extend_from_slice(&crc.to_be_bytes());
    }
    png
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for b in bytes {
        crc ^= u32::from(*b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                crc >> 1 ^ 0xedb8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hs256_tokens_match_rfc_7515_appendix_a1() {
        // The key of RFC 7515 A.1 and its exact header and payload bytes.
        let key = [
            3, 35, 53, 75, 43, 15, 165, 188, 131, 126, 6, 101, 119, 123, 166, 143, 90, 179, 40,
            230, 240, 84, 201, 40, 169, 15, 132, 178, 210, 80, 46, 191, 211, 251, 90, 146, 210, 6,
            71, 239, 150, 138, 180, 195, 119, 98, 61, 34, 61, 46, 33, 114, 5, 46, 79, 8, 192, 205,
            154, 245, 103, 208, 128, 163,
        ];
        let input = "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ";
        let mut mac = Hmac::<Sha256>::new_from_slice(&key).unwrap();
        mac.update(input.as_bytes());
        assert_eq!(
            base64url(&mac.finalize().into_bytes()),
            "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
        );
    }

    #[test]
    fn encodings_match_known_values() {
        assert_eq!(base64(b"hello"), "aGVsbG8=");
        assert_eq!(base64url(&[0xfb, 0xff]), "-_8");
        assert_eq!(crc32(b"IEND"), 0xae42_6082);
        let png = png_gradient(3, 2);
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
        assert_eq!(
            &png[png.len() - 8..],
            &[0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82]
        );
    }
}
