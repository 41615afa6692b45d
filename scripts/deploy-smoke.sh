#!/usr/bin/env bash
# Boots both deployment paths on real runtimes and checks them end to end. Needs Docker (with
# compose), kind and kubectl; the CI machines have none of them, so CI runs the static checks in
# infra/test instead, and this script is run by hand or by a pipeline that has them:
#
#   scripts/deploy-smoke.sh            # both
#   scripts/deploy-smoke.sh compose    # or only one
#   scripts/deploy-smoke.sh kind
#
# For each path: build the image (the production one, compiled JavaScript), start the stack, wait
# for every process's /ready, then through the gateway mint a development token, create a venue
# and read it back, and run the e2e system tests (e2e/) with E2E_GATEWAY_URL pointing at the stack.
set -euo pipefail
cd "$(dirname "$0")/.."

what="${1:-all}"
tag="smoke-$(git rev-parse --short HEAD)"
image="venue-hub:${tag}"
need() { command -v "$1" >/dev/null || { echo "deploy-smoke: $1 is required" >&2; exit 1; }; }
step() { printf '\033[36m▸\033[0m %s\n' "$*"; }

wait_ready() { # url, seconds
  local deadline=$((SECONDS + $2))
  until curl -fsS "$1" >/dev/null 2>&1; do
    [ $SECONDS -lt $deadline ] || { echo "deploy-smoke: $1 not ready after $2 s" >&2; return 1; }
    sleep 2
  done
}

api_smoke() { # gateway base URL, JWT secret
  local base="$1" tenant token venue
  tenant="$(node -e "console.log(crypto.randomUUID())")"
  token="$(JWT_SECRET="$2" JWT_ISSUER=venue-hub-dev NODE_ENV=development node --import tsx scripts/token.ts --tenant "$tenant" --role admin)"
  venue="$(curl -fsS -X POST "$base/api/v1/venues" -H "authorization: Bearer $token" -H 'content-type: application/json' \
    -d '{"name":"Smoke Hall","timezone":"Europe/London"}' | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).id))')"
  curl -fsS "$base/api/v1/venues/$venue" -H "authorization: Bearer $token" >/dev/null
  step "created and read venue $venue through $base"
  if [ -d e2e ]; then
    step "e2e system tests against $base"
    E2E_GATEWAY_URL="$base" E2E_JWT_SECRET="$2" NODE_ENV=test node --import tsx --test --test-concurrency=1 --test-force-exit e2e/*.test.ts
  fi
}

build_image() {
  need docker
  step "building $image"
  docker build -t "$image" -t venue-hub:local .
}

smoke_compose() {
  need docker
  step "compose: up"
  docker compose up -d --wait --wait-timeout 300
  trap 'docker compose down -v' RETURN
  for port in 3000; do wait_ready "http://127.0.0.1:${port}/ready" 120; done
  docker compose ps
  api_smoke http://127.0.0.1:3000 dev-only-compose-jwt-secret-change-me-0123456789
}

smoke_kind() {
  need kind; need kubectl
  local cluster=venue-hub-smoke secret dir
  secret="dev-only-kind-$(openssl rand -hex 24)"
  step "kind: cluster $cluster"
  kind create cluster --name "$cluster" --wait 120s
  trap 'kind delete cluster --name "$cluster"' RETURN
  kind load docker-image "$image" --name "$cluster"

  step "kind: what CI validated is what kubectl renders"
  for overlay in dev dev/migrate production production/migrate; do node --import tsx scripts/k8s-render.ts "$overlay" --compare; done

  step "kind: Postgres and Redis (venue-hub-deps) and the Secrets"
  kubectl create namespace venue-hub-deps
  kubectl -n venue-hub-deps run postgres --image=postgres:16-alpine --env=POSTGRES_HOST_AUTH_METHOD=trust --port=5432 --expose
  kubectl -n venue-hub-deps run redis --image=redis:7-alpine --port=6379 --expose -- redis-server --maxmemory-policy noeviction --appendonly yes
  kubectl -n venue-hub-deps wait --for=condition=ready pod/postgres pod/redis --timeout=180s
  kubectl apply -f infra/k8s/base/namespace.yaml
  local pg=postgres.venue-hub-deps.svc redis=redis://redis.venue-hub-deps.svc:6379 keys
  keys="{\"api-gateway\":{\"k1\":\"$secret-gw\"},\"venue-service\":{\"k1\":\"$secret-venue\"},\"integration-service\":{\"k1\":\"$secret-int\"},\"compliance-service\":{\"k1\":\"$secret-comp\"}}"
  for svc in api-gateway venue-service compliance-service; do
    local role="hub_${svc%-service}"
    kubectl -n venue-hub create secret generic "$svc-secrets" --from-literal=REDIS_URL="$redis" --from-literal=INTERNAL_AUTH_KEYS="$keys" --from-literal=JWT_SECRET="$secret" \
      $( [ "$svc" != api-gateway ] && echo "--from-literal=DATABASE_URL=postgres://$role@$pg:5432/venue_hub" )
  done
  kubectl -n venue-hub create secret generic integration-service-secrets --from-literal=REDIS_URL="$redis" --from-literal=INTERNAL_AUTH_KEYS="$keys" --from-literal=JWT_SECRET="$secret" \
    --from-literal=DATABASE_URL="postgres://hub_integration@$pg:5432/venue_hub" --from-literal=ENCRYPTION_KEYS="{\"1\":\"$(openssl rand -base64 32)\"}"
  kubectl -n venue-hub create secret generic venue-hub-migrate-secrets --from-literal=DATABASE_ADMIN_URL="postgres://postgres@$pg:5432/venue_hub"

  # The dev overlay with this build's tag: a throwaway overlay on top of it.
  dir="$(mktemp -d)"; mkdir -p "$dir/migrate"
  printf 'apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources: [%s]\nimages: [{ name: venue-hub, newTag: "%s" }]\n' "$PWD/infra/k8s/overlays/dev" "$tag" > "$dir/kustomization.yaml"
  printf 'apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nnamespace: venue-hub\nnameSuffix: -%s\nresources: [%s]\nimages: [{ name: venue-hub, newTag: "%s" }]\n' "$tag" "$PWD/infra/k8s/migrate" "$tag" > "$dir/migrate/kustomization.yaml"

  step "kind: migrate, then roll out"
  kubectl apply -k "$dir/migrate"
  kubectl -n venue-hub wait --for=condition=complete "job/venue-hub-migrate-$tag" --timeout=300s
  kubectl apply -k "$dir"
  kubectl -n venue-hub rollout status deploy --timeout=300s
  kubectl -n venue-hub port-forward svc/api-gateway 18080:3000 >/dev/null &
  local forward=$!
  wait_ready http://127.0.0.1:18080/ready 60
  api_smoke http://127.0.0.1:18080 "$secret"
  kill "$forward"
}

build_image
case "$what" in
  compose) smoke_compose ;;
  kind) smoke_kind ;;
  all) smoke_compose; smoke_kind ;;
  *) echo "usage: $0 [compose|kind|all]" >&2; exit 2 ;;
esac
step "deploy smoke passed"
