package searchv1

import (
	"bytes"
	"encoding/hex"
	"reflect"
	"testing"
)

// Golden encodings made by prost (the host's codec, crates/extpoints) for
// the same messages.
const (
	goldenAnalyzeRequest  = "0a1f0a0461636d651201701a0234322080f2ffc7b7332a09646f63732f612e6d6412114772c3bcc39f652c205ac3bc72696368211a0564652d4348"
	goldenAnalyzeResponse = "0a0b0a076772c3bcc39f6520070a0f0a077ac3bc726963681001180920100a0e0a017810ac0218f0a20420f1a204"
	goldenPreviewRequest  = "0a1f0a0461636d651201701a0234322080f2ffc7b7332a09646f63732f612e6d64120961203c623e202620631a0a746578742f706c61696e208008"
	goldenPreviewResponse = "0a09746578742f68746d6c121e3c7072653e6120266c743b622667743b2026616d703b20633c2f7072653e"
)

var ctx = &Context{Tenant: "acme", Plugin: "p", InvocationID: "42", NowUnixMs: 1_767_261_600_000, Path: "docs/a.md"}

func golden(t *testing.T, h string) []byte {
	t.Helper()
	b, err := hex.DecodeString(h)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

type message interface {
	Marshal([]byte) []byte
	Unmarshal([]byte) error
}

func roundTrip(t *testing.T, name, h string, want message, got message) {
	t.Helper()
	g := golden(t, h)
	if enc := want.Marshal(nil); !bytes.Equal(enc, g) {
		t.Errorf("%s: encoded %x, prost encodes %x", name, enc, g)
	}
	if err := got.Unmarshal(g); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s: decoded %+v, want %+v", name, got, want)
	}
}

func TestMessagesMatchProst(t *testing.T) {
	roundTrip(t, "AnalyzeRequest", goldenAnalyzeRequest,
		&AnalyzeRequest{Context: ctx, Text: "Grüße, Zürich!", Language: "de-CH"}, &AnalyzeRequest{})
	roundTrip(t, "AnalyzeResponse", goldenAnalyzeResponse,
		&AnalyzeResponse{Tokens: []Token{
			{Term: "grüße", Position: 0, Start: 0, End: 7},
			{Term: "zürich", Position: 1, Start: 9, End: 16},
			{Term: "x", Position: 300, Start: 70000, End: 70001},
		}}, &AnalyzeResponse{})
	roundTrip(t, "PreviewRequest", goldenPreviewRequest,
		&PreviewRequest{Context: ctx, Content: []byte("a <b> & c"), MediaType: "text/plain", MaxBytes: 1024}, &PreviewRequest{})
	roundTrip(t, "PreviewResponse", goldenPreviewResponse,
		&PreviewResponse{MediaType: "text/html", Content: []byte("<pre>a &lt;b&gt; &amp; c</pre>")}, &PreviewResponse{})
}

func TestAnEmptyMessageIsAllDefaults(t *testing.T) {
	var r AnalyzeRequest
	if err := r.Unmarshal(nil); err != nil || !reflect.DeepEqual(r, AnalyzeRequest{}) {
		t.Fatalf("%+v, %v", r, err)
	}
	if b := (&AnalyzeResponse{}).Marshal(nil); len(b) != 0 {
		t.Fatalf("%x", b)
	}
}

func TestMalformedMessagesAreErrors(t *testing.T) {
	for _, h := range []string{
		"0fffffff",                 // wire type 7 (the conformance suites' garbage)
		"12",                       // a tag without its value
		"1205616263",               // a length past the end
		"1001",                     // text (field 2) as a varint
		"1202c328",                 // text that is not UTF-8
		"0a021001",                 // a context with a varint field 2
		"0c",                       // an end-group tag alone
		"00",                       // field number 0
		"08ffffffffffffffffffff01", // a varint of 11 bytes
	} {
		var r AnalyzeRequest
		if err := r.Unmarshal(golden(t, h)); err == nil {
			t.Errorf("%s decoded as %+v", h, r)
		}
	}
}

func TestUnknownFieldsAreSkipped(t *testing.T) {
	var r AnalyzeRequest
	// field 9 varint, field 10 fixed32, field 11 bytes, then text "a"
	if err := r.Unmarshal(golden(t, "48015501020304"+"5a0178"+"120161")); err != nil || r.Text != "a" {
		t.Fatalf("%+v, %v", r, err)
	}
}
