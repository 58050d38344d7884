package pg_test

import (
	"strings"
	"testing"
	"time"

	"github.com/go-kit/log"

	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/kittest"
	"github.com/kitshop/kitshop/kit/pg"
)

// While Open waits for a server that refuses connections it logs each
// attempt (redacted), and it gives up when its context ends.
func TestOpenLogsWhileItWaits(t *testing.T) {
	t.Parallel()
	const secret = "S3cretPassw0rd"
	var logs kittest.LogBuffer
	ctx, cancel := contextWithTimeout(t, time.Second)
	defer cancel()
	dsn := "postgres://kitshop:" + secret + "@" + kittest.FreeAddr(t) + "/db?sslmode=disable"
	_, err := pg.Open(ctx, dsn, "users", pg.WithLogger(log.NewJSONLogger(&logs)))
	if k := errs.KindOf(err); k != errs.Unavailable {
		t.Fatalf("kind %v, want Unavailable: %v", k, err)
	}
	lines := logs.Lines(t)
	if len(lines) < 2 {
		t.Fatalf("%d log lines in a second of retrying, want one per attempt:\n%s", len(lines), logs.String())
	}
	for i, l := range lines {
		if l["msg"] != "database not reachable yet, retrying" || l["attempt"] != float64(i+1) {
			t.Fatalf("line %d: %v", i, l)
		}
		if !strings.Contains(l["err"].(string), "connection refused") {
			t.Fatalf("line %d does not say why: %v", i, l)
		}
	}
	if strings.Contains(logs.String(), secret) || strings.Contains(err.Error(), secret) {
		t.Fatalf("the password leaked:\n%s\n%v", logs.String(), err)
	}
}

// A server that accepts connections and never answers (frozen, or a
// firewall that swallows packets after the handshake) does not hold Open
// past its context, and the error says the server did not answer.
func TestOpenGivesUpOnAServerThatNeverAnswers(t *testing.T) {
	t.Parallel()
	info, name := testDatabase(t)
	p := startProxy(t, kittest.FreeAddr(t), serverAddr(info))
	p.freeze()
	ctx, cancel := contextWithTimeout(t, 700*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := pg.Open(ctx, dsnAt(info, p.l.Addr().String(), name), "users")
	took := time.Since(start)
	t.Logf("Open returned after %v: %v", took, err)
	if took > 2*time.Second {
		t.Fatalf("Open took %v with a 700ms deadline", took)
	}
	if k := errs.KindOf(err); k != errs.Unavailable {
		t.Fatalf("kind %v, want Unavailable: %v", k, err)
	}
	if !strings.Contains(err.Error(), "gave up") || !strings.Contains(err.Error(), "deadline exceeded") {
		t.Fatalf("error does not say what happened: %v", err)
	}
}
