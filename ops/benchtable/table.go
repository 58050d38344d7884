package main

import (
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// Verdict is a row's standing against its target.
type Verdict int

const (
	// Info rows have no target: they are there to be read.
	Info Verdict = iota
	Met
	NotMet
	// Unclear means the run measured something the comparison cannot
	// stand on (the peer itself far off); the row's note says what.
	Unclear
	// Missing means the figure could not be measured in this run; the
	// row's note says why.
	Missing
)

func (v Verdict) String() string {
	switch v {
	case Met:
		return "met"
	case NotMet:
		return "NOT met"
	case Unclear:
		return "unclear"
	case Missing:
		return "not measured"
	default:
		return "-"
	}
}

// Row is one line of the table: a figure next to its peer measured in the
// same run on the same machine.
type Row struct {
	What     string // what is compared
	Measured string // kitshop's figure
	Peer     string // the peer's figure, same run
	Ratio    string // measured relative to peer, or the overhead
	Target   string
	Verdict  Verdict
	Note     string // why a figure is missing, printed under the table
}

var header = Row{What: "row", Measured: "kitshop", Peer: "peer (same run)", Ratio: "ratio", Target: "target"}

// WriteTable prints the machine line, then rows as aligned columns, then
// the notes of rows that have one.
func WriteTable(w io.Writer, machine string, rows []Row) error {
	cols := func(r Row, verdict string) []string {
		return []string{r.What, r.Measured, r.Peer, r.Ratio, r.Target, verdict}
	}
	all := [][]string{cols(header, "verdict")}
	for _, r := range rows {
		all = append(all, cols(r, r.Verdict.String()))
	}
	width := make([]int, len(all[0]))
	for _, c := range all {
		for i, s := range c {
			width[i] = max(width[i], utf8.RuneCountInString(s))
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "machine: %s\n", machine)
	line := func(c []string) {
		for i, s := range c {
			if i > 0 {
				b.WriteString(" | ")
			}
			b.WriteString(s)
			if i < len(c)-1 {
				b.WriteString(strings.Repeat(" ", width[i]-utf8.RuneCountInString(s)))
			}
		}
		b.WriteString("\n")
	}
	line(all[0])
	rule := make([]string, len(width))
	for i, n := range width {
		rule[i] = strings.Repeat("-", n)
	}
	b.WriteString(strings.Join(rule, "-+-") + "\n")
	for _, c := range all[1:] {
		line(c)
	}
	for _, r := range rows {
		if r.Note != "" {
			fmt.Fprintf(&b, "* %s: %s\n", r.What, r.Note)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}
