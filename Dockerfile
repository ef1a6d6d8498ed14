# The `storage` command as a small image, for the Kubernetes Job in docs/deploy/migrate-job.yaml.
# Stage 1 builds one static binary against musl; stage 2 is distroless (no shell, no package manager) and runs it
# as an unprivileged user. Base images are pinned by tag; pin them by digest in your own registry.
FROM docker.io/library/rust:1.95-alpine3.22 AS build
# aws-lc-sys (rustls' crypto) compiles C: a toolchain and cmake.
RUN apk add --no-cache musl-dev build-base cmake perl
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p storage-cli --bin storage \
    && cp target/release/storage /storage

FROM gcr.io/distroless/static-debian12:nonroot AS runtime
COPY --from=build /storage /usr/local/bin/storage
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/storage"]
