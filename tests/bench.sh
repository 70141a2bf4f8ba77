#!/usr/bin/env bash
# The benchmarks (not tests): seat sync against the sandbox Autotask, and the hourly fan-out
# against moto's DynamoDB and SQS. Each prints a table. Extra arguments go to cargo bench.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=tests/moto.sh
source "$root/tests/moto.sh"
cd "$root"
cargo bench -p integration-tests "$@"
