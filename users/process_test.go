package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

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
	usersv1 "github.com/kitshop/kitshop/pb/users/v1"
	"github.com/kitshop/kitshop/users/client"
)

// TestProcesses runs the real binaries: a registry and two users instances
// on :0 ports, as an operator would.
func TestProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs binaries; not in -short")
	}
	bin := kittest.BuildBinaries(t, "registry", "users")
	etcdAddr, peerAddr, viewAddr := kittest.FreeAddr(t), kittest.FreeAddr(t), kittest.FreeAddr(t)
	kittest.StartProcess(t, bin["registry"], nil, "-etcd-addr", etcdAddr, "-peer-addr", peerAddr, "-http-addr", viewAddr,
		"-data-dir", t.TempDir()) // killed at the end: its own temporary directory would be left behind
	kittest.WaitFor(t, 30*time.Second, "registry ready", func() bool { return get(viewAddr, "/health/ready", nil) == 200 })

	env := []string{
		"KITSHOP_HTTP_ADDR=127.0.0.1:0", "KITSHOP_GRPC_ADDR=127.0.0.1:0",
		"KITSHOP_ETCD_ENDPOINTS=" + etcdAddr, "KITSHOP_JWT_KEY_FILE=" + kittest.WriteSigningKey(t),
		"KITSHOP_DRAIN_TIMEOUT=10s",
		// Both instances share one database, as in production; a memory
		// store per instance would make them disagree about who exists.
		"DATABASE_URL=" + pgtest.URL(t),
		// bcrypt under the race detector is two orders of magnitude slower.
		"KITSHOP_BCRYPT_COST=4",
	}
	first := kittest.StartProcess(t, bin["users"], env)
	kittest.StartProcess(t, bin["users"], env)

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
		users := discoveryClient(t, etcdAddr)
		ctx := context.Background()
		if _, err := users.CreateUser(ctx, &usersv1.CreateUserRequest{Email: "load@example.com", Password: "correct horse", Name: "Load"}); err != nil {
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
					_, err := users.Authenticate(ctx, &usersv1.AuthenticateRequest{Email: "load@example.com", Password: "correct horse"})
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

func discoveryClient(t *testing.T, etcdAddr string) client.Client {
	t.Helper()
	etcd, err := sd.NewClient([]string{etcdAddr})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { etcd.Close() })
	c, err := client.New(sd.BackendConfig{
		Etcd: etcd,
		Dial: func(addr string) (*grpc.ClientConn, error) { return grpcx.Dial(addr, grpcx.ClientConfig{}) },
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
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
