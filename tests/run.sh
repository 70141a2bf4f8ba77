#!/usr/bin/env bash
# The one test command: installs moto (cached venv) if missing, starts it on a free loopback
# port, runs every test of the workspace against it, and stops moto whatever happens.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=tests/moto.sh
source "$root/tests/moto.sh"
cd "$root"
cargo test --workspace "$@"
