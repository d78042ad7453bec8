package main

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"bitvault.internal/plugins/bitvault"
	"bitvault.internal/plugins/searchv1"
)

// errBadRequest is the plugin error for a request that does not decode.
const errBadRequest = 2

var stopEN = words("a an and are as at be but by for if in into is it no not of on or such that the their then there these they this to was will with")
var stopDE = words("der die das den dem des ein eine einer eines einem einen und oder aber ist sind war nicht zu mit von im in auf für an als auch es sie er wir ich")

func words(list string) map[string]bool {
	m := make(map[string]bool)
	for _, w := range strings.Fields(list) {
		m[w] = true
	}
	return m
}

// stopWords returns the stop words of a BCP 47 tag's primary language
// subtag, or nil.
func stopWords(language string) map[string]bool {
	primary, _, _ := strings.Cut(strings.ReplaceAll(language, "_", "-"), "-")
	switch strings.ToLower(primary) {
	case "en":
		return stopEN
	case "de":
		return stopDE
	}
	return nil
}

// single reports whether r is a word of its own: Han ideographs and
// Hiragana, written without spaces between words.
func single(r rune) bool {
	return unicode.In(r, unicode.Han, unicode.Hiragana)
}

// inWord reports whether r continues a word; starts reports whether it
// can begin one (a combining mark cannot).
func inWord(r rune) bool {
	return starts(r) || unicode.In(r, unicode.Mn, unicode.Mc)
}

func starts(r rune) bool {
	return unicode.IsLetter(r) || unicode.IsNumber(r)
}

// Tokenize splits text into tokens as the package documentation says.
//
// ASCII is classified and lower-cased inline: Go's wasm code pays
// dearly for calls, and most text is ASCII.
func Tokenize(text, language string) []searchv1.Token {
	t := tokenizer{text: text, stop: stopWords(language)}
	t.tokens = make([]searchv1.Token, 0, len(text)/6)
	start := -1
	for i := 0; i < len(text); {
		c := text[i]
		if c < utf8.RuneSelf {
			word := 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
			switch {
			case word && start < 0:
				start = i
				t.upper, t.wide = false, false
			case !word && start >= 0:
				t.emit(start, i)
				start = -1
			}
			if 'A' <= c && c <= 'Z' {
				t.upper = true
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(text[i:])
		switch {
		case single(r):
			if start >= 0 {
				t.emit(start, i)
				start = -1
			}
			t.wide = true
			t.emit(i, i+size)
		case start >= 0 && inWord(r):
		case start < 0 && starts(r):
			start = i
			t.upper = false
		case start >= 0:
			t.emit(start, i)
			start = -1
		}
		t.wide = true
		i += size
	}
	if start >= 0 {
		t.emit(start, len(text))
	}
	return t.tokens
}

type tokenizer struct {
	text     string
	stop     map[string]bool
	tokens   []searchv1.Token
	position uint32
	// Whether the current word has an ASCII upper-case letter, or a
	// character outside ASCII.
	upper, wide bool
}

func (t *tokenizer) emit(start, end int) {
	word := t.text[start:end]
	term := word
	if t.wide {
		term = strings.ToLower(word)
	} else if t.upper {
		b := []byte(word)
		for i, c := range b {
			if 'A' <= c && c <= 'Z' {
				b[i] = c + ('a' - 'A')
			}
		}
		term = string(b)
	}
	if t.stop == nil || !t.stop[term] {
		t.tokens = append(t.tokens, searchv1.Token{
			Term: term, Position: t.position, Start: uint32(start), End: uint32(end),
		})
	}
	t.position++
}

// analyze is the `Analyze` operation.
func analyze(request []byte) ([]byte, error) {
	var req searchv1.AnalyzeRequest
	if err := req.Unmarshal(request); err != nil {
		return nil, bitvault.Fail(errBadRequest, "not an AnalyzeRequest: "+err.Error())
	}
	resp := searchv1.AnalyzeResponse{Tokens: Tokenize(req.Text, req.Language)}
	return resp.Marshal(make([]byte, 0, 24*len(resp.Tokens))), nil
}
