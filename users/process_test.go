package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/go-kit/kit/endpoint"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/kitshop/kitshop/kit/grpcx"
	"github.com/kitshop/kitshop/kit/kittest"
	"github.com/kitshop/kitshop/kit/pg/pgtest"
	"github.com/kitshop/kitshop/kit/sd"
	"github.com/kitshop/kitshop/kit/typed"
	usersv1 "github.com/kitshop/kitshop/pb/users/v1"
)

// TestProcesses runs the real binaries: a registry and two users instances
// on :0 ports, as an operator would.
func TestProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs binaries; not in -short")
	}
	bin := buildBinaries(t, "registry", "users")
	etcdAddr, peerAddr, viewAddr := kittest.FreeAddr(t), kittest.FreeAddr(t), kittest.FreeAddr(t)
	start(t, bin["registry"], nil, "-etcd-addr", etcdAddr, "-peer-addr", peerAddr, "-http-addr", viewAddr)
	kittest.WaitFor(t, 30*time.Second, "registry ready", func() bool { return get(viewAddr, "/health/ready", nil) == 200 })

	env := []string{
		"KITSHOP_HTTP_ADDR=127.0.0.1:0", "KITSHOP_GRPC_ADDR=127.0.0.1:0",
		"KITSHOP_ETCD_ENDPOINTS=" + etcdAddr, "KITSHOP_JWT_KEY_FILE=" + writeKey(t),
		"KITSHOP_DRAIN_TIMEOUT=10s",
		// Both instances share one database, as in production; a memory
		// store per instance would make them disagree about who exists.
		"DATABASE_URL=" + pgtest.URL(t),
		// bcrypt under the race detector is two orders of magnitude slower.
		"KITSHOP_BCRYPT_COST=4",
	}
	first := start(t, bin["users"], env)
	start(t, bin["users"], env)

	var instances []sd.Instance
	kittest.WaitFor(t, 30*time.Second, "both users instances listed by the registry view", func() bool {
		var body struct{ Instances []sd.Instance }
		get(viewAddr, "/v1/services/users", &body)
		instances = body.Instances
		return len(instances) == 2
	})
	var all struct{ Services map[string][]sd.Instance }
	if get(viewAddr, "/v1/services", &all) != 200 || len(all.Services["users"]) != 2 {
		t.Fatalf("/v1/services = %+v", all)
	}
	for _, in := range instances {
		if in.ID == "" || in.Name != "users" || in.HTTPAddr == "" || in.GRPCAddr == "" || in.RegisteredAt.IsZero() {
			t.Fatalf("incomplete instance %+v", in)
		}
	}

	t.Run("grpcurl-style call through reflection", func(t *testing.T) {
		for _, in := range instances {
			callThroughReflection(t, in.GRPCAddr)
		}
	})

	t.Run("SIGTERM deregisters at once and fails no request", func(t *testing.T) {
		client := discoveryClient(t, etcdAddr)
		ctx := context.Background()
		if _, err := client.CreateUser(ctx, NewUser{Email: "load@example.com", Password: "correct horse", Name: "Load"}); err != nil {
			t.Fatalf("seed user: %v", err)
		}
		var calls, failures atomic.Int64
		var firstErr atomic.Value
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for w := 0; w < 4; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					select {
					case <-stop:
						return
					default:
					}
					// Four loops keep calls in flight on both instances all
					// the time, so SIGTERM lands mid-request.
					_, err := client.Authenticate(ctx, Credentials{Email: "load@example.com", Password: "correct horse"})
					calls.Add(1)
					if err != nil {
						failures.Add(1)
						firstErr.CompareAndSwap(nil, err.Error())
					}
				}
			}()
		}
		kittest.WaitFor(t, 10*time.Second, "load running", func() bool { return calls.Load() > 20 })

		signalled := time.Now()
		if err := first.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		kittest.WaitFor(t, 5*time.Second, "the stopped instance leaves the registry", func() bool {
			var body struct{ Instances []sd.Instance }
			get(viewAddr, "/v1/services/users", &body)
			return len(body.Instances) == 1
		})
		// The lease TTL is 10 s: gone well before it means deregistered,
		// not expired.
		if gone := time.Since(signalled); gone > 3*time.Second {
			t.Fatalf("deregistration took %v", gone)
		}
		exited := make(chan error, 1)
		go func() { exited <- first.Wait() }()
		select {
		case err := <-exited:
			if err != nil {
				t.Fatalf("stopped instance exited with %v", err)
			}
		case <-time.After(20 * time.Second):
			t.Fatal("stopped instance did not exit")
		}
		before := calls.Load()
		kittest.WaitFor(t, 10*time.Second, "load continuing on the survivor", func() bool { return calls.Load() > before+20 })
		close(stop)
		wg.Wait()
		if n := failures.Load(); n > 0 {
			t.Fatalf("%d of %d requests failed during the shutdown; first: %v", n, calls.Load(), firstErr.Load())
		}
		t.Logf("%d requests, none failed", calls.Load())
	})
}

// usersClient is the typed view of the discovery-backed endpoints.
type usersClient struct {
	CreateUser   func(context.Context, NewUser) (User, error)
	Authenticate func(context.Context, Credentials) (Session, error)
}

func discoveryClient(t *testing.T, etcdAddr string) usersClient {
	t.Helper()
	etcd, err := sd.NewClient([]string{etcdAddr})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { etcd.Close() })
	inst, err := sd.NewInstancer(etcd, "users", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(inst.Stop)
	conns := sd.NewConns(func(addr string) (*grpc.ClientConn, error) { return grpcx.Dial(addr, grpcx.ClientConfig{}) })
	t.Cleanup(func() { conns.Close() })
	opts := sd.EndpointOptions{RetryMax: 3, Timeout: 10 * time.Second}
	create := sd.Endpoint(inst, conns, func(c *grpc.ClientConn) endpoint.Endpoint {
		return grpcx.ClientEndpoint(usersv1.NewUsersServiceClient(c).CreateUser,
			func(_ context.Context, u NewUser) (*usersv1.CreateUserRequest, error) {
				return &usersv1.CreateUserRequest{Email: u.Email, Password: u.Password, Name: u.Name}, nil
			},
			func(_ context.Context, u *usersv1.User) (User, error) {
				return User{ID: u.GetId(), Email: u.GetEmail()}, nil
			})
	}, opts)
	authenticate := sd.Endpoint(inst, conns, func(c *grpc.ClientConn) endpoint.Endpoint {
		return grpcx.ClientEndpoint(usersv1.NewUsersServiceClient(c).Authenticate,
			func(_ context.Context, cr Credentials) (*usersv1.AuthenticateRequest, error) {
				return &usersv1.AuthenticateRequest{Email: cr.Email, Password: cr.Password}, nil
			},
			func(_ context.Context, r *usersv1.AuthenticateResponse) (Session, error) {
				return Session{AccessToken: r.GetAccessToken()}, nil
			})
	}, opts)
	return usersClient{
		CreateUser:   typed.Func[NewUser, User](create),
		Authenticate: typed.Func[Credentials, Session](authenticate),
	}
}

// callThroughReflection does what grpcurl does: discover the service by
// reflection, build the request from the served descriptors alone, and
// invoke the method with dynamic messages.
func callThroughReflection(t *testing.T, addr string) {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	stream, err := grpc_reflection_v1.NewServerReflectionClient(conn).ServerReflectionInfo(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ask := func(req *grpc_reflection_v1.ServerReflectionRequest) *grpc_reflection_v1.ServerReflectionResponse {
		if err := stream.Send(req); err != nil {
			t.Fatal(err)
		}
		resp, err := stream.Recv()
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	const service = "kitshop.users.v1.UsersService"
	list := ask(&grpc_reflection_v1.ServerReflectionRequest{MessageRequest: &grpc_reflection_v1.ServerReflectionRequest_ListServices{}})
	var names []string
	for _, s := range list.GetListServicesResponse().GetService() {
		names = append(names, s.GetName())
	}
	if !strings.Contains(strings.Join(names, ","), service) || !strings.Contains(strings.Join(names, ","), "grpc.health.v1.Health") {
		t.Fatalf("reflection lists %v", names)
	}
	files := ask(&grpc_reflection_v1.ServerReflectionRequest{
		MessageRequest: &grpc_reflection_v1.ServerReflectionRequest_FileContainingSymbol{FileContainingSymbol: service},
	}).GetFileDescriptorResponse().GetFileDescriptorProto()
	set := &descriptorpb.FileDescriptorSet{}
	for _, raw := range files {
		fd := &descriptorpb.FileDescriptorProto{}
		if err := proto.Unmarshal(raw, fd); err != nil {
			t.Fatal(err)
		}
		set.File = append(set.File, fd)
	}
	// The reflection answer carries the file and its imports; well-known
	// types may be left out because every client has them.
	reg, err := protodesc.NewFiles(withWellKnown(set))
	if err != nil {
		t.Fatalf("descriptors from reflection: %v", err)
	}
	desc, err := reg.FindDescriptorByName(service + ".CreateUser")
	if err != nil {
		t.Fatal(err)
	}
	method := desc.(protoreflect.MethodDescriptor)
	req := dynamicpb.NewMessage(method.Input())
	fields := method.Input().Fields()
	email := fmt.Sprintf("reflect-%d@example.com", time.Now().UnixNano())
	req.Set(fields.ByName("email"), protoreflect.ValueOfString(email))
	req.Set(fields.ByName("password"), protoreflect.ValueOfString("correct horse"))
	req.Set(fields.ByName("name"), protoreflect.ValueOfString("Reflected"))
	resp := dynamicpb.NewMessage(method.Output())
	if err := conn.Invoke(ctx, "/"+service+"/CreateUser", req, resp); err != nil {
		t.Fatalf("dynamic CreateUser: %v", err)
	}
	if got := resp.Get(method.Output().Fields().ByName("email")).String(); got != email {
		t.Fatalf("dynamic response email %q, want %q", got, email)
	}
}

func withWellKnown(set *descriptorpb.FileDescriptorSet) *descriptorpb.FileDescriptorSet {
	have := map[string]bool{}
	for _, f := range set.File {
		have[f.GetName()] = true
	}
	for _, f := range set.File {
		for _, dep := range f.GetDependency() {
			if have[dep] {
				continue
			}
			if d, err := protoregistry.GlobalFiles.FindFileByPath(dep); err == nil {
				set.File = append(set.File, protodesc.ToFileDescriptorProto(d))
				have[dep] = true
			}
		}
	}
	return set
}

// buildBinaries compiles the named commands once per test run. With -race
// they share the race build cache that `go test -race` already filled.
func buildBinaries(t *testing.T, names ...string) map[string]string {
	t.Helper()
	dir := t.TempDir()
	args := []string{"build", "-o", dir + string(os.PathSeparator)}
	if raceEnabled {
		args = append(args, "-race")
	}
	for _, n := range names {
		args = append(args, "github.com/kitshop/kitshop/"+n)
	}
	cmd := exec.Command("go", args...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	out := map[string]string{}
	for _, n := range names {
		out[n] = filepath.Join(dir, n)
	}
	return out
}

// start runs a binary with its output in the test log on failure, and
// kills it at cleanup if it is still running.
func start(t *testing.T, path string, env []string, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(path, args...)
	cmd.Env = append(os.Environ(), env...)
	logFile, err := os.Create(filepath.Join(t.TempDir(), filepath.Base(path)+".log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
		if t.Failed() {
			out, _ := os.ReadFile(logFile.Name())
			t.Logf("--- %s output:\n%s", filepath.Base(path), tail(string(out), 4000))
		}
		logFile.Close()
	})
	return cmd
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

func writeKey(t *testing.T) string {
	t.Helper()
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "jwt.pem")
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// get fetches http://addr+path, decodes JSON into out when non-nil, and
// returns the status (0 when unreachable).
func get(addr, path string, out any) int {
	resp, err := http.Get("http://" + addr + path)
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	if out != nil {
		_ = json.NewDecoder(resp.Body).Decode(out)
	}
	return resp.StatusCode
}
