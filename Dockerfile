# syntax=docker/dockerfile:1
#
# doppel as a container. Three stages:
#   build   - full install, `npm run build` (tsc to dist/)
#   demo    - the orders example (runs from sources with tsx; used by docker-compose.yml)
#   runtime - production dependencies only, dist/ and bin/; the default target
#
#   docker build -t doppel .
#   docker build --target demo -t doppel-demo .
#
# In a container the admin API must bind 0.0.0.0 to be scraped, and off loopback
# doppel refuses to start without DOPPEL_ADMIN_TOKEN: pass `--admin 0.0.0.0:4190`
# (or admin.listen in the config file) together with that variable.

ARG NODE_IMAGE=node:22-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

FROM ${NODE_IMAGE} AS demo
WORKDIR /app
# The example needs pg, a development dependency of doppel, so it takes the full install.
COPY --from=build /app/node_modules ./node_modules
COPY package.json tsconfig.json ./
COPY examples ./examples
USER node
ENTRYPOINT ["node", "--import", "tsx"]
CMD ["examples/orders/server-v1.ts"]

FROM ${NODE_IMAGE} AS runtime
# bin/doppel.js runs the build (dist/); the image holds no sources, and the switch says so.
ENV NODE_ENV=production DOPPEL_ENTRY=dist
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY --from=build /app/dist ./dist
COPY bin ./bin
COPY config ./config
# Traffic and reports go to a volume owned by the unprivileged user.
RUN mkdir -p /var/lib/doppel && chown node:node /var/lib/doppel
VOLUME ["/var/lib/doppel"]
# node (uid 1000) from the official image: never root.
USER node
# 4190 admin API (health, metrics); 8000 inbound proxy / shadow listener;
# 8081 HTTP dependency port; 6432 Postgres dependency port (the conventional choices
# of config/doppel.example.yaml; every listener is configurable).
EXPOSE 4190 8000 8081 6432
# Slim images have no curl: node's fetch probes the admin API. /healthz needs no token.
HEALTHCHECK --interval=15s --timeout=3s --start-period=10s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:4190/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# Exec form: node itself is PID 1 and receives SIGTERM (no shell in between), so
# doppel flushes the store and writes its report on `docker stop`. The same bin
# as `npx doppel` and a global install: one entry however doppel is started.
ENTRYPOINT ["node", "bin/doppel.js"]
CMD ["--help"]
