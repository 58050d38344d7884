package main

import (
	"context"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/kitshop/kitshop/kit/kittest"
	"github.com/kitshop/kitshop/kit/pg/pgtest"
	paymentsv1 "github.com/kitshop/kitshop/pb/payments/v1"
)

// TestChargeSurvivesAProcessKill is crash window (b) with a real process:
// a payments binary built with the test-only crash points stops between
// the processor's approval and the record of it, and is killed with
// SIGKILL. After a restart, a retry with the same key, or the recovery
// job alone, leaves exactly one processor charge and a CAPTURED payment.
func TestChargeSurvivesAProcessKill(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the payments binary; not in -short")
	}
	bin := buildCrashBinary(t)
	dsn := pgtest.URL(t)
	ctx := context.Background()

	// 1. Two charges reach the processor, which approves both; the process
	// dies before either outcome is recorded.
	crashing := startPayments(t, bin, dsn, []string{crashEnvName + "=" + crashAfterProcessor}, "-charge-recovery-after", "1h")
	retried, recovered := pbCharge(TestCardApproved), pbCharge(TestCardApproved)
	results := make(chan error, 2)
	for _, req := range []*paymentsv1.ChargeRequest{retried, recovered} {
		go func() {
			cctx, cancel := context.WithTimeout(ctx, time.Minute)
			defer cancel()
			_, err := crashing.client.Charge(cctx, req)
			results <- err
		}()
	}
	kittest.WaitFor(t, 30*time.Second, "both charges stopped at the crash point", func() bool {
		return strings.Count(crashing.output(), "CRASHPOINT "+crashAfterProcessor+" reached") == 2
	})
	crashing.kill(t)
	for range 2 {
		if err := <-results; status.Code(err) != codes.Unavailable {
			t.Fatalf("Charge to a killed process = %v, want UNAVAILABLE", err)
		}
	}
	store := openTestPostgresAt(t, dsn)
	processor := openTestProcessorAt(t, dsn)
	for _, req := range []*paymentsv1.ChargeRequest{retried, recovered} {
		if p, err := store.ChargeByKey(ctx, req.GetIdempotencyKey()); err != nil || p.Status != StatusPending {
			t.Fatalf("after the kill: %+v, %v; want the PENDING attempt", p, err)
		}
	}
	if n := countApproved(t, processor); n != 2 {
		t.Fatalf("processor charged %d times, want 2 (one per charge)", n)
	}

	// 2. Restarted, recovery not yet due: the retry settles its charge.
	second := startPayments(t, bin, dsn, nil, "-charge-recovery-after", "1h")
	p, err := second.client.Charge(ctx, retried)
	if err != nil || p.GetStatus() != paymentsv1.PaymentStatus_PAYMENT_STATUS_CAPTURED {
		t.Fatalf("retry after the restart = %v, %v; want CAPTURED", p, err)
	}
	if stored, _ := store.ChargeByKey(ctx, retried.GetIdempotencyKey()); stored.ID != p.GetId() || stored.Status != StatusCaptured {
		t.Fatalf("stored %+v, want payment %s CAPTURED", stored, p.GetId())
	}
	if stored, _ := store.ChargeByKey(ctx, recovered.GetIdempotencyKey()); stored.Status != StatusPending {
		t.Fatalf("the other charge is %s, want still PENDING (its recovery is not due)", stored.Status)
	}
	second.stop(t)

	// 3. Restarted with a short recovery bound: the job settles the other
	// charge with nobody retrying it.
	third := startPayments(t, bin, dsn, nil, "-processor-timeout", "100ms", "-charge-recovery-after", "1s",
		"-charge-recovery-interval", "100ms")
	kittest.WaitFor(t, 30*time.Second, "the recovery job to settle the abandoned charge", func() bool {
		p, err := store.ChargeByKey(ctx, recovered.GetIdempotencyKey())
		return err == nil && p.Status == StatusCaptured
	})
	// The job logs once its round is over, which is after the store shows
	// the charge settled: wait for the line rather than read it at once.
	kittest.WaitFor(t, 10*time.Second, "the recovery job to report settling the charge", func() bool {
		return strings.Contains(third.output(), `"msg":"charge recovery settled abandoned charges"`)
	})
	if n := countApproved(t, processor); n != 2 {
		t.Fatalf("processor charged %d times in all, want 2: one per charge", n)
	}
	for _, req := range []*paymentsv1.ChargeRequest{retried, recovered} {
		p, _ := store.ChargeByKey(ctx, req.GetIdempotencyKey())
		evs, _ := store.Events(ctx, p.ID)
		if len(evs) != 2 || evs[0].Type != EventAttempted || evs[1].Type != EventCharged {
			t.Fatalf("events of %s: %+v, want ATTEMPTED then CHARGED", p.ID, evs)
		}
	}
}

// crashEnvName is service_charge_crashpoint_enabled.go's crashEnv, which normal test
// builds do not compile.
const crashEnvName = "KITSHOP_TEST_CRASH_AT"

// buildCrashBinary builds payments with the kitshop_crashpoints tag, the
// only way to get a binary that can stop at a crash point.
func buildCrashBinary(t *testing.T) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "payments")
	args := []string{"build", "-tags", "kitshop_crashpoints", "-o", out}
	if raceEnabled {
		args = append(args, "-race")
	}
	cmd := exec.Command("go", append(args, "github.com/kitshop/kitshop/payments")...)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, b)
	}
	return out
}

type paymentsProcess struct {
	cmd    *exec.Cmd
	log    string
	client paymentsv1.PaymentsServiceClient
	exited chan error
}

// startPayments runs the binary on dsn with free ports and no registry,
// and waits until it is ready.
func startPayments(t *testing.T, bin, dsn string, env []string, args ...string) *paymentsProcess {
	t.Helper()
	httpAddr, grpcAddr := kittest.FreeAddr(t), kittest.FreeAddr(t)
	cmd := exec.Command(bin, append([]string{"-http-addr", httpAddr, "-grpc-addr", grpcAddr, "-etcd-endpoints", "",
		"-database-url", dsn, "-log-level", "info"}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	logFile, err := os.CreateTemp(t.TempDir(), "payments-*.log")
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &paymentsProcess{cmd: cmd, log: logFile.Name(), exited: make(chan error, 1)}
	go func() { p.exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-p.exited
		if t.Failed() {
			t.Logf("--- payments output (%s):\n%s", strings.Join(args, " "), p.output())
		}
		_ = logFile.Close()
	})
	kittest.WaitFor(t, 60*time.Second, "payments ready", func() bool {
		select {
		case err := <-p.exited:
			p.exited <- err
			t.Fatalf("payments exited before becoming ready: %v\n%s", err, p.output())
		default:
		}
		resp, err := http.Get("http://" + httpAddr + "/health/ready")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	conn, err := grpc.NewClient(grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	p.client = paymentsv1.NewPaymentsServiceClient(conn)
	return p
}

func (p *paymentsProcess) output() string {
	b, _ := os.ReadFile(p.log)
	return string(b)
}

// kill is kill -9: no shutdown code runs.
func (p *paymentsProcess) kill(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	p.wait(t)
}

// stop is the orderly SIGTERM shutdown.
func (p *paymentsProcess) stop(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	p.wait(t)
}

func (p *paymentsProcess) wait(t *testing.T) {
	t.Helper()
	select {
	case err := <-p.exited:
		p.exited <- err // for the cleanup
	case <-time.After(30 * time.Second):
		t.Fatal("payments did not exit within 30s")
	}
}
