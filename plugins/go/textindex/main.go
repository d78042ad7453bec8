// Command textindex is a BitVault plugin in Go for the search extension
// point (`bitvault.plugins.search.v1`; capability `io`):
//
//   - Analyze splits UTF-8 text into words (runs of letters, digits and
//     combining marks; each Han or Hiragana character is a word of its
//     own), lower-cases them, and drops English (`en`) and German (`de`)
//     stop words by the request's language tag, keeping their positions.
//     Offsets are byte offsets into the text.
//   - Preview renders `text/plain` and `text/markdown` (shown as its
//     source) as an escaped `<pre>` fragment of at most `max_bytes`
//     (default 64 KiB), ending with `…` when cut. Other media types are
//     the plugin error 22, content that is not UTF-8 the error 23, and a
//     `max_bytes` too small for any fragment the error 24.
//
// A request that is not the operation's message is the plugin error 2.
//
// Build it as a WASI reactor, so that its exports can be called after the
// Go runtime has started (`_initialize`):
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o textindex.wasm ./textindex
//
// The exports are in exports_wasip1.go; the rest builds natively too, so
// `go test ./...` tests it on the machine's own platform.
package main

// main is not called in a reactor: the host calls `_initialize`, which
// runs the package initialisers, then the export.
func main() {}
