package main

import (
	"errors"
	"strings"
	"testing"

	"bitvault.internal/plugins/bitvault"
	"bitvault.internal/plugins/searchv1"
)

func terms(tokens []searchv1.Token, text string) []string {
	var out []string
	for _, t := range tokens {
		if text[t.Start:t.End] == "" {
			panic("empty token")
		}
		out = append(out, t.Term+"@"+string(rune('0'+t.Position))+"="+text[t.Start:t.End])
	}
	return out
}

func TestTokenize(t *testing.T) {
	for _, c := range []struct {
		text, lang string
		want       string
	}{
		{"", "en", ""},
		{" ,.;:!? -- ... \n\t", "en", ""},
		{"alpha, Beta; gamma", "", "alpha@0=alpha beta@1=Beta gamma@2=gamma"},
		{"The cat and the hat", "en-GB", "cat@1=cat hat@4=hat"},
		{"Die Katze und der Hut", "de", "katze@1=Katze hut@4=Hut"},
		{"Grüße aus Zürich 42", "", "grüße@0=Grüße aus@1=aus zürich@2=Zürich 42@3=42"},
		{"日本語 ok", "", "日@0=日 本@1=本 語@2=語 ok@3=ok"},
		{"Ελληνικά 😀 русский", "", "ελληνικά@0=Ελληνικά русский@1=русский"},
		{"e\u0301t\u00e9 \u0301x", "", "e\u0301t\u00e9@0=e\u0301t\u00e9 x@1=x"},
	} {
		got := strings.Join(terms(Tokenize(c.text, c.lang), c.text), " ")
		if got != c.want {
			t.Errorf("%q (%s): %s, want %s", c.text, c.lang, got, c.want)
		}
	}
}

func TestRenderText(t *testing.T) {
	for _, c := range []struct {
		text string
		max  int
		want string
		ok   bool
	}{
		{"", 100, "<pre></pre>", true},
		{`<b>"x" & 'y'</b>`, 1000, "<pre>&lt;b&gt;&quot;x&quot; &amp; &#39;y&#39;&lt;/b&gt;</pre>", true},
		{"hello world", 20, "<pre>hello …</pre>", true},
		{"a<b", 17, "<pre>a&lt;b</pre>", true},
		{"a<bc", 17, "<pre>a…</pre>", true},
		{"a<bcde", 19, "<pre>a&lt;…</pre>", true},
		{"ab", 12, "<pre>a</pre>", true},
		{"x", 10, "", false},
		{"üüü", 17, "<pre>üüü</pre>", true},
		{"üüüü", 17, "<pre>ü…</pre>", true},
	} {
		got, ok := RenderText(c.text, c.max)
		if got != c.want || ok != c.ok || len(got) > c.max {
			t.Errorf("%q in %d: %q %v, want %q %v", c.text, c.max, got, ok, c.want, c.ok)
		}
	}
}

func code(err error) int32 {
	var e *bitvault.Error
	if errors.As(err, &e) {
		return e.Code
	}
	return 0
}

func TestOperations(t *testing.T) {
	req := (&searchv1.AnalyzeRequest{Text: "Quantum zebras", Language: "en"}).Marshal(nil)
	out, err := analyze(req)
	var resp searchv1.AnalyzeResponse
	if err != nil || resp.Unmarshal(out) != nil || len(resp.Tokens) != 2 {
		t.Fatalf("%x %v", out, err)
	}
	if _, err := analyze([]byte{0x0f, 0xff, 0xff, 0xff}); code(err) != errBadRequest {
		t.Fatalf("garbage: %v", err)
	}
	for media, want := range map[string]int32{"text/html": errMediaType, "text/plain": 0, "text/markdown; charset=utf-8": 0} {
		_, err := preview((&searchv1.PreviewRequest{Content: []byte("<x>"), MediaType: media}).Marshal(nil))
		if code(err) != want {
			t.Errorf("%s: %v", media, err)
		}
	}
	if _, err := preview((&searchv1.PreviewRequest{Content: []byte{0xff}, MediaType: "text/plain"}).Marshal(nil)); code(err) != errNotUTF8 {
		t.Errorf("not UTF-8: %v", err)
	}
	if _, err := preview((&searchv1.PreviewRequest{MediaType: "text/plain", MaxBytes: 3}).Marshal(nil)); code(err) != errTooSmall {
		t.Errorf("max 3: %v", err)
	}
}
