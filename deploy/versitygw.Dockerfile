# The S3 backend for the compose cluster and its tests: versitygw (posix
# backend) as a static binary in a scratch image. `make docker-images`
# prepares the context from the cached `make tools` build (CGO_ENABLED=0)
# plus the strata binary, which serves as the healthcheck probe.
#
#   docker build -f deploy/versitygw.Dockerfile -t strata-versitygw:dev build/docker/versitygw
#
# Root keys come from the environment (ROOT_ACCESS_KEY_ID,
# ROOT_SECRET_ACCESS_KEY), as versitygw documents.
FROM scratch

# data/ (the posix root, a volume) and tmp/ pre-owned by the runtime user:
# nothing can mkdir or chown inside a scratch container.
COPY --chown=65532:65532 rootfs/ /
COPY versitygw /versitygw
# Only the healthcheck probe: a scratch image has no curl.
COPY strata /strata

ENV TMPDIR=/tmp
USER 65532:65532
WORKDIR /data
VOLUME /data
EXPOSE 7070

ENTRYPOINT ["/versitygw"]
HEALTHCHECK --interval=5s --timeout=4s --start-period=20s --retries=3 \
    CMD ["/strata", "health", "--url", "http://127.0.0.1:7070/health", "--timeout", "3s"]

CMD ["--port", ":7070", "--health", "/health", "--quiet", "posix", "/data"]
