# syntax=docker/dockerfile:1
# One image for every process of the hub; the command picks which one runs (docker-compose.yml,
# infra/k8s). It holds compiled JavaScript and production dependencies only: no TypeScript, no tsx,
# no tests.
#
# Node 24 LTS (24.18.0) pinned by digest (a tag moves, a digest does not). Bump tag and digest
# together, e.g. with Dependabot or Renovate; `docker buildx imagetools inspect node:24-bookworm-slim`
# prints the current one. Node 24 rather than 22: AsyncLocalStorage without async hooks, which is
# most of what tracing costs per request (README, Benchmarks), and the faster of the two here.
ARG NODE_IMAGE=node:24-bookworm-slim@sha256:6f7b03f7c2c8e2e784dcf9295400527b9b1270fd37b7e9a7285cf83b6951452d

FROM ${NODE_IMAGE} AS base
ENV PNPM_VERSION=9.15.4 CI=true
RUN npm install -g pnpm@${PNPM_VERSION}
WORKDIR /app

# Everything installed (TypeScript is a devDependency), then src/ transpiled into /out with the
# repository's layout (scripts/build.mjs).
FROM base AS build
COPY . .
RUN pnpm install --frozen-lockfile && node scripts/build.mjs --out=/out --no-link

# The compiled workspace with production dependencies only, from the same lockfile.
FROM base AS prod-deps
COPY --from=build /out /app
RUN pnpm install --frozen-lockfile --prod && rm -rf /root/.local/share/pnpm /root/.cache

FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production HOME=/tmp NODE_OPTIONS=--enable-source-maps
WORKDIR /app
# Owned by root and not writable by the app user: the root filesystem is read-only anyway in
# Kubernetes, and only /tmp (an emptyDir there) is written.
COPY --from=prod-deps /app /app
# The one place the app writes outside /tmp: archived audit segments (AUDIT_ARCHIVE_DIR), a volume
# in Compose and Kubernetes; owned by the app user so a fresh named volume starts writable.
RUN mkdir -p /var/lib/hub/audit-archive && chown 10001:10001 /var/lib/hub/audit-archive
# Numeric, so Kubernetes can prove runAsNonRoot without a passwd lookup; matches runAsUser in infra/k8s.
USER 10001:10001
EXPOSE 3000 3002 3009 3010 3019
CMD ["node", "services/api-gateway/src/server.js"]
