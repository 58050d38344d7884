package pg

import (
	"strings"
	"sync"
	"unicode/utf8"
)

// A statement's span is named from its SQL ("sql select products", "sql
// insert orders", "sql update sagas", "sql begin") and tagged with its
// text, placeholders and all but never a value: parameters travel apart
// from the text and are never looked at, and string literals written
// into the text (a constant, or a value some caller quoted in) are
// replaced by '?' all the same.

// statement is what a statement's span shows of it.
type statement struct {
	name string // the span name
	text string // the SQL with literals blanked, whitespace collapsed
}

// maxStatementText bounds the SQL text on a span.
const maxStatementText = 4096

// maxDescribed bounds the statements whose description is kept:
// services send a few dozen distinct ones; generated SQL must not grow
// the cache without end (beyond it, descriptions are worked out each
// time).
const maxDescribed = 1024

var described struct {
	sync.RWMutex
	m map[string]statement
}

// describe returns query's span name and text, cached.
func describe(query string) statement {
	described.RLock()
	st, ok := described.m[query]
	described.RUnlock()
	if ok {
		return st
	}
	text := scrubSQL(query)
	st = statement{name: statementName(text), text: text}
	described.Lock()
	if described.m == nil {
		described.m = make(map[string]statement)
	}
	if len(described.m) < maxDescribed {
		described.m[query] = st
	}
	described.Unlock()
	return st
}

// scrubSQL returns query with comments dropped, string literals ('...',
// E'...', $tag$...$tag$) replaced by '?', and runs of whitespace made
// one space, cut to maxStatementText.
func scrubSQL(query string) string {
	var b strings.Builder
	b.Grow(min(len(query), maxStatementText))
	space := false
	emit := func(s string) {
		if space && b.Len() > 0 {
			b.WriteByte(' ')
		}
		space = false
		b.WriteString(s)
	}
	for i := 0; i < len(query); {
		c := query[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f':
			space = true
			i++
		case c == '-' && strings.HasPrefix(query[i:], "--"):
			end := strings.IndexByte(query[i:], '\n')
			if end < 0 {
				end = len(query) - i
			}
			i += end
			space = true
		case c == '/' && strings.HasPrefix(query[i:], "/*"):
			end := strings.Index(query[i+2:], "*/")
			if end < 0 {
				i = len(query)
			} else {
				i += 2 + end + 2
			}
			space = true
		case c == '\'' || ((c == 'E' || c == 'e') && i+1 < len(query) && query[i+1] == '\'' && !wordByte(prev(query, i))):
			if c != '\'' {
				i++
			}
			i = skipQuoted(query, i, c != '\'')
			emit("'?'")
		case c == '$' && !wordByte(prev(query, i)):
			if tag, ok := dollarTag(query[i:]); ok {
				end := strings.Index(query[i+len(tag):], tag)
				if end < 0 {
					i = len(query)
				} else {
					i += len(tag) + end + len(tag)
				}
				emit("'?'")
				continue
			}
			emit("$")
			i++
		case c == '"':
			j := skipQuoted(query, i, false)
			emit(query[i:j])
			i = j
		default:
			j := i + 1
			for j < len(query) && !special(query[j]) {
				j++
			}
			emit(query[i:j])
			i = j
		}
	}
	s := b.String()
	if len(s) > maxStatementText {
		cut := maxStatementText
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "…"
	}
	return s
}

// special bytes end a run of plain text in scrubSQL.
func special(c byte) bool {
	switch c {
	case ' ', '\t', '\n', '\r', '\f', '\'', '"', '$', '-', '/', 'E', 'e':
		return true
	}
	return false
}

func prev(s string, i int) byte {
	if i == 0 {
		return ' '
	}
	return s[i-1]
}

func wordByte(c byte) bool {
	return c == '_' || c == '$' || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c >= 0x80
}

// skipQuoted returns the index after the literal or quoted identifier
// opening at s[i] (a doubled quote stays inside it; with backslashes, as
// in E'...', a backslash escapes the next byte).
func skipQuoted(s string, i int, backslashes bool) int {
	q := s[i]
	for j := i + 1; j < len(s); j++ {
		switch {
		case backslashes && s[j] == '\\':
			j++
		case s[j] == q && j+1 < len(s) && s[j+1] == q:
			j++
		case s[j] == q:
			return j + 1
		}
	}
	return len(s)
}

// dollarTag is the $tag$ that opens a dollar-quoted string at the start
// of s, if one does ($1, a parameter, does not).
func dollarTag(s string) (string, bool) {
	for j := 1; j < len(s); j++ {
		c := s[j]
		switch {
		case c == '$':
			return s[:j+1], true
		case c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (j > 1 && c >= '0' && c <= '9') || c >= 0x80:
		default:
			return "", false
		}
	}
	return "", false
}

// statementName is "sql <verb>" followed, for reads and writes, by the
// table they are about: the first table after FROM (select, delete),
// INTO (insert) or UPDATE. A statement that starts WITH is named after
// what it does: its main statement's, or when that reads a common table
// expression, what that expression writes (followed through the
// expressions it reads), or else the first write among them. So
// "WITH o AS (INSERT INTO orders ...) SELECT ... FROM o" is
// "sql insert orders".
func statementName(text string) string {
	toks := sqlWords(text)
	if len(toks) == 0 {
		return "sql"
	}
	verb, table := target(toks)
	if verb == "with" {
		verb, table = withTarget(toks)
	}
	if len(verb) > 32 {
		verb = verb[:32]
	}
	if table == "" || table == "?" {
		return "sql " + verb
	}
	if len(table) > 128 {
		table = table[:128]
	}
	return "sql " + verb + " " + table
}

// cte is what one common table expression does.
type cte struct{ verb, table string }

func withTarget(toks []sqlWord) (verb, table string) {
	ctes := map[string]cte{}
	var writes []cte
	main := -1
	for i := 1; i < len(toks) && main < 0; i++ {
		t := toks[i]
		switch {
		case t.depth != 0:
		case isVerb(t.word):
			main = i
		case t.word == "(":
			name := ""
			for k := i - 1; k > 0; k-- {
				if w := toks[k].word; w != "as" && w != "not" && w != "materialized" {
					name = w
					break
				}
			}
			j := i + 1
			for j < len(toks) && toks[j].depth > 0 {
				j++
			}
			if j > i+1 {
				v, tb := target(toks[i+1 : j])
				ctes[name] = cte{v, tb}
				if v != "select" && tb != "" {
					writes = append(writes, cte{v, tb})
				}
			}
			i = j - 1
		}
	}
	if main < 0 {
		return "with", ""
	}
	verb, table = target(toks[main:])
	for hops := 0; hops < 8; hops++ {
		c, isCTE := ctes[table]
		if !isCTE {
			if table != "" {
				return verb, table
			}
			break
		}
		verb, table = c.verb, c.table
		if verb != "select" {
			return verb, table
		}
	}
	if len(writes) > 0 {
		return writes[0].verb, writes[0].table
	}
	return verb, ""
}

// target is the verb of the statement toks start, and its table.
func target(toks []sqlWord) (verb, table string) {
	verb = toks[0].word
	switch verb {
	case "select":
		table = wordAfter(toks, "from", true)
		if table == "" {
			table = wordAfter(toks, "from", false)
		}
	case "delete":
		table = wordAfter(toks, "from", true)
	case "insert":
		table = wordAfter(toks, "into", true)
	case "update":
		if len(toks) > 1 {
			table = toks[1].word
			if table == "only" && len(toks) > 2 {
				table = toks[2].word
			}
		}
	}
	return verb, table
}

func isVerb(w string) bool {
	return w == "select" || w == "insert" || w == "update" || w == "delete"
}

// wordAfter is the name after the first key past toks[0] (at its depth
// only, when sameDepth is set), skipping ONLY: "" when that is a
// subquery or, after FROM, a function call.
func wordAfter(toks []sqlWord, key string, sameDepth bool) string {
	for i := 1; i+1 < len(toks); i++ {
		if toks[i].word != key || (sameDepth && toks[i].depth != toks[0].depth) {
			continue
		}
		j := i + 1
		if toks[j].word == "only" && j+1 < len(toks) {
			j++
		}
		w := toks[j].word
		if w == "(" || (key == "from" && j+1 < len(toks) && toks[j+1].word == "(" && toks[j+1].depth == toks[j].depth) {
			return ""
		}
		return w
	}
	return ""
}

type sqlWord struct {
	word  string
	depth int
}

// sqlWords splits scrubbed SQL into lower-case words (identifiers,
// dotted and quoted ones whole, without their quotes), "(" for a
// parenthesis that opens, and the parenthesis depth of each.
func sqlWords(text string) []sqlWord {
	var out []sqlWord
	depth := 0
	for i := 0; i < len(text); {
		c := text[i]
		switch {
		case c == '(':
			out = append(out, sqlWord{"(", depth})
			depth++
			i++
		case c == ')':
			if depth > 0 {
				depth--
			}
			i++
		case c == '\'':
			j := skipQuoted(text, i, false)
			out = append(out, sqlWord{"?", depth})
			i = j
		case c == '"' || wordByte(c):
			j := i
			for j < len(text) && (text[j] == '"' || text[j] == '.' || wordByte(text[j])) {
				if text[j] == '"' {
					j = skipQuoted(text, j, false)
					continue
				}
				j++
			}
			out = append(out, sqlWord{strings.ToLower(strings.ReplaceAll(text[i:j], `"`, "")), depth})
			i = j
		default:
			i++
		}
		if len(out) > 4096 {
			break
		}
	}
	return out
}
