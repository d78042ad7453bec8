// Package bitvault binds the BitVault plugin ABI, version 1 (the host
// functions of the import module `bitvault_v1`, docs/abi.md), for Go
// plugins built with `GOOS=wasip1 GOARCH=wasm -buildmode=c-shared`.
//
// A plugin exports its entry points with `//go:wasmexport NAME` on a
// `func() int32` and lets Handle do the request and response:
//
//	//go:wasmexport search_v1_analyze
//	func analyze() int32 { return bitvault.Handle(handleAnalyze) }
//
// Only the host functions a plugin calls are imported: the Go linker drops
// the others, so a plugin that never calls Config does not need the
// `config` capability.
//
// The types of this file build on every platform, so that code using them
// can be tested natively with `go test`; the host functions exist only
// under GOOS=wasip1.
package bitvault

import "strconv"

// Level is a log level of the `log` host function.
type Level int32

// The log levels (docs/abi.md §5.5).
const (
	Trace      Level = 0
	Debug      Level = 1
	Info       Level = 2
	Warn       Level = 3
	ErrorLevel Level = 4
)

// HostError is a negative code a host function returned to refuse a call
// (docs/abi.md §6). The plugin keeps running and decides what to do.
type HostError int32

// The host's error codes.
const (
	OutOfBounds      HostError = -1
	NoMemory         HostError = -2
	InvalidArgument  HostError = -3
	TooLarge         HostError = -4
	InvalidUTF8      HostError = -5
	NotFound         HostError = -6
	NotPermitted     HostError = -7
	QuotaExceeded    HostError = -8
	Unavailable      HostError = -9
	DepthExceeded    HostError = -10
	TimedOut         HostError = -11
	ConnectionFailed HostError = -12
)

var hostErrorNames = map[HostError]string{
	OutOfBounds:      "out_of_bounds",
	NoMemory:         "no_memory",
	InvalidArgument:  "invalid_argument",
	TooLarge:         "too_large",
	InvalidUTF8:      "invalid_utf8",
	NotFound:         "not_found",
	NotPermitted:     "not_permitted",
	QuotaExceeded:    "quota_exceeded",
	Unavailable:      "unavailable",
	DepthExceeded:    "depth_exceeded",
	TimedOut:         "timed_out",
	ConnectionFailed: "connection_failed",
}

// Error names the code as the ABI does (`not_found`).
func (e HostError) Error() string {
	if name, ok := hostErrorNames[e]; ok {
		return "host refused: " + name + " (" + strconv.Itoa(int(e)) + ")"
	}
	return "host refused: code " + strconv.Itoa(int(e))
}

// Error is the plugin's own failure: the entry point returns Code (never
// 0) and the host reports a plugin error with Message.
type Error struct {
	Code    int32
	Message string
}

func (e *Error) Error() string { return e.Message }

// Fail returns an *Error with the code and message.
func Fail(code int32, message string) *Error {
	return &Error{Code: code, Message: message}
}

// The codes Handle returns for failures that are not an *Error.
const (
	// CodeHostRefused: a host function refused a call (a HostError).
	CodeHostRefused int32 = 3
	// CodeFailed: any other error.
	CodeFailed int32 = 1
)

// ErrorCode is the entry point's result for err: 0 for nil, the code of an
// *Error (1 if it is 0), CodeHostRefused for a HostError, CodeFailed for
// anything else.
func ErrorCode(err error) int32 {
	switch e := err.(type) {
	case nil:
		return 0
	case *Error:
		if e.Code == 0 {
			return CodeFailed
		}
		return e.Code
	case HostError:
		return CodeHostRefused
	default:
		return CodeFailed
	}
}
