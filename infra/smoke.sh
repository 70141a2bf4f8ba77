#!/usr/bin/env bash
# Smoke run of the arm64 build (the template's default architecture): each of the six
# target/lambda-arm64/<function>/bootstrap binaries runs under qemu user-mode emulation against
# a local Runtime API stub and must answer one real event fixture as expected (see
# tests/src/bin/lambda_smoke.rs). Installs Debian's qemu-user and the aarch64 C library when
# missing, and starts moto for the functions' storage. Run infra/package.sh first.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

sysroot=/usr/aarch64-linux-gnu
if ! command -v qemu-aarch64 >/dev/null || [ ! -e "$sysroot/lib/ld-linux-aarch64.so.1" ]; then
  echo "==> installing qemu-user and libc6-arm64-cross (apt-get)"
  sudo=""; [ "$(id -u)" = 0 ] || sudo=sudo
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq qemu-user libc6-arm64-cross >/dev/null
fi
for f in connect oauth-callback configure map sync revoke; do
  test -x "target/lambda-arm64/$f/bootstrap" || { echo "missing target/lambda-arm64/$f/bootstrap: run infra/package.sh"; exit 1; }
done

# shellcheck source=tests/moto.sh
source "$root/tests/moto.sh"
echo "==> arm64 binaries under qemu-aarch64, one event fixture each"
cargo run --quiet -p integration-tests --bin lambda_smoke -- \
  target/lambda-arm64 qemu-aarch64 -L "$sysroot"
