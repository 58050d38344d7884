package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kitshop/kitshop/kit/kittest"
	"github.com/kitshop/kitshop/kit/sd"
	"github.com/kitshop/kitshop/kit/tlsx"
)

// processStopTimeout bounds how long the registry may take to stop after
// SIGTERM, or to fail at start-up.
const processStopTimeout = 20 * time.Second

func buildRegistry(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "registry")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func tlsEnv(f tlsx.Files) []string {
	return []string{"KITSHOP_TLS_CA=" + f.CA, "KITSHOP_TLS_CERT=" + f.Cert, "KITSHOP_TLS_KEY=" + f.Key}
}

// The real binary under TLS: the view answers over HTTPS (verified
// against the platform CA, as `curl --cacert` does) and lists an instance
// a platform process registered through mTLS; SIGTERM stops it cleanly.
func TestProcessServesTLS(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary; not in -short")
	}
	bin := buildRegistry(t)
	files, err := tlsx.WriteDevFiles(t.TempDir(), "registry", "users")
	if err != nil {
		t.Fatal(err)
	}
	etcdAddr, viewAddr := kittest.FreeAddr(t), kittest.FreeAddr(t)
	var out bytes.Buffer
	cmd := exec.Command(bin, "-etcd-addr", etcdAddr, "-peer-addr", kittest.FreeAddr(t), "-http-addr", viewAddr)
	cmd.Env = append(os.Environ(), tlsEnv(files["registry"])...)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("registry output:\n%s", out.String())
		}
	})

	https := &http.Client{Timeout: 3 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: caPool(t, files["users"]), MinVersion: tls.VersionTLS12},
	}}
	get := func(path string, into any) int {
		resp, err := https.Get("https://" + viewAddr + path)
		if err != nil {
			return 0
		}
		defer resp.Body.Close()
		if into != nil {
			_ = json.NewDecoder(resp.Body).Decode(into)
		}
		return resp.StatusCode
	}
	kittest.WaitFor(t, 30*time.Second, "registry ready over HTTPS", func() bool { return get("/health/ready", nil) == http.StatusOK })

	// Plain HTTP no longer reaches the view.
	if resp, err := (&http.Client{Timeout: 3 * time.Second}).Get("http://" + viewAddr + "/v1/services"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Fatal("the view answered plain HTTP under TLS")
		}
	}

	users := platformClient(t, etcdAddr, files["users"])
	inst, _ := json.Marshal(sd.Instance{ID: "u1", Name: "users", GRPCAddr: "127.0.0.1:9081"})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := users.Put(ctx, sd.Key("users", "u1"), string(inst)); err != nil {
		t.Fatalf("register through mTLS: %v", err)
	}
	var body struct{ Instances []sd.Instance }
	if code := get("/v1/services/users", &body); code != http.StatusOK || len(body.Instances) != 1 || body.Instances[0].ID != "u1" {
		t.Fatalf("GET /v1/services/users over HTTPS = %d %+v", code, body)
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("registry exited with %v after SIGTERM", err)
		}
	case <-time.After(processStopTimeout):
		t.Fatal("registry did not stop after SIGTERM")
	}
}

// Started with another service's certificate, the registry exits at once
// with a message naming both, instead of serving an etcd that every
// service would refuse.
func TestProcessRefusesAnotherServicesCertificate(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary; not in -short")
	}
	bin := buildRegistry(t)
	files, err := tlsx.WriteDevFiles(t.TempDir(), "users")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), processStopTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "-etcd-addr", kittest.FreeAddr(t), "-peer-addr", kittest.FreeAddr(t), "-http-addr", kittest.FreeAddr(t))
	cmd.Env = append(os.Environ(), tlsEnv(files["users"])...)
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("registry still running with a users certificate:\n%s", out)
	}
	if err == nil || !strings.Contains(string(out), "names service users, not registry") {
		t.Fatalf("registry with a users certificate: %v\n%s", err, out)
	}
}
