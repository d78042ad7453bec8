//! The search suite: analyzer tokens and sanitised, bounded previews.

use bitvault_extpoints::Search;
use bitvault_extpoints::proto::search::v1::{
    AnalyzeRequest, AnalyzeResponse, PreviewRequest, PreviewResponse,
};

use super::{answered_or_refused, check, refuses_garbage, survives_defaults, why};
use crate::{Case, Ctx};

pub(crate) const CASES: &[Case] = &[
    Case {
        name: "analyze_empty_text_has_no_tokens",
        run: analyze_empty,
    },
    Case {
        name: "analyze_punctuation_only_has_no_tokens",
        run: analyze_punctuation,
    },
    Case {
        name: "analyze_finds_every_word",
        run: analyze_words,
    },
    Case {
        name: "analyze_offsets_point_at_the_words",
        run: analyze_offsets,
    },
    Case {
        name: "analyze_multilingual_text",
        run: analyze_multilingual,
    },
    Case {
        name: "analyze_is_deterministic",
        run: analyze_deterministic,
    },
    Case {
        name: "analyze_large_text",
        run: analyze_large,
    },
    Case {
        name: "analyze_refuses_malformed_requests",
        run: analyze_malformed,
    },
    Case {
        name: "preview_plain_text_is_escaped",
        run: preview_plain_escaped,
    },
    Case {
        name: "preview_respects_max_bytes",
        run: preview_max_bytes,
    },
    Case {
        name: "preview_empty_content",
        run: preview_empty,
    },
    Case {
        name: "preview_hostile_markup_is_never_live",
        run: preview_hostile,
    },
    Case {
        name: "preview_unknown_media_type_is_refused_or_safe",
        run: preview_unknown,
    },
    Case {
        name: "preview_refuses_malformed_requests",
        run: preview_malformed,
    },
    Case {
        name: "preview_survives_an_empty_request",
        run: preview_defaults,
    },
];

fn analyze(ctx: &Ctx<'_>, text: &str, language: &str) -> Result<AnalyzeResponse, String> {
    let req = AnalyzeRequest {
        text: text.into(),
        language: language.into(),
        ..Default::default()
    };
    ctx.plugin()
        .analyze(ctx.inv(), req)
        .map(|r| r.message)
        .map_err(why)
}

fn preview_call(
    ctx: &Ctx<'_>,
    content: &[u8],
    media_type: &str,
    max: u32,
) -> Result<PreviewResponse, bitvault_extpoints::ExtError> {
    let req = PreviewRequest {
        content: content.to_vec(),
        media_type: media_type.into(),
        max_bytes: max,
        ..Default::default()
    };
    ctx.plugin().preview(ctx.inv(), req).map(|r| r.message)
}

fn preview(
    ctx: &Ctx<'_>,
    content: &[u8],
    media_type: &str,
    max: u32,
) -> Result<PreviewResponse, String> {
    preview_call(ctx, content, media_type, max).map_err(why)
}

fn analyze_empty(ctx: &Ctx<'_>) -> Result<(), String> {
    let r = analyze(ctx, "", "en")?;
    check(r.tokens.is_empty(), || {
        format!("{} tokens for an empty text", r.tokens.len())
    })
}

fn analyze_punctuation(ctx: &Ctx<'_>) -> Result<(), String> {
    let r = analyze(ctx, " ,.;:!? -- ... \n\t", "en")?;
    check(r.tokens.is_empty(), || {
        format!("tokens for punctuation only: {:?}", r.tokens)
    })
}

fn analyze_words(ctx: &Ctx<'_>) -> Result<(), String> {
    // No stop words in any common list: every word must become a token.
    let r = analyze(ctx, "Quantum zebras juggle marmalade", "")?;
    check(r.tokens.len() == 4, || {
        format!("4 words gave {} tokens", r.tokens.len())
    })?;
    let positions: Vec<u32> = r.tokens.iter().map(|t| t.position).collect();
    check(positions.windows(2).all(|w| w[0] < w[1]), || {
        format!("positions {positions:?} do not increase")
    })
}

fn analyze_offsets(ctx: &Ctx<'_>) -> Result<(), String> {
    let text = "alpha, Beta; gamma";
    let r = analyze(ctx, text, "")?;
    for t in &r.tokens {
        let word = &text[t.start as usize..t.end as usize];
        check(word.chars().all(char::is_alphanumeric), || {
            format!(
                "token `{}` points at `{word}`, which is not one word",
                t.term
            )
        })?;
        check(word.to_lowercase() == t.term.to_lowercase(), || {
            format!("token `{}` points at `{word}`", t.term)
        })?;
    }
    check(r.tokens.len() == 3, || {
        format!("3 words gave {} tokens", r.tokens.len())
    })
}

fn analyze_multilingual(ctx: &Ctx<'_>) -> Result<(), String> {
    // The contract checks offsets and boundaries; every script must yield
    // tokens.
    let r = analyze(
        ctx,
        "Grüße aus Zürich, Ελληνικά και русский 日本語 😀 done",
        "",
    )?;
    check(r.tokens.len() >= 6, || {
        format!("only {} tokens for a multilingual text", r.tokens.len())
    })
}

fn analyze_deterministic(ctx: &Ctx<'_>) -> Result<(), String> {
    let text = "Determinism matters: same text, same tokens.";
    let a = analyze(ctx, text, "en")?;
    let b = analyze(ctx, text, "en")?;
    check(a == b, || "the same request gave different tokens".into())
}

fn analyze_large(ctx: &Ctx<'_>) -> Result<(), String> {
    let text = "lorem ipsum dolor sit amet ".repeat(8 * 1024);
    let r = analyze(ctx, &text, "")?;
    check(r.tokens.len() >= 5 * 8 * 1024 / 2, || {
        format!("{} tokens for 40 960 words", r.tokens.len())
    })
}

fn analyze_malformed(ctx: &Ctx<'_>) -> Result<(), String> {
    refuses_garbage(ctx, "search_v1_analyze")
}

fn preview_plain_escaped(ctx: &Ctx<'_>) -> Result<(), String> {
    let r = preview(
        ctx,
        b"<script>alert(1)</script> & <b>bold</b>",
        "text/plain",
        0,
    )?;
    if r.media_type == "text/html" {
        let html = String::from_utf8_lossy(&r.content);
        check(
            html.contains("&lt;script&gt;") || !html.contains("script"),
            || format!("plain text not escaped: {html}"),
        )?;
        check(!html.contains("<b>"), || {
            format!("plain text rendered as markup: {html}")
        })?;
    }
    Ok(())
}

fn preview_max_bytes(ctx: &Ctx<'_>) -> Result<(), String> {
    let text = "All work and no play. ".repeat(10_000);
    // The contract check already refuses a preview over max_bytes.
    let r = preview(ctx, text.as_bytes(), "text/plain", 1024)?;
    check(!r.content.is_empty(), || {
        "an empty preview of a long text".into()
    })
}

fn preview_empty(ctx: &Ctx<'_>) -> Result<(), String> {
    preview(ctx, b"", "text/plain", 0).map(drop)
}

fn preview_hostile(ctx: &Ctx<'_>) -> Result<(), String> {
    let hostile = b"<script>alert(1)</script><img src=x onerror=alert(1)>\
        <a href=\"javascript:alert(1)\">x</a><iframe src=//evil></iframe>";
    // Refusing a type is allowed; a response is checked by the contract
    // for live markup.
    for media_type in ["text/plain", "text/markdown", "text/html"] {
        answered_or_refused(preview_call(ctx, hostile, media_type, 0))
            .map_err(|e| format!("{media_type}: {e}"))?;
    }
    Ok(())
}

fn preview_unknown(ctx: &Ctx<'_>) -> Result<(), String> {
    answered_or_refused(preview_call(
        ctx,
        &[0, 1, 2, 3, 0xff],
        "application/x-bitvault-unknown",
        0,
    ))
}

fn preview_malformed(ctx: &Ctx<'_>) -> Result<(), String> {
    refuses_garbage(ctx, "search_v1_preview")
}

fn preview_defaults(ctx: &Ctx<'_>) -> Result<(), String> {
    survives_defaults::<PreviewResponse>(ctx, "search_v1_preview")
}
