# syntax=docker/dockerfile:1
# eidastatsd container image: a static binary on distroless, non-root.
#
#   docker build -t eidastatsd --build-arg VERSION=0.1.0 .
#   docker run -d --name eidastatsd \
#     -v /home/sysop/.seiscomp/log:/var/log/seiscomp:ro \
#     -v eidastatsd-state:/var/lib/eidastatsd \
#     -v /etc/eidastatsd/token:/run/secrets/token:ro \
#     --group-add "$(getent group sysop | cut -d: -f3)" \
#     -p 127.0.0.1:9469:9469 eidastatsd
# See README.md, section Container.

FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=0.1.0-dev
RUN CGO_ENABLED=0 go build -trimpath \
      -ldflags "-s -w -X github.com/eida/eidastatsd/pkg/buildinfo.Version=${VERSION}" \
      -o /out/usr/local/bin/eidastatsd ./cmd/eidastatsd
RUN mkdir -p /out/etc/eidastatsd /out/var/lib/eidastatsd \
 && cp configs/eidastatsd.yaml /out/etc/eidastatsd/eidastatsd.yaml

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/usr/local/bin/eidastatsd /usr/local/bin/eidastatsd
COPY --from=build /out/etc/eidastatsd/eidastatsd.yaml /etc/eidastatsd/eidastatsd.yaml
# nonroot is uid/gid 65532; a new named volume inherits this ownership.
COPY --from=build --chown=65532:65532 /out/var/lib/eidastatsd /var/lib/eidastatsd
USER 65532:65532
# The token, as a Docker/Compose secret named "token" (/run/secrets/token),
# read through the same path as systemd's LoadCredential.
ENV CREDENTIALS_DIRECTORY=/run/secrets
# The container's settings over the shipped defaults: the log where the
# volume is mounted, the HTTP server reachable through -p.
ENV EIDASTATSD_LOG_PATH=/var/log/seiscomp/fdsnws-requests.log \
    EIDASTATSD_HTTP_LISTEN=0.0.0.0:9469
VOLUME ["/var/lib/eidastatsd"]
# Mount the SeisComP log directory here, read-only.
VOLUME ["/var/log/seiscomp"]
EXPOSE 9469
# A static image has no curl: the binary checks itself.
HEALTHCHECK --interval=30s --timeout=10s --start-period=30s --retries=3 \
  CMD ["/usr/local/bin/eidastatsd", "healthcheck"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/eidastatsd"]
CMD ["run", "--config", "/etc/eidastatsd/eidastatsd.yaml"]
