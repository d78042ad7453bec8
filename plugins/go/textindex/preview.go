package main

import (
	"strconv"
	"strings"
	"unicode/utf8"

	"bitvault.internal/plugins/bitvault"
	"bitvault.internal/plugins/searchv1"
)

// DefaultPreviewBytes is the largest preview when the request sets no
// `max_bytes`.
const DefaultPreviewBytes = 64 * 1024

const (
	errMediaType = 22
	errNotUTF8   = 23
	errTooSmall  = 24
)

// RenderText escapes UTF-8 text into a `<pre>` fragment of at most max
// bytes, ending with `…` when the text does not fit. ok is false when not
// even an empty fragment fits.
func RenderText(text string, max int) (html string, ok bool) {
	const open, close, more = "<pre>", "</pre>", "…"
	if max < len(open)+len(close) {
		return "", false
	}
	var b strings.Builder
	b.Grow(min(max, len(open)+len(close)+len(text)+len(text)/8))
	b.WriteString(open)
	room := max - len(close)
	for i, r := range text {
		var piece string
		switch r {
		case '<':
			piece = "&lt;"
		case '>':
			piece = "&gt;"
		case '&':
			piece = "&amp;"
		case '"':
			piece = "&quot;"
		case '\'':
			piece = "&#39;"
		default:
			piece = text[i : i+utf8.RuneLen(r)]
		}
		if b.Len()+len(piece) > room {
			// Cut: drop whole characters (and whole entities) to make
			// room for the marker; without room for it, keep the text.
			s := b.String()
			cut := s
			for len(cut)+len(more) > room && len(cut) > len(open) {
				_, size := utf8.DecodeLastRuneInString(cut)
				if strings.HasSuffix(cut, ";") {
					if amp := strings.LastIndexByte(cut, '&'); amp >= len(open) {
						size = len(cut) - amp
					}
				}
				cut = cut[:len(cut)-size]
			}
			if len(cut)+len(more) <= room {
				s = cut + more
			}
			return s + close, true
		}
		b.WriteString(piece)
	}
	b.WriteString(close)
	return b.String(), true
}

// preview is the `Preview` operation.
func preview(request []byte) ([]byte, error) {
	var req searchv1.PreviewRequest
	if err := req.Unmarshal(request); err != nil {
		return nil, bitvault.Fail(errBadRequest, "not a PreviewRequest: "+err.Error())
	}
	essence, _, _ := strings.Cut(req.MediaType, ";")
	essence = strings.ToLower(strings.TrimSpace(essence))
	if essence != "text/plain" && essence != "text/markdown" {
		return nil, bitvault.Fail(errMediaType, "no preview for media type `"+req.MediaType+"`")
	}
	if !utf8.Valid(req.Content) {
		return nil, bitvault.Fail(errNotUTF8, "the "+essence+" content is not UTF-8")
	}
	max := DefaultPreviewBytes
	if req.MaxBytes != 0 {
		max = int(min(req.MaxBytes, 1<<30))
	}
	html, ok := RenderText(string(req.Content), max)
	if !ok {
		return nil, bitvault.Fail(errTooSmall, "max_bytes "+strconv.Itoa(max)+" is too small for a preview")
	}
	resp := searchv1.PreviewResponse{MediaType: "text/html", Content: []byte(html)}
	return resp.Marshal(nil), nil
}
