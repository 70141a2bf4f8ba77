#!/usr/bin/env bash
# The one test command: installs moto (cached venv) if missing, starts it on a free loopback
# port, runs every test of the workspace against it, stops moto whatever happens, then holds
# the running API to its document with schemathesis (tests/schemathesis.sh).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=tests/moto.sh
source "$root/tests/moto.sh"
cd "$root"
cargo test --workspace "$@"
# The API against infra/openapi.yaml: schemathesis, every check and phase, 0 failures.
"$root/tests/schemathesis.sh"
