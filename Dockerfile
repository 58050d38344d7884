# kitshop container images: one build stage compiles every program, then
# one small final stage per program, chosen with --target:
#
#   docker build --target users --build-arg VERSION=v1.4.0 -t kitshop/users:v1.4.0 .
#
# targets: registry users products orders payments gateway (one program each)
# and devca (the development certificate generator, for ops/compose.yaml).
#
# Why one Dockerfile and not one per program: the programs are one Go module
# that shares kit/ and pb/, so one `go build` compiles those once for all
# of them and every image is built from the same source, flags and
# toolchain. Six near-identical files would rebuild the shared code six
# times and drift apart. Each target still holds only its own program.
#
# The final images are distroless static: CA certificates, tzdata and an
# /etc/passwd, no shell, no package manager, nothing that needs patching
# but Go's own code. They run as uid 65532 (numeric, so that Kubernetes'
# runAsNonRoot can verify it).
#
# Health: no HEALTHCHECK. An image-level check would need a shell or curl,
# and Kubernetes ignores it anyway: orchestrators probe GET /health/live
# and /health/ready on the HTTP port (ops/k8s). For orchestrators that run
# a command in the container (compose, swarm), each image carries
# kitshop-shim (ops/shim, a few MB, static), and ops/compose.yaml declares
# `kitshop-shim probe https://localhost:<port>/health/ready`.

ARG GO_VERSION=1.26.8
# Pinned by tag, never latest; pin by digest too where builds must be
# reproducible bit for bit.
ARG RUNTIME_IMAGE=gcr.io/distroless/static-debian12:nonroot

# --platform=$BUILDPLATFORM: compile natively and cross-compile to the
# target architecture (pure Go, CGO off), instead of emulating it.
FROM --platform=$BUILDPLATFORM golang:${GO_VERSION} AS build
WORKDIR /src
# Static binaries: no libc at run time, so they run on distroless static
# (or scratch). -buildvcs=false: the build context has no .git.
ENV CGO_ENABLED=0 GOFLAGS=-buildvcs=false
# Modules first, in their own layer: a source change does not download again.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
# VERSION is what every binary reports in /health/live and registers as
# (kit/config.Version; KITSHOP_SERVICE_VERSION still overrides the latter).
ARG VERSION=dev
# Set by BuildKit from --platform; the defaults are for other builders.
ARG TARGETOS TARGETARCH
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    GOOS=${TARGETOS:-linux} GOARCH=${TARGETARCH:-amd64} go build -trimpath \
      -ldflags "-s -w -X github.com/kitshop/kitshop/kit/config.Version=${VERSION}" \
      -o /out/ \
      ./registry ./users ./products ./orders ./payments ./gateway ./ops/devca ./ops/shim
# The devca image's output directories, owned by its user: a new named
# volume mounted there takes their owner, so devca can write into it
# without running as root.
RUN mkdir -p /devca/kitshop/ca \
      /devca/kitshop/tls/public /devca/kitshop/tls/registry /devca/kitshop/tls/users \
      /devca/kitshop/tls/products /devca/kitshop/tls/orders /devca/kitshop/tls/payments \
      /devca/kitshop/tls/gateway

FROM ${RUNTIME_IMAGE} AS runtime
USER 65532:65532
COPY --from=build /out/shim /usr/local/bin/kitshop-shim

FROM runtime AS registry
COPY --from=build /out/registry /usr/local/bin/registry
# HTTP view (health, metrics, Prometheus discovery); etcd clients.
EXPOSE 8090 2379
ENTRYPOINT ["/usr/local/bin/registry"]

FROM runtime AS users
COPY --from=build /out/users /usr/local/bin/users
EXPOSE 8081 9081
ENTRYPOINT ["/usr/local/bin/users"]

FROM runtime AS products
COPY --from=build /out/products /usr/local/bin/products
EXPOSE 8082 9082
ENTRYPOINT ["/usr/local/bin/products"]

FROM runtime AS orders
COPY --from=build /out/orders /usr/local/bin/orders
EXPOSE 8083 9083
ENTRYPOINT ["/usr/local/bin/orders"]

FROM runtime AS payments
COPY --from=build /out/payments /usr/local/bin/payments
EXPOSE 8084 9084
ENTRYPOINT ["/usr/local/bin/payments"]

FROM runtime AS devca
COPY --from=build --chown=65532:65532 /devca/kitshop /kitshop
COPY --from=build /out/devca /usr/local/bin/devca
ENTRYPOINT ["/usr/local/bin/devca"]

# Last, so that a plain `docker build .` builds the public entry point.
FROM runtime AS gateway
COPY --from=build /out/gateway /usr/local/bin/gateway
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/gateway"]
