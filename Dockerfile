# syntax=docker/dockerfile:1
#
# OmniSphere server image: one static binary (CGO_ENABLED=0; the SQLite driver,
# modernc.org/sqlite, is pure Go) on distroless/static, running as the
# distroless "nonroot" user (65532:65532). See docs/operations.md.
#
#   docker build -t omnisphere .
#   docker run --rm -p 8080:8080 -v omnisphere-data:/data omnisphere            # embedded SQLite + demo store
#   docker run --rm -e DATABASE_URL=… -e REDIS_URL=… -e JWT_SECRET=… omnisphere migrate
#
# No HEALTHCHECK: distroless has no shell, curl or wget, and the binary has no
# probe subcommand. Orchestrators probe over HTTP instead: GET /health
# (liveness: the process answers) and GET /ready (the database, and Redis when
# configured, answer); deploy/docker-compose.yml and deploy/k8s/ do.

# Must satisfy go.mod's `go` line (1.26.8).
ARG GO_VERSION=1.26.8

FROM golang:${GO_VERSION}-bookworm AS build
WORKDIR /src
ENV CGO_ENABLED=0 GOFLAGS=-mod=readonly GOTOOLCHAIN=local
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod \
    go mod download
COPY . .
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    go build -trimpath -ldflags "-s -w" -o /out/omnisphere . \
 && mkdir -p /out/data/media
# The binary must be static: distroless/static has no libc.
RUN if ldd /out/omnisphere >/dev/null 2>&1; then echo "omnisphere is dynamically linked" >&2; exit 1; fi

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/omnisphere /omnisphere
# DATA_DIR of the embedded mode (SQLite file, generated JWT secret, uploaded
# media). Owned by the runtime user so that a fresh named volume mounted here
# is writable. Mount a volume: the container's own layer is lost with it.
COPY --from=build --chown=65532:65532 /out/data /data
ENV DATA_DIR=/data PORT=8080
VOLUME ["/data"]
EXPOSE 8080
USER 65532:65532
ENTRYPOINT ["/omnisphere"]
CMD ["serve"]
