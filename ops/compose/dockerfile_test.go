package compose

import (
	"fmt"
	"go/ast"
	goparser "go/parser"
	"go/token"
	goversion "go/version"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/distribution/reference"
	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/linter"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"github.com/moby/buildkit/frontend/dockerfile/shell"
)

// The build stage's output directory and the image paths of the binaries.
const (
	binDir  = "/usr/local/bin/"
	shimBin = binDir + "kitshop-shim"
)

// parsed is the Dockerfile as BuildKit reads it, with the lint warnings
// BuildKit's own checks (docker build --check) raise while parsing.
type parsed struct {
	stages   []instructions.Stage
	metaArgs map[string]string
	warnings []string
}

func parseDockerfile(t *testing.T) parsed {
	t.Helper()
	f, err := os.Open(dockerfile)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	res, err := parser.Parse(f)
	if err != nil {
		t.Fatalf("parse %s: %v", dockerfile, err)
	}
	var out parsed
	for _, w := range res.Warnings {
		out.warnings = append(out.warnings, w.Short)
	}
	lint := linter.New(&linter.Config{Warn: func(rule, _, _, msg string, loc []parser.Range) {
		out.warnings = append(out.warnings, fmt.Sprintf("%s: %s (line %v)", rule, msg, loc))
	}})
	stages, metaArgs, err := instructions.Parse(res.AST, lint)
	if err != nil {
		t.Fatalf("%s: %v", dockerfile, err)
	}
	out.stages = stages
	out.metaArgs = map[string]string{}
	for _, a := range metaArgs {
		for _, kv := range a.Args {
			out.metaArgs[kv.Key] = kv.ValueString()
		}
	}
	return out
}

func dockerStages(t *testing.T) []instructions.Stage { return parseDockerfile(t).stages }

func (p parsed) stage(t *testing.T, name string) instructions.Stage {
	t.Helper()
	i := slices.IndexFunc(p.stages, func(s instructions.Stage) bool { return s.Name == name })
	if i < 0 {
		t.Fatalf("%s has no stage %q", dockerfile, name)
	}
	return p.stages[i]
}

// envGetter expands ${ARG} in FROM lines with the global ARG defaults.
type envGetter map[string]string

func (e envGetter) Get(k string) (string, bool) { v, ok := e[k]; return v, ok }
func (e envGetter) Keys() []string {
	var ks []string
	for k := range e {
		ks = append(ks, k)
	}
	return ks
}

func (p parsed) baseImage(t *testing.T, s instructions.Stage) string {
	t.Helper()
	v, _, err := shell.NewLex('\\').ProcessWord(s.BaseName, envGetter(p.metaArgs))
	if err != nil {
		t.Fatalf("stage %s: FROM %s: %v", s.Name, s.BaseName, err)
	}
	return v
}

func commands[T instructions.Command](s instructions.Stage) []T {
	var out []T
	for _, c := range s.Commands {
		if v, ok := c.(T); ok {
			out = append(out, v)
		}
	}
	return out
}

// BuildKit's own checks pass (what `docker build --check` reports at parse
// time: casing, deprecated forms, JSON entrypoints, ...).
func TestDockerfileLints(t *testing.T) {
	if w := parseDockerfile(t).warnings; len(w) > 0 {
		t.Errorf("%s:\n%s", dockerfile, strings.Join(w, "\n"))
	}
}

// Every base image names a tag other than latest; the runtime is
// distroless static (or scratch).
func TestDockerfileBaseImagesArePinned(t *testing.T) {
	p := parseDockerfile(t)
	names := map[string]bool{}
	for _, s := range p.stages {
		base := p.baseImage(t, s)
		if names[base] {
			names[s.Name] = true
			continue // built on an earlier stage
		}
		names[s.Name] = true
		if base == "scratch" {
			continue
		}
		ref, err := reference.ParseNormalizedNamed(base)
		if err != nil {
			t.Errorf("stage %s: FROM %q: %v", s.Name, base, err)
			continue
		}
		tagged, ok := ref.(reference.Tagged)
		_, digested := ref.(reference.Digested)
		if !ok && !digested || ok && tagged.Tag() == "latest" {
			t.Errorf("stage %s: FROM %q is not pinned (a tag other than latest, or a digest)", s.Name, base)
		}
	}
	rt := p.baseImage(t, p.stage(t, "runtime"))
	if rt != "scratch" && !strings.HasPrefix(rt, "gcr.io/distroless/static") {
		t.Errorf("runtime stage FROM %q, want distroless static or scratch", rt)
	}
}

// The build stage makes static, trimmed binaries that carry the VERSION
// build argument where kit/config reads it, for every program.
func TestDockerfileBuild(t *testing.T) {
	p := parseDockerfile(t)
	b := p.stage(t, "build")
	run := goBuild(t, b)
	if !slices.ContainsFunc(commands[*instructions.EnvCommand](b), func(e *instructions.EnvCommand) bool {
		return slices.ContainsFunc(e.Env, func(kv instructions.KeyValuePair) bool { return kv.Key == "CGO_ENABLED" && kv.Value == "0" })
	}) && !strings.Contains(run, "CGO_ENABLED=0") {
		t.Error("the build does not set CGO_ENABLED=0")
	}
	for _, want := range []string{"-trimpath", "-X github.com/kitshop/kitshop/kit/config.Version=${VERSION}", "-o /out/"} {
		if !strings.Contains(run, want) {
			t.Errorf("go build lacks %q:\n%s", want, run)
		}
	}
	if !slices.ContainsFunc(commands[*instructions.ArgCommand](b), func(a *instructions.ArgCommand) bool {
		return slices.ContainsFunc(a.Args, func(kv instructions.KeyValuePairOptional) bool { return kv.Key == "VERSION" })
	}) {
		t.Error("the build stage declares no ARG VERSION")
	}
	pkgs := buildPackages(t)
	for name := range programs {
		if !slices.Contains(pkgs, "./"+name) {
			t.Errorf("go build does not build ./%s", name)
		}
	}
	for _, want := range []string{"./ops/devca", "./ops/shim"} {
		if !slices.Contains(pkgs, want) {
			t.Errorf("go build does not build %s", want)
		}
	}
	// The -X target exists: renaming it would silently drop the version.
	if !declaresStringVar(t, "../../kit/config/version.go", "Version") {
		t.Error("kit/config/version.go declares no `var Version string` for -ldflags -X")
	}
}

// goBuild is the RUN line of stage b that runs go build.
func goBuild(t *testing.T, b instructions.Stage) string {
	t.Helper()
	for _, r := range commands[*instructions.RunCommand](b) {
		if line := strings.Join(r.CmdLine, " "); strings.Contains(line, "go build") {
			return line
		}
	}
	t.Fatal("the build stage runs no go build")
	return ""
}

// buildPackages are the packages the Dockerfile's go build compiles.
func buildPackages(t *testing.T) []string {
	t.Helper()
	run := goBuild(t, parseDockerfile(t).stage(t, "build"))
	var pkgs []string
	for _, m := range regexp.MustCompile(`(?:^|\s)(\./[\w/.-]+)`).FindAllStringSubmatch(run, -1) {
		pkgs = append(pkgs, m[1])
	}
	return pkgs
}

func declaresStringVar(t *testing.T, file, name string) bool {
	t.Helper()
	f, err := goparser.ParseFile(token.NewFileSet(), file, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	ast.Inspect(f, func(n ast.Node) bool {
		if vs, ok := n.(*ast.ValueSpec); ok {
			for _, id := range vs.Names {
				if typ, ok := vs.Type.(*ast.Ident); ok && id.Name == name && typ.Name == "string" && len(vs.Values) == 0 {
					found = true
				}
			}
		}
		return true
	})
	return found
}

// Each program's target holds its binary (plus the shim), runs it as its
// entry point, as a non-root numeric user, and exposes its HTTP port.
func TestDockerfileTargets(t *testing.T) {
	p := parseDockerfile(t)
	rt := p.stage(t, "runtime")
	if got := copies(rt); !slices.Equal(got, []string{"build:/out/shim->" + shimBin}) {
		t.Errorf("runtime stage copies %v, want only the shim", got)
	}
	for name := range buildTargets() {
		target := buildTargets()[name]
		s := p.stage(t, target)
		if s.BaseName != "runtime" {
			t.Errorf("stage %s is FROM %s, want runtime", target, s.BaseName)
		}
		wantCopies := []string{"build:/out/" + target + "->" + binDir + target}
		if target == "devca" {
			wantCopies = append([]string{"build:/devca/kitshop->/kitshop"}, wantCopies...)
		}
		if got := copies(s); !slices.Equal(got, wantCopies) {
			t.Errorf("stage %s copies %v, want %v (the binary only)", target, got, wantCopies)
		}
		eps := commands[*instructions.EntrypointCommand](s)
		if len(eps) != 1 || eps[0].PrependShell || !slices.Equal(eps[0].CmdLine, []string{binDir + target}) {
			t.Errorf("stage %s: ENTRYPOINT %+v, want [%q]", target, eps, binDir+target)
		}
		if u := effectiveUser(t, p, s); !nonRootNumeric(u) {
			t.Errorf("stage %s runs as %q, want a numeric non-root uid (Kubernetes runAsNonRoot verifies only numbers)", target, u)
		}
		if prog, ok := programs[target]; ok {
			var ports []string
			for _, e := range commands[*instructions.ExposeCommand](s) {
				ports = append(ports, e.Ports...)
			}
			if !slices.Contains(ports, strconv.Itoa(prog.httpPort)) {
				t.Errorf("stage %s exposes %v, not its HTTP port %d", target, ports, prog.httpPort)
			}
		}
		for _, h := range commands[*instructions.HealthCheckCommand](s) {
			if len(h.Health.Test) > 0 && h.Health.Test[0] == "CMD-SHELL" {
				t.Errorf("stage %s: HEALTHCHECK needs a shell, which distroless has not", target)
			}
		}
	}
	// The devca image's directories belong to its user, so fresh volumes
	// mounted there do too.
	for _, c := range commands[*instructions.CopyCommand](p.stage(t, "devca")) {
		if c.DestPath == "/kitshop" && c.Chown != "65532:65532" {
			t.Errorf("devca: /kitshop is owned by %q, want 65532:65532", c.Chown)
		}
	}
	rn := strings.Join(func() []string {
		var l []string
		for _, r := range commands[*instructions.RunCommand](p.stage(t, "build")) {
			l = append(l, strings.Join(r.CmdLine, " "))
		}
		return l
	}(), "\n")
	for name := range programs {
		if !strings.Contains(rn, "/devca/kitshop/tls/"+name) {
			t.Errorf("the devca image has no /kitshop/tls/%s for the tls-%s volume", name, name)
		}
	}
}

// copies lists a stage's COPY instructions as from:src->dest.
func copies(s instructions.Stage) []string {
	var out []string
	for _, c := range commands[*instructions.CopyCommand](s) {
		out = append(out, c.From+":"+strings.Join(c.SourcePaths, ",")+"->"+c.DestPath)
	}
	return out
}

// effectiveUser is the last USER of s or of the stages it is built on.
func effectiveUser(t *testing.T, p parsed, s instructions.Stage) string {
	t.Helper()
	for {
		if us := commands[*instructions.UserCommand](s); len(us) > 0 {
			return us[len(us)-1].User
		}
		i := slices.IndexFunc(p.stages, func(st instructions.Stage) bool { return st.Name == s.BaseName })
		if i < 0 {
			return "" // the base image's user, unknown here: root for scratch
		}
		s = p.stages[i]
	}
}

func nonRootNumeric(user string) bool {
	uid, gid, _ := strings.Cut(user, ":")
	u, err := strconv.Atoi(uid)
	if err != nil || u == 0 {
		return false
	}
	if gid != "" {
		if _, err := strconv.Atoi(gid); err != nil {
			return false
		}
	}
	return true
}

// The image's Go is at least the one go.mod asks for.
func TestDockerfileGoVersion(t *testing.T) {
	p := parseDockerfile(t)
	raw, err := os.ReadFile("../../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^go (\S+)$`).FindSubmatch(raw)
	if m == nil {
		t.Fatal("go.mod has no go line")
	}
	img := p.metaArgs["GO_VERSION"]
	if img == "" || goversion.Compare("go"+img, "go"+string(m[1])) < 0 {
		t.Errorf("GO_VERSION %q is older than go.mod's go %s", img, m[1])
	}
}
