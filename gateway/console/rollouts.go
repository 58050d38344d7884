package console

import (
	"bytes"
	"context"
	"encoding/json"
	"sort"
	"strings"
	"unicode/utf8"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/kitshop/kitshop/kit/sd"
)

// RolloutPrefix is where the rollout controller keeps each service's
// split (kit/sd's Rollout document). The console decodes it leniently, on
// its own, so that a document it cannot fully read is still shown.
const RolloutPrefix = sd.RolloutPrefix

// maxRollouts bounds the keys read: one per service.
const maxRollouts = 100

// rolloutFields are the controller's state fields the console shows when
// present, in this order. The writer is newer than the console: anything
// else it stores is left out, and a field of an unexpected type is shown
// as its JSON.
var rolloutFields = []string{"state", "step", "stable", "canary", "updated_at"}

// maxFieldText bounds one shown field (a controller's history could be
// long).
const maxFieldText = 200

type rolloutsSection struct {
	Err  string
	Rows []rolloutRow
}

type rolloutRow struct {
	Service string
	Weights []weight
	Fields  []field
	Err     string
}

type weight struct {
	Version string
	Percent float64
}

type field struct{ Name, Value string }

// rollouts reads every service's split. No key means no rollout: the
// service is routed over all its instances, and the section says so.
func (c *console) rollouts(ctx context.Context) rolloutsSection {
	if c.cfg.Etcd == nil {
		return rolloutsSection{Err: errNoRegistry}
	}
	ctx, cancel := context.WithTimeout(ctx, c.cfg.SourceTimeout)
	defer cancel()
	resp, err := c.cfg.Etcd.Get(ctx, RolloutPrefix, clientv3.WithPrefix(), clientv3.WithLimit(maxRollouts))
	if err != nil {
		return rolloutsSection{Err: "registry: " + sourceError(ctx, err)}
	}
	var sec rolloutsSection
	for _, kv := range resp.Kvs {
		service := strings.TrimPrefix(string(kv.Key), RolloutPrefix)
		if service == "" || strings.Contains(service, "/") {
			continue // not a service's key: another writer's business
		}
		sec.Rows = append(sec.Rows, decodeRollout(service, kv.Value))
	}
	sort.Slice(sec.Rows, func(i, j int) bool { return sec.Rows[i].Service < sec.Rows[j].Service })
	return sec
}

// decodeRollout reads one key leniently: what can be read is shown, and
// what cannot is named in the row's error.
func decodeRollout(service string, value []byte) rolloutRow {
	row := rolloutRow{Service: service}
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(value, &doc); err != nil {
		row.Err = "not a JSON object: " + truncate(string(value), maxFieldText)
		return row
	}
	if raw, ok := doc["weights"]; ok {
		var weights map[string]float64
		if err := json.Unmarshal(raw, &weights); err != nil {
			row.Err = "weights are not a map of version to percent: " + truncate(string(raw), maxFieldText)
		}
		for v, p := range weights {
			row.Weights = append(row.Weights, weight{Version: v, Percent: p})
		}
		sort.Slice(row.Weights, func(i, j int) bool { return row.Weights[i].Version < row.Weights[j].Version })
	} else {
		row.Err = "no weights"
	}
	for _, name := range rolloutFields {
		if raw, ok := doc[name]; ok {
			row.Fields = append(row.Fields, field{Name: name, Value: fieldText(raw)})
		}
	}
	return row
}

// fieldText is a string field's text, or any other value's compact JSON.
func fieldText(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return truncate(s, maxFieldText)
	}
	var b bytes.Buffer
	if json.Compact(&b, raw) != nil {
		return truncate(string(raw), maxFieldText)
	}
	return truncate(b.String(), maxFieldText)
}

// truncate cuts s to at most n bytes on a rune boundary, marking the cut.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}
