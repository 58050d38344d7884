package netx

import "unicode/utf8"

// Field violation messages for text that TextViolation refuses. They are
// constants so that checking text never allocates.
const (
	MsgControlCharacter = "must not contain control characters"
	MsgInvalidUTF8      = "must be valid UTF-8"
)

// TextViolation reports why s is not acceptable text input, or "" when it
// is. Refused: invalid UTF-8, the C0 controls (U+0000 to U+001F), DEL
// (U+007F) and the C1 controls (U+0080 to U+009F). With multiline, the
// three a human writes in free text are allowed: tab, line feed and
// carriage return (a product description has paragraphs). Identifiers,
// path segments and query parameters are single-line: pass false.
//
// Everything else in Unicode is allowed: names are written in every
// script, and a field's own rules (an email's syntax, a SKU's alphabet)
// belong to its validator.
//
// It does not allocate, and plain ASCII costs one comparison a byte.
func TextViolation(s string, multiline bool) string {
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c < 0x7f {
			i++
			continue
		}
		if c < utf8.RuneSelf {
			if multiline && (c == '\t' || c == '\n' || c == '\r') {
				i++
				continue
			}
			return MsgControlCharacter // C0 or DEL
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size <= 1 {
			return MsgInvalidUTF8
		}
		if r <= 0x9f {
			return MsgControlCharacter // C1
		}
		i += size
	}
	return ""
}
