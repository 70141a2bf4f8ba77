#!/usr/bin/env bash
# The benchmarks (not tests), each printing a table: seat sync and imports against the sandbox
# Autotask, asset import against the sandbox NinjaOne,
# the hourly fan-out against moto's DynamoDB and SQS, and the functions' cold start (which
# first builds the release binaries with infra/package.sh). Extra arguments go to cargo bench,
# e.g. `--bench seat_sync`.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
case " $* " in
  *" --bench "*) case " $* " in *" cold_start "*) cold=1 ;; *) cold=0 ;; esac ;;
  *) cold=1 ;;
esac
if [ "$cold" = 1 ]; then
  # The benchmark starts native binaries: x86_64 only.
  ARCHS=x86_64 ./infra/package.sh -p hello-lambda
fi
# shellcheck source=tests/moto.sh
source "$root/tests/moto.sh"
cargo bench -p integration-tests "$@"
