// Package searchv1 encodes and decodes the messages of the search
// extension point (`bitvault.plugins.search.v1`, with the shared
// `bitvault.plugins.common.v1.Context`), on the wire-format primitives of
// google.golang.org/protobuf/encoding/protowire.
//
// The messages are written by hand for exactly the fields of
// crates/extpoints/proto/bitvault/plugins/search.proto: no generated code
// and no reflection, which keeps a Go plugin small and its start-up cheap.
// Decoding is strict where prost (the host's decoder) is strict: a known
// field with the wrong wire type, a truncated field or a string that is
// not UTF-8 is an error; unknown fields are skipped. Encoding is
// canonical proto3, like prost's: fields in number order, default values
// left out, so the bytes equal the host's for the same message.
package searchv1

import (
	"errors"
	"fmt"
	"math/bits"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protowire"
)

// Context is `bitvault.plugins.common.v1.Context`: who a call is for and
// when, filled in by the host.
type Context struct {
	Tenant       string
	Plugin       string
	InvocationID string
	NowUnixMs    int64
	Path         string
}

// AnalyzeRequest is the request of `Analyze`.
type AnalyzeRequest struct {
	Context  *Context
	Text     string
	Language string
}

// Token is one token of an AnalyzeResponse.
type Token struct {
	Term     string
	Position uint32
	Start    uint32
	End      uint32
}

// AnalyzeResponse is the response of `Analyze`.
type AnalyzeResponse struct {
	Tokens []Token
}

// PreviewRequest is the request of `Preview`.
type PreviewRequest struct {
	Context   *Context
	Content   []byte
	MediaType string
	MaxBytes  uint32
}

// PreviewResponse is the response of `Preview`.
type PreviewResponse struct {
	MediaType string
	Content   []byte
}

// ErrTruncated is the error for a field that runs past the end of its
// message.
var ErrTruncated = errors.New("protobuf: truncated message")

// fields walks the fields of a message, calling f with each field's
// number, wire type and value bytes (for varints: the value in v).
type field struct {
	num  protowire.Number
	typ  protowire.Type
	v    uint64
	data []byte
}

func walk(b []byte, f func(fd field) error) error {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return fmt.Errorf("protobuf: bad tag: %w", protowire.ParseError(n))
		}
		b = b[n:]
		fd := field{num: num, typ: typ}
		switch typ {
		case protowire.VarintType:
			fd.v, n = protowire.ConsumeVarint(b)
		case protowire.BytesType:
			fd.data, n = protowire.ConsumeBytes(b)
		default:
			n = protowire.ConsumeFieldValue(num, typ, b)
		}
		if n < 0 {
			return fmt.Errorf("protobuf: field %d: %w", num, protowire.ParseError(n))
		}
		b = b[n:]
		if err := f(fd); err != nil {
			return err
		}
	}
	return nil
}

func wrongType(fd field, want protowire.Type) error {
	return fmt.Errorf("protobuf: field %d has wire type %d, not %d", fd.num, fd.typ, want)
}

func str(fd field, out *string) error {
	if fd.typ != protowire.BytesType {
		return wrongType(fd, protowire.BytesType)
	}
	if !utf8.Valid(fd.data) {
		return fmt.Errorf("protobuf: field %d is not UTF-8", fd.num)
	}
	*out = string(fd.data)
	return nil
}

func byts(fd field, out *[]byte) error {
	if fd.typ != protowire.BytesType {
		return wrongType(fd, protowire.BytesType)
	}
	*out = append([]byte(nil), fd.data...)
	return nil
}

func varint(fd field, out *uint64) error {
	if fd.typ != protowire.VarintType {
		return wrongType(fd, protowire.VarintType)
	}
	*out = fd.v
	return nil
}

func u32(fd field, out *uint32) error {
	var v uint64
	err := varint(fd, &v)
	*out = uint32(v)
	return err
}

func context(fd field, out **Context) error {
	if fd.typ != protowire.BytesType {
		return wrongType(fd, protowire.BytesType)
	}
	if *out == nil {
		*out = new(Context)
	}
	return (*out).Unmarshal(fd.data)
}

// Unmarshal merges the encoded message b into c.
func (c *Context) Unmarshal(b []byte) error {
	return walk(b, func(fd field) error {
		switch fd.num {
		case 1:
			return str(fd, &c.Tenant)
		case 2:
			return str(fd, &c.Plugin)
		case 3:
			return str(fd, &c.InvocationID)
		case 4:
			var v uint64
			err := varint(fd, &v)
			c.NowUnixMs = int64(v)
			return err
		case 5:
			return str(fd, &c.Path)
		}
		return nil
	})
}

// Unmarshal merges the encoded message b into r.
func (r *AnalyzeRequest) Unmarshal(b []byte) error {
	return walk(b, func(fd field) error {
		switch fd.num {
		case 1:
			return context(fd, &r.Context)
		case 2:
			return str(fd, &r.Text)
		case 3:
			return str(fd, &r.Language)
		}
		return nil
	})
}

// Unmarshal merges the encoded message b into t.
func (t *Token) Unmarshal(b []byte) error {
	return walk(b, func(fd field) error {
		switch fd.num {
		case 1:
			return str(fd, &t.Term)
		case 2:
			return u32(fd, &t.Position)
		case 3:
			return u32(fd, &t.Start)
		case 4:
			return u32(fd, &t.End)
		}
		return nil
	})
}

// Unmarshal merges the encoded message b into r.
func (r *AnalyzeResponse) Unmarshal(b []byte) error {
	return walk(b, func(fd field) error {
		if fd.num != 1 {
			return nil
		}
		if fd.typ != protowire.BytesType {
			return wrongType(fd, protowire.BytesType)
		}
		var t Token
		if err := t.Unmarshal(fd.data); err != nil {
			return err
		}
		r.Tokens = append(r.Tokens, t)
		return nil
	})
}

// Unmarshal merges the encoded message b into r.
func (r *PreviewRequest) Unmarshal(b []byte) error {
	return walk(b, func(fd field) error {
		switch fd.num {
		case 1:
			return context(fd, &r.Context)
		case 2:
			return byts(fd, &r.Content)
		case 3:
			return str(fd, &r.MediaType)
		case 4:
			return u32(fd, &r.MaxBytes)
		}
		return nil
	})
}

// Unmarshal merges the encoded message b into r.
func (r *PreviewResponse) Unmarshal(b []byte) error {
	return walk(b, func(fd field) error {
		switch fd.num {
		case 1:
			return str(fd, &r.MediaType)
		case 2:
			return byts(fd, &r.Content)
		}
		return nil
	})
}

func appendString(b []byte, num protowire.Number, s string) []byte {
	if s == "" {
		return b
	}
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendString(b, s)
}

func appendBytes(b []byte, num protowire.Number, v []byte) []byte {
	if len(v) == 0 {
		return b
	}
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendBytes(b, v)
}

func appendVarint(b []byte, num protowire.Number, v uint64) []byte {
	if v == 0 {
		return b
	}
	b = protowire.AppendTag(b, num, protowire.VarintType)
	return protowire.AppendVarint(b, v)
}

func appendMessage(b []byte, num protowire.Number, m []byte) []byte {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendBytes(b, m)
}

// Marshal appends the encoding of c to b.
func (c *Context) Marshal(b []byte) []byte {
	b = appendString(b, 1, c.Tenant)
	b = appendString(b, 2, c.Plugin)
	b = appendString(b, 3, c.InvocationID)
	b = appendVarint(b, 4, uint64(c.NowUnixMs))
	return appendString(b, 5, c.Path)
}

// Marshal appends the encoding of r to b.
func (r *AnalyzeRequest) Marshal(b []byte) []byte {
	if r.Context != nil {
		b = appendMessage(b, 1, r.Context.Marshal(nil))
	}
	b = appendString(b, 2, r.Text)
	return appendString(b, 3, r.Language)
}

// Marshal appends the encoding of t to b.
func (t *Token) Marshal(b []byte) []byte {
	b = appendString(b, 1, t.Term)
	b = appendVarint(b, 2, uint64(t.Position))
	b = appendVarint(b, 3, uint64(t.Start))
	return appendVarint(b, 4, uint64(t.End))
}

// Marshal appends the encoding of r to b. Each token is encoded once, in
// place, with the varints written inline: an analysis has many small
// tokens, and calls are dear in Go's wasm code.
func (r *AnalyzeResponse) Marshal(b []byte) []byte {
	for i := range r.Tokens {
		t := &r.Tokens[i]
		b = append(b, 1<<3|byte(protowire.BytesType))
		b = appendUvarint(b, uint64(t.size()))
		if t.Term != "" {
			b = append(b, 1<<3|byte(protowire.BytesType))
			b = appendUvarint(b, uint64(len(t.Term)))
			b = append(b, t.Term...)
		}
		if t.Position != 0 {
			b = append(b, 2<<3|byte(protowire.VarintType))
			b = appendUvarint(b, uint64(t.Position))
		}
		if t.Start != 0 {
			b = append(b, 3<<3|byte(protowire.VarintType))
			b = appendUvarint(b, uint64(t.Start))
		}
		if t.End != 0 {
			b = append(b, 4<<3|byte(protowire.VarintType))
			b = appendUvarint(b, uint64(t.End))
		}
	}
	return b
}

// appendUvarint is protowire.AppendVarint, small enough to be inlined.
func appendUvarint(b []byte, v uint64) []byte {
	for v >= 0x80 {
		b = append(b, byte(v)|0x80)
		v >>= 7
	}
	return append(b, byte(v))
}

func stringSize(s string) int {
	if s == "" {
		return 0
	}
	// A tag byte, the length's varint and the bytes.
	return varintSize(uint64(len(s))) + len(s)
}

// varintSize is the size of a varint field of value v: nothing for 0,
// else a tag byte and the varint (fields up to 15 have one-byte tags).
func varintSize(v uint64) int {
	if v == 0 {
		return 0
	}
	return 1 + (bits.Len64(v)+6)/7
}

func (t *Token) size() int {
	return stringSize(t.Term) + varintSize(uint64(t.Position)) +
		varintSize(uint64(t.Start)) + varintSize(uint64(t.End))
}

// Marshal appends the encoding of r to b.
func (r *PreviewRequest) Marshal(b []byte) []byte {
	if r.Context != nil {
		b = appendMessage(b, 1, r.Context.Marshal(nil))
	}
	b = appendBytes(b, 2, r.Content)
	b = appendString(b, 3, r.MediaType)
	return appendVarint(b, 4, uint64(r.MaxBytes))
}

// Marshal appends the encoding of r to b.
func (r *PreviewResponse) Marshal(b []byte) []byte {
	b = appendString(b, 1, r.MediaType)
	return appendBytes(b, 2, r.Content)
}
