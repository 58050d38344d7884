// Package contract runs a service's HTTP contract, a table of requests and
// the answers API.md promises, against any base URL: the service's own
// port in its tests, the gateway's in the gateway's. The table lives in the
// service's client package (users/client.ContractCases), next to the REST
// mapping it checks, so both sides run the same promises.
//
// The package does not import testing, so a client package can offer its
// contract without pulling testing into the binaries that import it; T is
// the part of testing.TB the runner needs.
package contract

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/kitshop/kitshop/kit/httpx"
)

// T is what Run needs of a *testing.T.
type T interface {
	Helper()
	Fatalf(format string, args ...any)
}

// Vars are the values cases share: set before the run (an admin's
// credentials), captured from responses (an id, a token), and written
// into paths, bodies and expectations as {name}. Run sets {run} to a
// random word, so that a table can create unique accounts against a
// server that keeps its data between runs.
type Vars map[string]string

// Case is one request and what must come back.
type Case struct {
	Name         string
	Method, Path string
	// Token names the variable holding the bearer token to send; empty
	// sends none.
	Token string
	// Header is sent as given; Body is sent with Content-Type
	// application/json unless Header sets another.
	Header map[string]string
	Body   string

	// Status is the status expected. From 400 up the answer must be a
	// problem document whose code is Problem.
	Status  int
	Problem string
	// Shape checks the JSON body (see Object): a success's, or a
	// problem's beyond its code and status (see Members, for the
	// members an error adds, such as the order a 402 carries).
	Shape Matcher
	// Headers are response headers expected verbatim.
	Headers map[string]string
	// Capture stores string members of the response (dotted paths,
	// "user.id") into variables, before Shape and Headers are checked.
	Capture map[string]string
}

// Option changes how Run sends its requests.
type Option func(*settings)

type settings struct{ client *http.Client }

// WithClient makes Run send its requests with client: one that trusts a
// test CA to reach an HTTPS gateway, or one that records what it sends.
// Without it Run uses a plain client. Either way every request is bounded
// by Run's own per-request timeout as well as by the client's.
func WithClient(client *http.Client) Option {
	return func(s *settings) {
		if client != nil {
			s.client = client
		}
	}
}

// caseTimeout bounds each request, whatever the client's own timeout.
const caseTimeout = 10 * time.Second

// Run sends the cases in order and stops at the first broken promise:
// later cases build on earlier ones (an account, a token). Every request
// is bounded by a timeout.
func Run(t T, baseURL string, cases []Case, vars Vars, opts ...Option) {
	t.Helper()
	v := Vars{"run": randomWord()}
	for k, val := range vars {
		v[k] = val
	}
	s := settings{client: &http.Client{Timeout: caseTimeout}}
	for _, opt := range opts {
		opt(&s)
	}
	for i, c := range cases {
		if err := runCase(s.client, baseURL, c, v); err != nil {
			t.Fatalf("contract case %d %q (%s %s): %v", i, c.Name, c.Method, c.Path, err)
		}
	}
}

func runCase(client *http.Client, baseURL string, c Case, vars Vars) error {
	ctx, cancel := context.WithTimeout(context.Background(), caseTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, c.Method, baseURL+vars.expand(c.Path), strings.NewReader(vars.expand(c.Body)))
	if err != nil {
		return err
	}
	if c.Body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, val := range c.Header {
		req.Header.Set(k, vars.expand(val))
	}
	if c.Token != "" {
		tok, ok := vars[c.Token]
		if !ok {
			return fmt.Errorf("no variable %q for the token", c.Token)
		}
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("reading the body: %w", err)
	}
	var body any
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &body); err != nil {
			return fmt.Errorf("body is not JSON: %q", preview(raw))
		}
	}
	if resp.StatusCode != c.Status {
		return fmt.Errorf("status %d, want %d: %s", resp.StatusCode, c.Status, preview(raw))
	}
	for name, path := range c.Capture {
		s, err := member(body, path)
		if err != nil {
			return fmt.Errorf("capture %s: %w", name, err)
		}
		vars[name] = s
	}
	if c.Status >= 400 {
		if err := checkProblem(resp, body, c); err != nil {
			return err
		}
	}
	if c.Shape != nil {
		if err := c.Shape(body, vars); err != nil {
			return fmt.Errorf("body %s: %w", preview(raw), err)
		}
	}
	for k, want := range c.Headers {
		if got, want := resp.Header.Get(k), vars.expand(want); got != want {
			return fmt.Errorf("header %s: %q, want %q", k, got, want)
		}
	}
	return nil
}

func checkProblem(resp *http.Response, body any, c Case) error {
	if ct := resp.Header.Get("Content-Type"); ct != "application/problem+json" {
		return fmt.Errorf("content type %q, want application/problem+json", ct)
	}
	doc, _ := body.(map[string]any)
	if doc["code"] != c.Problem || doc["status"] != float64(c.Status) {
		return fmt.Errorf("problem code %v status %v, want %s %d", doc["code"], doc["status"], c.Problem, c.Status)
	}
	return nil
}

// member reads a dotted path of string members out of a JSON body.
func member(body any, path string) (string, error) {
	v := body
	for _, name := range strings.Split(path, ".") {
		obj, ok := v.(map[string]any)
		if !ok {
			return "", fmt.Errorf("%s: not inside an object", path)
		}
		if v, ok = obj[name]; !ok {
			return "", fmt.Errorf("%s: no member %q", path, name)
		}
	}
	s, ok := v.(string)
	if !ok {
		return "", fmt.Errorf("%s: not a string", path)
	}
	return s, nil
}

func (v Vars) expand(s string) string {
	if !strings.Contains(s, "{") {
		return s
	}
	for k, val := range v {
		s = strings.ReplaceAll(s, "{"+k+"}", val)
	}
	return s
}

func randomWord() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// preview is enough of a body to see what went wrong in a failure message.
func preview(raw []byte) string { return httpx.Truncate(string(raw), 300) }
