#!/usr/bin/env bash
# The portal's typed client compiles: generates TypeScript types from infra/openapi.yaml with
# openapi-typescript and type-checks usage.ts (what the portal does: connect Autotask or
# ConnectWise, read the options, save a configuration, map a plan and an organization, start a
# sync, read the run, raise a ticket) with tsc --noEmit. Installs both (exact versions of package.json) into a cached folder.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cache="${XDG_CACHE_HOME:-$HOME/.cache}/msp-integrations/npm-portal-client"
mkdir -p "$cache"
if ! cmp -s "$here/package.json" "$cache/package.json" || [ ! -x "$cache/node_modules/.bin/tsc" ]; then
  echo "==> installing openapi-typescript and typescript into $cache"
  cp "$here/package.json" "$cache/package.json"
  (cd "$cache" && npm install --silent --no-audit --no-fund --no-package-lock)
fi
work="$root/target/portal-client"
rm -rf "$work" && mkdir -p "$work"
cp "$here/usage.ts" "$here/tsconfig.json" "$work/"
echo "==> openapi-typescript infra/openapi.yaml"
# A property with a default may be left out of a request.
"$cache/node_modules/.bin/openapi-typescript" "$root/infra/openapi.yaml" --default-non-nullable=false -o "$work/api.d.ts"
echo "==> tsc --noEmit (usage.ts against the generated types)"
"$cache/node_modules/.bin/tsc" -p "$work/tsconfig.json"
echo "==> the portal's typed client compiles"
