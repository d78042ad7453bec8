//! textsearch (extension point `search`; capabilities `io`): a search
//! analyzer and a document preview.
//!
//! - **Analyze**: Unicode word segmentation (UAX #29), lower-casing, and
//!   stop words for English (`en`) and German (`de`), chosen by the
//!   request's language tag; other languages keep every word. A stop word
//!   is dropped but keeps its position, so phrase distances stay true.
//!   Offsets are byte offsets into the request's text.
//! - **Preview**: Markdown (`text/markdown`) to an HTML fragment, and plain
//!   text (`text/plain`) to an escaped `<pre>`. Raw HTML in the Markdown is
//!   shown as text, never passed through; links keep only `http`, `https`,
//!   `mailto` and relative destinations (others become `#`); images become
//!   links to their source. The preview stops at a block boundary before
//!   `max_bytes` (default 64 KiB), ending with `<p>…</p>` when cut.
//!   Other media types are the plugin error 22.

use bitvault_pdk::Error;
use bitvault_pdk::points::Search;
use bitvault_pdk::points::proto::search::v1::{
    AnalyzeRequest, AnalyzeResponse, PreviewRequest, PreviewResponse, Token,
};
use pulldown_cmark::{CowStr, Event, Options, Parser, Tag};
use unicode_segmentation::UnicodeSegmentation;

/// The plugin.
pub struct TextSearch;

const STOP_EN: &[&str] = &[
    "a", "an", "and", "are", "as", "at", "be", "but", "by", "for", "if", "in", "into", "is", "it",
    "no", "not", "of", "on", "or", "such", "that", "the", "their", "then", "there", "these",
    "they", "this", "to", "was", "will", "with",
];
const STOP_DE: &[&str] = &[
    "der", "die", "das", "den", "dem", "des", "ein", "eine", "einer", "eines", "einem", "einen",
    "und", "oder", "aber", "ist", "sind", "war", "nicht", "zu", "mit", "von", "im", "in", "auf",
    "für", "an", "als", "auch", "es", "sie", "er", "wir", "ich",
];

/// The stop words for a BCP 47 tag, by its primary language subtag.
fn stop_words(language: &str) -> &'static [&'static str] {
    let primary = language.split(['-', '_']).next().unwrap_or("");
    match primary.to_ascii_lowercase().as_str() {
        "en" => STOP_EN,
        "de" => STOP_DE,
        _ => &[],
    }
}

/// The default largest preview, in bytes.
pub const DEFAULT_PREVIEW_BYTES: usize = 64 * 1024;

/// Whether a link destination is safe to render: relative, or `http`,
/// `https` or `mailto`.
fn safe_url(url: &str) -> bool {
    let cleaned: String = url
        .chars()
        .filter(|c| !c.is_whitespace() && !c.is_control())
        .collect::<String>()
        .to_ascii_lowercase();
    match cleaned.find(':') {
        None => true,
        Some(colon) => {
            let before = &cleaned[..colon];
            // A colon after a path, query or fragment start is not a scheme.
            if before.contains(['/', '?', '#']) {
                return true;
            }
            matches!(before, "http" | "https" | "mailto")
        }
    }
}

fn sanitise(event: Event<'_>) -> Event<'_> {
    match event {
        Event::Html(h) | Event::InlineHtml(h) => Event::Text(h),
        // Images become links to their source, so both keep only safe URLs.
        Event::Start(
            Tag::Link {
                link_type,
                dest_url,
                title,
                id,
            }
            | Tag::Image {
                link_type,
                dest_url,
                title,
                id,
            },
        ) => Event::Start(Tag::Link {
            link_type,
            dest_url: if safe_url(&dest_url) {
                dest_url
            } else {
                CowStr::Borrowed("#")
            },
            title,
            id,
        }),
        Event::End(pulldown_cmark::TagEnd::Image) => Event::End(pulldown_cmark::TagEnd::Link),
        other => other,
    }
}

/// Renders Markdown block by block; when the whole does not fit in `max`
/// bytes, keeps the blocks that fit with room for a closing `<p>…</p>`.
fn markdown(source: &str, max: usize) -> String {
    const MORE: &str = "<p>…</p>\n";
    let mut blocks: Vec<String> = Vec::new();
    let mut block: Vec<Event<'_>> = Vec::new();
    let mut depth = 0usize;
    let mut total = 0usize;
    let options = Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH;
    for event in Parser::new_ext(source, options).map(sanitise) {
        match &event {
            Event::Start(_) => depth += 1,
            Event::End(_) => depth = depth.saturating_sub(1),
            _ => {}
        }
        block.push(event);
        if depth == 0 {
            let mut html = String::new();
            pulldown_cmark::html::push_html(&mut html, block.drain(..));
            total += html.len();
            blocks.push(html);
            // Past this point the preview will be cut anyway.
            if total > max {
                break;
            }
        }
    }
    if total <= max {
        return blocks.concat();
    }
    let mut out = String::new();
    for html in blocks {
        if out.len() + html.len() + MORE.len() > max {
            break;
        }
        out.push_str(&html);
    }
    if out.len() + MORE.len() <= max {
        out.push_str(MORE);
    }
    out
}

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

impl Search for TextSearch {
    fn analyze(req: AnalyzeRequest) -> Result<AnalyzeResponse, Error> {
        let stop = stop_words(&req.language);
        let mut tokens = Vec::new();
        let words = req
            .text
            .split_word_bound_indices()
            .filter(|(_, w)| w.chars().any(char::is_alphanumeric));
        for (position, (start, word)) in words.enumerate() {
            let term = word.to_lowercase();
            if stop.contains(&term.as_str()) {
                continue;
            }
            let (Ok(position), Ok(start), Ok(end)) = (
                u32::try_from(position),
                u32::try_from(start),
                u32::try_from(start + word.len()),
            ) else {
                return Err(Error::new(21, "the text is longer than 4 GiB"));
            };
            tokens.push(Token {
                term,
                position,
                start,
                end,
            });
        }
        Ok(AnalyzeResponse { tokens })
    }

    fn preview(req: PreviewRequest) -> Result<PreviewResponse, Error> {
        let max = match req.max_bytes {
            0 => DEFAULT_PREVIEW_BYTES,
            n => n as usize,
        };
        let text = || {
            std::str::from_utf8(&req.content)
                .map_err(|_| Error::new(23, format!("the {} content is not UTF-8", req.media_type)))
        };
        let html = match req.media_type.as_str() {
            "text/markdown" => markdown(text()?, max),
            "text/plain" => {
                let mut body = escape(text()?);
                let overhead = "<pre></pre>\n".len();
                if body.len() + overhead > max {
                    let mut cut = max.saturating_sub(overhead + "…".len());
                    while !body.is_char_boundary(cut) {
                        cut -= 1;
                    }
                    // Do not end inside an entity such as `&amp;`.
                    if let Some(amp) = body[..cut].rfind('&')
                        && !body[amp..cut].contains(';')
                    {
                        cut = amp;
                    }
                    body.truncate(cut);
                    body.push('…');
                }
                format!("<pre>{body}</pre>\n")
            }
            other => {
                return Err(Error::new(
                    22,
                    format!("cannot preview {other}; text/markdown and text/plain only"),
                ));
            }
        };
        Ok(PreviewResponse {
            media_type: "text/html".into(),
            content: html.into_bytes(),
        })
    }
}

bitvault_pdk::export_search!(TextSearch);

#[cfg(test)]
mod tests {
    use super::*;

    fn analyze(text: &str, language: &str) -> Vec<(String, u32, u32, u32)> {
        let r = TextSearch::analyze(AnalyzeRequest {
            text: text.into(),
            language: language.into(),
            ..Default::default()
        })
        .unwrap();
        r.tokens
            .into_iter()
            .map(|t| (t.term, t.position, t.start, t.end))
            .collect()
    }

    #[test]
    fn words_are_segmented_lowercased_and_stop_words_keep_positions() {
        assert_eq!(
            analyze("The Quick fox, isn't it?", "en-GB"),
            [
                ("quick".to_string(), 1, 4, 9),
                ("fox".to_string(), 2, 10, 13),
                ("isn't".to_string(), 3, 15, 20),
            ]
        );
        // Offsets are bytes, on character boundaries.
        assert_eq!(
            analyze("Grüße, Welt", "fr"),
            [
                ("grüße".to_string(), 0, 0, 7),
                ("welt".to_string(), 1, 9, 13)
            ]
        );
        assert_eq!(analyze("", "en"), []);
        assert_eq!(analyze(" ,.; ", "en"), []);
    }

    fn preview(content: &str, media_type: &str, max: u32) -> Result<String, Error> {
        TextSearch::preview(PreviewRequest {
            content: content.as_bytes().to_vec(),
            media_type: media_type.into(),
            max_bytes: max,
            ..Default::default()
        })
        .map(|r| String::from_utf8(r.content).unwrap())
    }

    #[test]
    fn markdown_is_rendered_and_sanitised() {
        let html = preview(
            "# Title\n\n<script>alert(1)</script>\n\n[x](javascript:alert(1)) [y](https://e.x/) ![i](data:x)",
            "text/markdown",
            0,
        )
        .unwrap();
        assert!(html.starts_with("<h1>Title</h1>"), "{html}");
        assert!(html.contains("&lt;script&gt;"), "{html}");
        assert!(!html.contains("<script"), "{html}");
        assert!(!html.to_lowercase().contains("javascript:"), "{html}");
        assert!(html.contains("href=\"https://e.x/\""), "{html}");
        assert!(!html.contains("<img"), "{html}");
    }

    #[test]
    fn previews_stop_before_max_bytes() {
        let long = "para\n\n".repeat(1000);
        let html = preview(&long, "text/markdown", 100).unwrap();
        assert!(html.len() <= 100, "{}", html.len());
        assert!(html.ends_with("<p>…</p>\n"), "{html}");
        let plain = preview(&"a&b ".repeat(100), "text/plain", 50).unwrap();
        assert!(plain.len() <= 50, "{}", plain.len());
        assert!(
            plain.starts_with("<pre>a&amp;b") && plain.ends_with("…</pre>\n"),
            "{plain}"
        );
        assert_eq!(preview("x", "image/png", 0).unwrap_err().code, 22);
    }
}
