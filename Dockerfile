# One image for every service; SERVICE picks which one runs (see docker-compose.yml).
FROM node:20-bookworm-slim AS base
ENV PNPM_VERSION=9.15.4 NODE_ENV=production
WORKDIR /app
RUN npm install -g pnpm@${PNPM_VERSION}

FROM base AS deps
COPY pnpm-lock.yaml pnpm-workspace.yaml package.json ./
COPY packages/contracts/package.json packages/contracts/
COPY packages/crypto/package.json packages/crypto/
COPY packages/internal-auth/package.json packages/internal-auth/
COPY packages/service-kit/package.json packages/service-kit/
COPY packages/provider-simulators/package.json packages/provider-simulators/
COPY services/api-gateway/package.json services/api-gateway/
COPY services/venue-service/package.json services/venue-service/
COPY services/integration-service/package.json services/integration-service/
COPY services/compliance-service/package.json services/compliance-service/
RUN pnpm install --frozen-lockfile --prod=false

FROM base AS runtime
COPY --from=deps /app/node_modules ./node_modules
COPY --from=deps /app/packages ./packages
COPY --from=deps /app/services ./services
COPY . .
RUN pnpm install --frozen-lockfile --offline --prod=false && pnpm typecheck
USER node
ARG SERVICE=api-gateway
ENV SERVICE=${SERVICE}
CMD ["sh", "-c", "exec node --import tsx services/${SERVICE}/src/server.ts"]
