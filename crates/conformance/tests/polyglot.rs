//! The plugins written in other languages, built by `cargo xtask
//! build-plugins` into `target/plugins/polyglot/`, pass their points'
//! suites with the subjects of `reference::polyglot_subject`, and speak
//! the host's protobuf byte for byte. A module that is not built skips its
//! test with a note, except under CI (the `CI` variable set), where it
//! fails.

use anyhow::{Context, Result, bail};
use bitvault_conformance::{reference, run, table};
use bitvault_extpoints::proto::common::v1::Context as CallInfo;
use bitvault_extpoints::{ExtPlugin, Point};
use bitvault_runtime::{CallContext, Runtime, RuntimeConfig};
use prost::Message;

/// The module `name` of the polyglot directory, or `None` (outside CI)
/// when it is not built.
fn module(name: &str) -> Result<Option<Vec<u8>>> {
    let path = reference::polyglot_dir().join(format!("{name}.wasm"));
    match std::fs::read(&path) {
        Ok(wasm) => Ok(Some(wasm)),
        Err(e) if std::env::var_os("CI").is_some() => {
            bail!(
                "{}: {e}; CI builds it with `cargo xtask build-plugins`",
                path.display()
            )
        }
        Err(e) => {
            eprintln!(
                "skipping {name}: {}: {e} (build it with `cargo xtask build-plugins`)",
                path.display()
            );
            Ok(None)
        }
    }
}

/// Runs the suites of the polyglot subject `name`; returns its plugin,
/// loaded with the subject's grants, for further checks.
fn passes_its_suites(name: &str, point: Point) -> Result<Option<(ExtPlugin, CallContext)>> {
    let Some(wasm) = module(name)? else {
        return Ok(None);
    };
    let (subject, points) =
        reference::polyglot_subject(name, wasm).with_context(|| format!("no subject {name}"))?;
    assert_eq!(points, [point]);
    let runtime = Runtime::new(RuntimeConfig::new())?;
    let report = run(&runtime, &subject, &points)?;
    assert!(report.passed(), "{}", table(&report));
    let plugin = ExtPlugin::load(&runtime, &subject.wasm, &subject.grants, &points)?;
    Ok(Some((plugin, CallContext::new(subject.limits))))
}

fn context() -> Option<CallInfo> {
    Some(CallInfo {
        tenant: "acme".into(),
        plugin: "p".into(),
        invocation_id: "42".into(),
        now_unix_ms: 1_767_261_600_000,
        path: "docs/a.md".into(),
    })
}

/// Invokes `export` with `request` encoded by prost and checks that the
/// response is, byte for byte, prost's encoding of `expected`.
fn answers_like_prost<Q: Message, R: Message + std::fmt::Debug>(
    plugin: &ExtPlugin,
    call: &CallContext,
    export: &str,
    request: &Q,
    expected: &R,
) -> Result<()> {
    let out = plugin
        .prepared()
        .invoke(export, request.encode_to_vec(), call);
    let bytes = out.result.with_context(|| format!("{export} failed"))?;
    assert_eq!(
        bytes,
        expected.encode_to_vec(),
        "{export}: the plugin's encoding differs from prost's for {expected:?}"
    );
    Ok(())
}

/// A search token, as the analyzers under test must answer it.
fn token(
    term: &str,
    position: u32,
    start: u32,
    end: u32,
) -> bitvault_extpoints::proto::search::v1::Token {
    bitvault_extpoints::proto::search::v1::Token {
        term: term.into(),
        position,
        start,
        end,
    }
}

#[test]
fn go_textindex_passes_the_search_suite() -> Result<()> {
    use bitvault_extpoints::proto::search::v1::*;
    let Some((plugin, call)) = passes_its_suites("textindex", Point::Search)? else {
        return Ok(());
    };
    answers_like_prost(
        &plugin,
        &call,
        "search_v1_analyze",
        &AnalyzeRequest {
            context: context(),
            text: "Grüße, Zürich! The END of 日本".into(),
            language: "en".into(),
        },
        &AnalyzeResponse {
            tokens: vec![
                token("grüße", 0, 0, 7),
                token("zürich", 1, 9, 16),
                token("end", 3, 22, 25),
                token("日", 5, 29, 32),
                token("本", 6, 32, 35),
            ],
        },
    )?;
    answers_like_prost(
        &plugin,
        &call,
        "search_v1_preview",
        &PreviewRequest {
            context: context(),
            content: b"a <b> & c".to_vec(),
            media_type: "text/plain".into(),
            max_bytes: 1024,
        },
        &PreviewResponse {
            media_type: "text/html".into(),
            content: b"<pre>a &lt;b&gt; &amp; c</pre>".to_vec(),
        },
    )
}

#[test]
fn assemblyscript_htmltext_passes_the_content_transform_suite() -> Result<()> {
    use bitvault_extpoints::proto::content_transform::v1::*;
    let Some((plugin, call)) = passes_its_suites("htmltext", Point::ContentTransform)? else {
        return Ok(());
    };
    let map = |pairs: &[(&str, &str)]| {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    };
    answers_like_prost(
        &plugin,
        &call,
        "content_transform_v1_transform",
        &TransformRequest {
            context: context(),
            content: b"<title>T &amp; U</title><p>Hi &amp; bye</p><p>caf&#xe9;</p>".to_vec(),
            media_type: "text/html".into(),
            parameters: map(&[("a", "b"), ("max_bytes", "100")]),
        },
        &TransformResponse {
            content: "Hi & bye\n\ncafé".into(),
            media_type: "text/plain".into(),
            metadata: map(&[("bytes", "15"), ("title", "T & U")]),
        },
    )
}

/// Checks the plugin's protobuf reader against prost's: each of `equal`
/// (another encoding of the request that `base` encodes: unknown fields of
/// every wire type, repeated fields) gets the answer `base` gets, and each
/// of `refused` (bytes prost refuses) is the plugin error `code`.
fn reads_like_prost<Q: Message + Default + PartialEq + std::fmt::Debug>(
    plugin: &ExtPlugin,
    call: &CallContext,
    export: &str,
    base: &Q,
    equal: &[Vec<u8>],
    refused: &[Vec<u8>],
    code: i32,
) -> Result<()> {
    let invoke = |bytes: &[u8]| {
        plugin
            .prepared()
            .invoke(export, bytes.to_vec(), call)
            .result
    };
    let expected = invoke(&base.encode_to_vec()).with_context(|| format!("{export} failed"))?;
    for bytes in equal {
        assert_eq!(
            &Q::decode(bytes.as_slice())?,
            base,
            "prost reads {bytes:x?} otherwise"
        );
        let got = invoke(bytes).with_context(|| format!("{export} refused {bytes:x?}"))?;
        assert_eq!(got, expected, "{export} answers {bytes:x?} otherwise");
    }
    for bytes in refused {
        assert!(
            Q::decode(bytes.as_slice()).is_err(),
            "prost reads {bytes:x?}"
        );
        match invoke(bytes) {
            Err(bitvault_runtime::InvokeError::PluginError { code: c, .. }) if c == code => {}
            other => {
                bail!("{export} given {bytes:x?} ended with {other:?}, not plugin error {code}")
            }
        }
    }
    Ok(())
}

/// Unknown fields, one of each wire type, as a newer host might add them.
fn unknown_fields() -> Vec<u8> {
    let mut b = vec![0x78, 0x96, 0x01]; // 15: varint 150
    b.extend([0x81, 0x01, 1, 2, 3, 4, 5, 6, 7, 8]); // 16: fixed64
    b.extend([0x8a, 0x01, 3, b'a', b'b', b'c']); // 17: bytes
    b.extend([0x93, 0x01, 0x08, 0x01, 0x94, 0x01]); // 18: group { 1: 1 }
    b.extend([0x9d, 0x01, 1, 2, 3, 4]); // 19: fixed32
    b.extend([0xf8, 0xff, 0xff, 0xff, 0x0f, 0x00]); // 536870911: varint 0
    b
}

/// Bytes that are no message of any kind, and `field`'s value with
/// invalid UTF-8 or the wrong wire type.
fn malformed(string_field: u8) -> Vec<Vec<u8>> {
    let key = string_field << 3;
    vec![
        vec![0x0f, 0xff, 0xff, 0xff],                      // wire type 7
        vec![0x0e, 0x00],                                  // wire type 6
        vec![0x00, 0x00],                                  // field 0
        vec![0x80, 0x80, 0x80, 0x80, 0x10, 0x00],          // a key over 32 bits
        vec![0x78, 0x80],                                  // a truncated varint
        [vec![0x78], vec![0xff; 9], vec![0x02]].concat(),  // a varint past 64 bits
        [vec![0x78], vec![0xff; 10], vec![0x01]].concat(), // an eleven-byte varint
        vec![key | 2, 0x05, b'a'],                         // a length past the end
        vec![0x94, 0x01],                                  // an end group alone
        vec![0x93, 0x01, 0x9c, 0x01],                      // a group closed by another
        vec![key | 2, 0x02, 0xc3, 0x28],                   // invalid UTF-8
        vec![key | 2, 0x03, 0xed, 0xa0, 0x80],             // a surrogate
        vec![key, 0x01],                                   // a string as a varint
        vec![0x0a, 0x03, 0x0a, 0x01, 0xff],                // context.tenant not UTF-8
        vec![0x0a, 0x02, 0x20, 0x80],                      // context truncated
    ]
}

#[test]
fn c_wordsearch_passes_the_search_suite() -> Result<()> {
    use bitvault_extpoints::proto::search::v1::*;
    let Some((plugin, call)) = passes_its_suites("wordsearch", Point::Search)? else {
        return Ok(());
    };
    let request = AnalyzeRequest {
        context: context(),
        text: "Grüße, ZÜRICH! The END of ΣΟΦΊΑ 日本語 x2".into(),
        language: "en".into(),
    };
    answers_like_prost(
        &plugin,
        &call,
        "search_v1_analyze",
        &request,
        &AnalyzeResponse {
            tokens: vec![
                token("grüße", 0, 0, 7),
                token("zürich", 1, 9, 16),
                token("the", 2, 18, 21),
                token("end", 3, 22, 25),
                token("of", 4, 26, 28),
                token("σοφία", 5, 29, 39),
                token("日本語", 6, 40, 49),
                token("x2", 7, 50, 52),
            ],
        },
    )?;
    let mut equal = request.encode_to_vec();
    equal.extend(unknown_fields());
    let mut repeated = AnalyzeRequest {
        text: "overwritten".into(),
        ..Default::default()
    }
    .encode_to_vec();
    repeated.extend(request.encode_to_vec());
    reads_like_prost(
        &plugin,
        &call,
        "search_v1_analyze",
        &request,
        &[equal, repeated],
        &malformed(2),
        2,
    )?;
    let preview = PreviewRequest {
        context: context(),
        content: b"a <b> & \"c\" 'd' \xff\0".to_vec(),
        media_type: "Text/Markdown; charset=utf-8".into(),
        max_bytes: 1024,
    };
    answers_like_prost(
        &plugin,
        &call,
        "search_v1_preview",
        &preview,
        &PreviewResponse {
            media_type: "text/html".into(),
            content: "<pre>a &lt;b&gt; &amp; &quot;c&quot; &#39;d&#39; \u{fffd}\u{fffd}</pre>"
                .into(),
        },
    )?;
    // Cut at a character, never inside an escape, with room for the `…`.
    answers_like_prost(
        &plugin,
        &call,
        "search_v1_preview",
        &PreviewRequest {
            content: "ab&é".into(),
            max_bytes: 19,
            ..preview.clone()
        },
        &PreviewResponse {
            media_type: "text/html".into(),
            content: "<pre>ab…</pre>".into(),
        },
    )?;
    reads_like_prost(
        &plugin,
        &call,
        "search_v1_preview",
        &PreviewRequest {
            content: b"text".to_vec(),
            ..preview.clone()
        },
        &[[
            preview.encode_to_vec(),
            vec![0x12, 4],
            b"text".to_vec(),
            unknown_fields(),
        ]
        .concat()],
        &malformed(3),
        2,
    )?;
    for media_type in ["text/html", "image/png", ""] {
        let out = plugin.prepared().invoke(
            "search_v1_preview",
            PreviewRequest {
                media_type: media_type.into(),
                ..preview.clone()
            }
            .encode_to_vec(),
            &call,
        );
        assert!(
            matches!(
                out.result,
                Err(bitvault_runtime::InvokeError::PluginError { code: 22, .. })
            ),
            "{media_type}: {:?}",
            out.result
        );
    }
    Ok(())
}

#[test]
fn c_wordsearch_splits_and_lower_cases_every_character_as_rust_does() -> Result<()> {
    use bitvault_extpoints::proto::search::v1::*;
    let Some((plugin, call)) = passes_its_suites("wordsearch", Point::Search)? else {
        return Ok(());
    };
    // Every scalar value, each followed by a space: the alphanumeric ones
    // (`char::is_alphanumeric`) are the words, lower-cased by
    // `char::to_lowercase` where that gives one character of the same
    // UTF-8 length.
    let mut text = String::new();
    let mut tokens = Vec::new();
    for c in (1..=0x10_FFFF).filter_map(char::from_u32) {
        let start = text.len() as u32;
        text.push(c);
        text.push(' ');
        if c.is_alphanumeric() {
            let mut lower = c.to_lowercase();
            let term = match (lower.next(), lower.next()) {
                (Some(l), None) if l.len_utf8() == c.len_utf8() => l,
                _ => c,
            };
            tokens.push(Token {
                term: term.to_string(),
                position: tokens.len() as u32,
                start,
                end: start + c.len_utf8() as u32,
            });
        }
    }
    let mut limits = call.limits;
    limits.fuel = 10_000_000_000;
    limits.deadline_ms = 60_000;
    answers_like_prost(
        &plugin,
        &CallContext::new(limits),
        "search_v1_analyze",
        &AnalyzeRequest {
            text,
            ..Default::default()
        },
        &AnalyzeResponse { tokens },
    )
}

#[test]
fn zig_linenum_passes_the_content_transform_suite() -> Result<()> {
    use bitvault_extpoints::proto::content_transform::v1::*;
    let Some((plugin, call)) = passes_its_suites("linenum", Point::ContentTransform)? else {
        return Ok(());
    };
    let map = |pairs: &[(&str, &str)]| {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    };
    let request = TransformRequest {
        context: context(),
        content: "one\r\n\nthree — drei\n".into(),
        media_type: "text/plain".into(),
        parameters: map(&[("start", "8"), ("separator", " | "), ("other", "x")]),
    };
    answers_like_prost(
        &plugin,
        &call,
        "content_transform_v1_transform",
        &request,
        &TransformResponse {
            content: " 8 | one\r\n 9 | \n10 | three — drei\n".into(),
            media_type: "text/plain".into(),
            metadata: map(&[("lines", "3")]),
        },
    )?;
    for (content, parameters, numbered, lines) in [
        ("", &[][..], "", "0"),
        (
            "last line without newline",
            &[],
            "1\tlast line without newline",
            "1",
        ),
        ("a\nb", &[("start", "0"), ("separator", "")], "0a\n1b", "2"),
        ("\n", &[("start", "1000000000")], "1000000000\t\n", "1"),
    ] {
        answers_like_prost(
            &plugin,
            &call,
            "content_transform_v1_transform",
            &TransformRequest {
                content: content.into(),
                media_type: "TEXT/plain; charset=\"UTF-8\"".into(),
                parameters: map(parameters),
                ..Default::default()
            },
            &TransformResponse {
                content: numbered.into(),
                media_type: "text/plain".into(),
                metadata: map(&[("lines", lines)]),
            },
        )?;
    }
    // Unknown fields everywhere, map entries with unknown fields, and a
    // later entry for a key winning over an earlier one.
    let mut equal = request.encode_to_vec();
    equal.extend(unknown_fields());
    equal.extend([0x22, 0x0c, 0x0a, 0x05]);
    equal.extend(b"other");
    equal.extend([0x78, 0x01, 0x12, 0x01, b'y']);
    let mut override_start = TransformRequest {
        parameters: map(&[("start", "1")]),
        ..Default::default()
    }
    .encode_to_vec();
    override_start.extend(request.encode_to_vec());
    let mut base = request.clone();
    base.parameters.insert("other".into(), "y".into());
    reads_like_prost(
        &plugin,
        &call,
        "content_transform_v1_transform",
        &base,
        &[equal],
        &malformed(3),
        2,
    )?;
    reads_like_prost(
        &plugin,
        &call,
        "content_transform_v1_transform",
        &request,
        &[override_start],
        &[],
        2,
    )?;
    // Refusals: media types, charsets, parameters, content.
    for (media_type, parameters, content, code) in [
        ("text/html", &[][..], &b"x"[..], 22),
        ("text/plain; charset=latin1", &[], b"x", 22),
        ("", &[], b"x", 22),
        ("text/plain", &[("start", "-1")], b"x", 21),
        ("text/plain", &[("start", "1000000001")], b"x", 21),
        ("text/plain", &[("start", "")], b"x", 21),
        ("text/plain", &[("separator", "\n")], b"x", 21),
        ("text/plain", &[], b"\xc3\x28", 23),
        ("text/plain", &[], b"ok\xed\xa0\x80", 23),
    ] {
        let out = plugin.prepared().invoke(
            "content_transform_v1_transform",
            TransformRequest {
                content: content.to_vec(),
                media_type: media_type.into(),
                parameters: map(parameters),
                ..Default::default()
            }
            .encode_to_vec(),
            &call,
        );
        match out.result {
            Err(bitvault_runtime::InvokeError::PluginError { code: c, .. }) if c == code => {}
            other => bail!(
                "{media_type} {parameters:?} {content:x?}: {other:?}, not plugin error {code}"
            ),
        }
    }
    Ok(())
}

/// `plugins/zig/bitvault.zig` declares every `bitvault_v1` function with
/// the ABI's signature, and the ABI's error codes by their names, as
/// `crates/abi/tests/header.rs` checks `bitvault.h`. Plain string parsing.
#[test]
fn the_zig_bindings_match_the_abi() -> Result<()> {
    use bitvault_abi::{ErrorCode, HostFn, NAMESPACE, ValType};
    let path = reference::repository_root().join("plugins/zig/bitvault.zig");
    let src = std::fs::read_to_string(&path).with_context(|| path.display().to_string())?;
    let prefix = format!("pub extern \"{NAMESPACE}\" fn ");
    let mut declared = std::collections::BTreeMap::new();
    for line in src
        .lines()
        .filter_map(|l| l.trim().strip_prefix(prefix.as_str()))
    {
        let (name, rest) = line.split_once('(').context("no parameters")?;
        let (params, result) = rest.rsplit_once(')').context("no result")?;
        // Pointers, `u32` and `i32` are all `i32` on wasm32.
        let ty = |t: &str| match t.trim().trim_end_matches(';').trim() {
            "i64" | "u64" => ValType::I64,
            _ => ValType::I32,
        };
        let params: Vec<ValType> = params
            .split(',')
            .filter(|p| !p.trim().is_empty())
            .map(|p| ty(p.split_once(':').map_or(p, |(_, t)| t)))
            .collect();
        declared.insert(name.to_owned(), (params, vec![ty(result)]));
    }
    for f in HostFn::ALL {
        let sig = f.signature();
        assert_eq!(
            declared.remove(f.name()),
            Some((sig.params.to_vec(), sig.results.to_vec())),
            "bitvault.zig: {}",
            f.name()
        );
    }
    assert!(
        declared.is_empty(),
        "bitvault.zig declares more: {declared:?}"
    );
    for code in ErrorCode::ALL {
        let line = format!("{} = {},", code.name(), code.code());
        assert!(src.contains(&line), "bitvault.zig lacks `{line}`");
    }
    Ok(())
}
