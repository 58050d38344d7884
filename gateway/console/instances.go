package console

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/kitshop/kitshop/kit/sd"
)

// Health verdicts of one instance, also its CSS class.
const (
	healthReady       = "ready"
	healthNotReady    = "not-ready"
	healthUnreachable = "unreachable"
	healthUnprobed    = "unprobed"
)

// maxHealthBody bounds what is read of a /health/ready answer: kit/health
// sends a few check names; anything longer is not that.
const maxHealthBody = 16 << 10

type instancesSection struct {
	Err      string
	Services []serviceRow
}

type serviceRow struct {
	Name      string
	Versions  []string
	Ready     int
	Instances []instanceRow
}

type instanceRow struct {
	sd.Instance
	Health health
}

type health struct {
	State  string
	Detail string
	Took   time.Duration
}

// instances lists the registry and probes every instance it names. The
// listing has SourceTimeout; each probe ProbeTimeout, and all of them
// together end with the listing's bound plus one probe's, so a platform
// of slow instances still gives a page in time (the rest unprobed).
func (c *console) instances(ctx context.Context) instancesSection {
	if c.cfg.Etcd == nil {
		return instancesSection{Err: errNoRegistry}
	}
	ctx, cancel := context.WithTimeout(ctx, c.cfg.SourceTimeout+c.cfg.ProbeTimeout)
	defer cancel()
	listCtx, cancelList := context.WithTimeout(ctx, c.cfg.SourceTimeout)
	all, err := sd.ListAll(listCtx, c.cfg.Etcd)
	cancelList()
	if err != nil {
		return instancesSection{Err: "registry: " + sourceError(listCtx, err)}
	}
	rows := c.serviceRows(all)
	c.probeAll(ctx, rows)
	for i := range rows {
		for _, in := range rows[i].Instances {
			if in.Health.State == healthReady {
				rows[i].Ready++
			}
		}
	}
	return instancesSection{Services: rows}
}

// serviceRows orders the listing: the configured services first, in
// their order (present or not), then any other registered name.
func (c *console) serviceRows(all map[string][]sd.Instance) []serviceRow {
	names := slices.Clone(c.cfg.Services)
	var others []string
	for name := range all {
		if !slices.Contains(names, name) {
			others = append(others, name)
		}
	}
	sort.Strings(others)
	names = append(names, others...)
	rows := make([]serviceRow, 0, len(names))
	for _, name := range names {
		row := serviceRow{Name: name}
		for _, inst := range all[name] {
			row.Instances = append(row.Instances, instanceRow{Instance: inst, Health: health{State: healthUnprobed}})
			if !slices.Contains(row.Versions, inst.Version) {
				row.Versions = append(row.Versions, inst.Version)
			}
		}
		sort.Strings(row.Versions)
		rows = append(rows, row)
	}
	return rows
}

// probeAll probes up to maxProbes instances, ProbeConcurrency at a time,
// writing each verdict in place.
func (c *console) probeAll(ctx context.Context, rows []serviceRow) {
	sem := make(chan struct{}, c.cfg.ProbeConcurrency)
	var wg sync.WaitGroup
	var clients []*http.Client
	n := 0
	for i := range rows {
		client := c.cfg.HTTPClient(rows[i].Name)
		clients = append(clients, client)
		for j := range rows[i].Instances {
			in := &rows[i].Instances[j]
			if n == maxProbes {
				in.Health.Detail = fmt.Sprintf("only %d instances are probed per page", maxProbes)
				continue
			}
			n++
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				in.Health.Detail = "out of time before its turn"
				continue
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				in.Health = c.probe(ctx, client, in.HTTPAddr)
			}()
		}
	}
	wg.Wait()
	// The clients are made per page (kit/boot's HTTPClient builds a
	// transport per call): dropping their idle connections once the
	// probes are done leaves nothing behind between pages.
	for _, client := range clients {
		client.CloseIdleConnections()
	}
}

// probe asks one instance's /health/ready.
func (c *console) probe(ctx context.Context, client *http.Client, addr string) health {
	if _, _, err := net.SplitHostPort(addr); err != nil || addr == "" {
		return health{State: healthUnprobed, Detail: "registered without a usable HTTP address"}
	}
	ctx, cancel := context.WithTimeout(ctx, c.cfg.ProbeTimeout)
	defer cancel()
	u := url.URL{Scheme: c.cfg.HTTPScheme, Host: addr, Path: "/health/ready"}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return health{State: healthUnprobed, Detail: err.Error()}
	}
	start := time.Now()
	resp, err := client.Do(req)
	took := time.Since(start)
	if err != nil {
		return health{State: healthUnreachable, Detail: sourceError(ctx, err), Took: took}
	}
	defer resp.Body.Close()
	var body struct {
		Checks map[string]string `json:"checks"`
	}
	_ = json.NewDecoder(io.LimitReader(resp.Body, maxHealthBody)).Decode(&body)
	switch resp.StatusCode {
	case http.StatusOK:
		return health{State: healthReady, Took: took}
	case http.StatusServiceUnavailable:
		return health{State: healthNotReady, Detail: failingChecks(body.Checks), Took: took}
	default:
		return health{State: healthNotReady, Detail: "answered " + resp.Status, Took: took}
	}
}

// failingChecks names the checks that did not say ok, in a stable order.
func failingChecks(checks map[string]string) string {
	var out []string
	for name, res := range checks {
		if res != "ok" {
			out = append(out, name+": "+res)
		}
	}
	sort.Strings(out)
	return strings.Join(out, "; ")
}
