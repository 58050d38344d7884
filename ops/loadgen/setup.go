package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// setupPassword is every pool user's password (users wants 8+ chars).
const setupPassword = "loadgen correct horse"

// maxSetupBody bounds what setup reads of one answer.
const maxSetupBody = 4 << 20

// setupClient performs the requests that prepare a run: not measured, and
// patient with 429 within the setup deadline, since an anonymous client's
// burst of 20 is smaller than registering and logging in a pool.
type setupClient struct {
	http   *http.Client
	base   string
	apiKey string
	log    io.Writer
}

// call sends one JSON request and decodes a 2xx answer into out. A 429 is
// waited out (Retry-After, else a second) until ctx ends.
func (c *setupClient) call(ctx context.Context, method, path, token string, in, out any) error {
	var body []byte
	if in != nil {
		var err error
		if body, err = json.Marshal(in); err != nil {
			return err
		}
	}
	for {
		req, err := http.NewRequestWithContext(ctx, method, c.base+path, bytes.NewReader(body))
		if err != nil {
			return err
		}
		if in != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		if c.apiKey != "" {
			req.Header.Set("X-API-Key", c.apiKey)
		}
		resp, err := c.http.Do(req)
		if err != nil {
			return fmt.Errorf("%s %s: %w", method, path, err)
		}
		data, err := io.ReadAll(io.LimitReader(resp.Body, maxSetupBody))
		resp.Body.Close()
		if err != nil {
			return fmt.Errorf("%s %s: reading the answer: %w", method, path, err)
		}
		if resp.StatusCode == http.StatusTooManyRequests {
			wait := retryAfter(resp.Header.Get("Retry-After"))
			fmt.Fprintf(c.log, "setup: rate limited, waiting %s (pass -api-key with a bigger tier to skip this)\n", wait)
			select {
			case <-time.After(wait):
				continue
			case <-ctx.Done():
				return fmt.Errorf("%s %s: still rate limited when setup ran out of time (use -api-key)", method, path)
			}
		}
		if resp.StatusCode/100 != 2 {
			return fmt.Errorf("%s %s: %s %s", method, path, resp.Status, strings.TrimSpace(string(data)))
		}
		if out == nil {
			return nil
		}
		return json.Unmarshal(data, out)
	}
}

func retryAfter(v string) time.Duration {
	if n, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && n > 0 && n <= 60 {
		return time.Duration(n) * time.Second
	}
	return time.Second
}

// loadCatalog fetches up to 100 product ids and the words of their names
// (search terms that match something).
func (c *setupClient) loadCatalog(ctx context.Context, w *world) error {
	var page struct {
		Products []struct {
			ID   string `json:"id"`
			Name string `json:"name"`
		} `json:"products"`
	}
	if err := c.call(ctx, http.MethodGet, "/api/v1/products?page_size=100", "", nil, &page); err != nil {
		return fmt.Errorf("fetching the catalog: %w", err)
	}
	if len(page.Products) == 0 {
		return errors.New("the catalog is empty: nothing to view or order (make run seeds 12 demo products)")
	}
	seen := map[string]bool{}
	for _, p := range page.Products {
		w.product = append(w.product, p.ID)
		for f := range strings.FieldsFuncSeq(strings.ToLower(p.Name), func(r rune) bool { return !unicode.IsLetter(r) }) {
			if len(f) >= 4 && !seen[f] {
				seen[f] = true
				w.words = append(w.words, f)
			}
		}
	}
	if len(w.words) == 0 {
		w.words = []string{"coffee"}
	}
	return nil
}

// registerUsers creates n customers for this run and logs each in.
func (c *setupClient) registerUsers(ctx context.Context, w *world, n int) error {
	w.userIdx = map[string]int{}
	for i := range n {
		u := poolUser{email: fmt.Sprintf("loadgen-%s-%d@example.com", w.runID, i), password: setupPassword}
		var created struct {
			ID string `json:"id"`
		}
		err := c.call(ctx, http.MethodPost, "/api/v1/users", "",
			map[string]string{"email": u.email, "password": u.password, "name": fmt.Sprintf("Loadgen %d", i)}, &created)
		if err != nil {
			return fmt.Errorf("registering user %d: %w", i, err)
		}
		var login struct {
			AccessToken string `json:"access_token"`
		}
		err = c.call(ctx, http.MethodPost, "/api/v1/auth/login", "",
			map[string]string{"email": u.email, "password": u.password}, &login)
		if err != nil {
			return fmt.Errorf("logging in user %d: %w", i, err)
		}
		u.id, u.token = created.ID, login.AccessToken
		w.userIdx[u.id] = len(w.users)
		w.users = append(w.users, u)
	}
	return nil
}
