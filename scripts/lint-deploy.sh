#!/usr/bin/env bash
# Lints the deployment files without a Docker engine (none runs here or in CI):
#   - Dockerfile: dockerfile-utils (npm; the linter of the VS Code Docker extension: instruction,
#     flag and argument validation). hadolint is in neither npm nor Debian.
#   - docker-compose.yml: dclint (npm; validates against the Compose specification schema plus
#     best-practice rules). Ordering rules are style only and are off: the services are listed in
#     start order (redis, firestore, api, worker, beat). The top-level `name` is left out on
#     purpose (project name = directory) so Debian's docker-compose 1.29 can parse the file too.
#   - `docker compose config` / `docker-compose config` as well, when one of them is installed
#     (the Debian docker client here has no compose plugin; `apt-get install docker-compose` gives
#     1.29, whose `config` parses and validates the file without an engine).
# Everything runs offline from node_modules.
set -euo pipefail
cd "$(dirname "$0")/.."

bin=node_modules/.bin
status=0

echo "== Dockerfile (dockerfile-utils lint)"
"$bin/dockerfile-utils" lint Dockerfile || status=1

echo "== docker-compose.yml (dclint)"
"$bin/dclint" docker-compose.yml \
  --max-warnings 0 \
  --disable-rule service-keys-order \
  --disable-rule services-alphabetical-order \
  --disable-rule top-level-properties-order \
  --disable-rule require-project-name-field || status=1

if docker compose version >/dev/null 2>&1; then
  echo "== docker compose config"
  docker compose -f docker-compose.yml config --quiet || status=1
elif command -v docker-compose >/dev/null 2>&1; then
  echo "== docker-compose config"
  docker-compose -f docker-compose.yml config --quiet || status=1
else
  echo "== docker compose config: skipped (no compose CLI installed)"
fi

if [ "$status" -eq 0 ]; then echo "lint:deploy ok"; else echo "lint:deploy FAILED"; fi
exit "$status"
