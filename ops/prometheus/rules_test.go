// Package prometheus holds the tests of kitshop's Prometheus rules
// (alerts.yml): promtool's own checks and unit tests (alerts_test.yml),
// and the conventions promtool cannot see: every alert has a severity, a
// summary and a runbook section that exists, and is tested both firing
// and silent.
package prometheus

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/yaml"
)

const (
	rulesFile     = "alerts.yml"
	rulesTestFile = "alerts_test.yml"
	runbookFile   = "../RUNBOOK.md"
	// runbookURL is where every alert's runbook_url points, followed by
	// the section's anchor.
	runbookURL = "https://github.com/kitshop/kitshop/blob/main/ops/RUNBOOK.md#"
	// promtoolTimeout bounds one promtool run; the unit tests take a few
	// seconds on an idle machine.
	promtoolTimeout = 3 * time.Minute
)

func TestPromtoolCheckRules(t *testing.T) {
	t.Parallel()
	promtool(t, "check", "rules", rulesFile)
}

func TestPromtoolTestRules(t *testing.T) {
	t.Parallel()
	promtool(t, "test", "rules", rulesTestFile)
}

// promtool runs promtool with args in this directory and fails the test
// with its output when it fails. A missing promtool fails too, never
// skips: these checks are the only proof the alerts work.
func promtool(t *testing.T, args ...string) {
	t.Helper()
	path, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatalf("promtool is not on PATH (%v): it comes with Debian's prometheus package: "+
			"run `bash ops/install-deps.sh` or `apt-get install -y prometheus`", err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), promtoolTimeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, path, args...).CombinedOutput()
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		t.Fatalf("promtool %s did not finish within %s:\n%s", strings.Join(args, " "), promtoolTimeout, out)
	}
	if err != nil {
		t.Fatalf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// ruleFile is the part of a Prometheus rule file the conventions need.
type ruleFile struct {
	Groups []struct {
		Name  string `json:"name"`
		Rules []rule `json:"rules"`
	} `json:"groups"`
}

type rule struct {
	Alert       string            `json:"alert"`
	Record      string            `json:"record"`
	Expr        string            `json:"expr"`
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
}

// unitTests is the part of a promtool unit test file the conventions need.
type unitTests struct {
	RuleFiles []string `json:"rule_files"`
	Tests     []struct {
		Name       string `json:"name"`
		AlertTests []struct {
			EvalTime  string `json:"eval_time"`
			AlertName string `json:"alertname"`
			ExpAlerts []any  `json:"exp_alerts"`
		} `json:"alert_rule_test"`
	} `json:"tests"`
}

func readYAML(t *testing.T, path string, into any) {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(raw, into); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

func alerts(t *testing.T) []rule {
	t.Helper()
	var f ruleFile
	readYAML(t, rulesFile, &f)
	var out []rule
	for _, g := range f.Groups {
		for _, r := range g.Rules {
			if r.Alert != "" {
				out = append(out, r)
			}
		}
	}
	if len(out) == 0 {
		t.Fatalf("%s has no alerts", rulesFile)
	}
	return out
}

// TestAlertsHaveRunbookSections: each alert pages or tickets, says what
// is wrong, and links a section of ops/RUNBOOK.md that exists.
func TestAlertsHaveRunbookSections(t *testing.T) {
	anchors := markdownAnchors(t, runbookFile)
	for _, a := range alerts(t) {
		if s := a.Labels["severity"]; s != "page" && s != "ticket" {
			t.Errorf("%s: severity %q, want page or ticket", a.Alert, s)
		}
		for _, name := range []string{"summary", "description"} {
			if strings.TrimSpace(a.Annotations[name]) == "" {
				t.Errorf("%s: no %s annotation", a.Alert, name)
			}
		}
		url := a.Annotations["runbook_url"]
		anchor, ok := strings.CutPrefix(url, runbookURL)
		if !ok {
			t.Errorf("%s: runbook_url %q, want %s<section>", a.Alert, url, runbookURL)
			continue
		}
		if !anchors[anchor] {
			t.Errorf("%s: runbook_url points at #%s, which is no heading of %s", a.Alert, anchor, runbookFile)
		}
		if anchor != strings.ToLower(a.Alert) {
			t.Errorf("%s: runbook_url points at #%s, want the alert's own section #%s", a.Alert, anchor, strings.ToLower(a.Alert))
		}
	}
}

// TestAlertsAreTestedBothWays: alerts_test.yml loads alerts.yml and, for
// every alert, has a case where it fires and one where it stays silent.
func TestAlertsAreTestedBothWays(t *testing.T) {
	var ut unitTests
	readYAML(t, rulesTestFile, &ut)
	if !slices.Contains(ut.RuleFiles, rulesFile) {
		t.Fatalf("%s tests %v, not %s", rulesTestFile, ut.RuleFiles, rulesFile)
	}
	fires, silent := map[string]bool{}, map[string]bool{}
	for _, tc := range ut.Tests {
		for _, at := range tc.AlertTests {
			if len(at.ExpAlerts) > 0 {
				fires[at.AlertName] = true
			} else {
				silent[at.AlertName] = true
			}
		}
	}
	for _, a := range alerts(t) {
		if !fires[a.Alert] {
			t.Errorf("%s: no test in %s where it fires", a.Alert, rulesTestFile)
		}
		if !silent[a.Alert] {
			t.Errorf("%s: no test in %s where it stays silent", a.Alert, rulesTestFile)
		}
	}
}

var heading = regexp.MustCompile(`(?m)^#{1,6}[ \t]+(.+?)[ \t]*$`)

// markdownAnchors returns the anchors GitHub gives the headings of a
// Markdown file: lower case, spaces as dashes, other punctuation dropped.
func markdownAnchors(t *testing.T, path string) map[string]bool {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	anchors := map[string]bool{}
	for _, m := range heading.FindAllStringSubmatch(string(raw), -1) {
		var b strings.Builder
		for _, r := range strings.ToLower(m[1]) {
			switch {
			case r == ' ':
				b.WriteRune('-')
			case r == '-' || r == '_' || ('a' <= r && r <= 'z') || ('0' <= r && r <= '9'):
				b.WriteRune(r)
			}
		}
		anchors[b.String()] = true
	}
	return anchors
}

func TestMarkdownAnchors(t *testing.T) {
	path := t.TempDir() + "/x.md"
	if err := os.WriteFile(path, []byte("# Title\n\n## SLOs and what counts as an error\n### KitshopBreakerOpen\ntext # not a heading\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	got := markdownAnchors(t, path)
	for _, want := range []string{"title", "slos-and-what-counts-as-an-error", "kitshopbreakeropen"} {
		if !got[want] {
			t.Errorf("anchor %q missing from %v", want, got)
		}
	}
	if len(got) != 3 {
		t.Errorf("anchors %v, want 3", got)
	}
}
