# kurve: multi-stage build of the web client and the server, run as a non-root user.
#   docker build -t kurve .
#   docker run -p 4000:4000 -e KURVE_SECRET=$(openssl rand -hex 32) -v kurve-data:/data kurve
# A node of a cluster takes the server's flags (CONTRACT §9), e.g.
#   docker run -p 4001:4000 -e KURVE_SECRET=… kurve \
#     --cluster nats://nats:4222 --node-id a --database-url postgres://kurve@db/kurve

# 1. The web client (static files).
FROM node:20-bookworm-slim AS web
WORKDIR /src/web-client
COPY web-client/package.json web-client/package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY web-client/ ./
RUN npm run build

# 2. The server.
FROM rust:1-bookworm AS server
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY shared/ shared/
COPY server/ server/
COPY tests/ tests/
RUN cargo build --release --locked -p kurve-server

# 3. The runtime image.
FROM debian:bookworm-slim
RUN useradd --system --create-home --home-dir /home/kurve --uid 10001 kurve \
    && mkdir -p /data /app \
    && chown kurve:kurve /data
WORKDIR /app
COPY --from=server /src/target/release/kurve-server /usr/local/bin/kurve-server
COPY --from=web /src/web-client/dist /app/web-client/dist
COPY assets/ /app/assets/
USER kurve
# Two glibc malloc arenas instead of eight per core: a burst of connections served on
# many worker threads otherwise leaves freed memory in every thread's arena (docs/PERF.md,
# "Memory after bursts of rejected upgrades": 13 → 33 MB and climbing on 16 threads,
# 13 → 20 MB with 2 arenas).
ENV MALLOC_ARENA_MAX=2 \
    KURVE_BIND=0.0.0.0:4000 \
    KURVE_DATABASE_URL=sqlite:///data/kurve.db \
    KURVE_STATIC_DIR=/app/web-client/dist \
    RUST_LOG=info
EXPOSE 4000
VOLUME ["/data"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/kurve-server"]
