#!/usr/bin/env bash
# Builds the six Lambda functions with cargo lambda (release profile): x86_64 always, arm64
# too where the aarch64 target is installed. Installs cargo-lambda (with zig) from PyPI into a
# cached venv on first use. Extra arguments go to cargo lambda build.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${XDG_CACHE_HOME:-$HOME/.cache}/msp-integrations/venv-infra"
if [ ! -x "$venv/bin/cargo-lambda" ]; then
  echo "==> installing cargo-lambda into $venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check cargo-lambda
fi
export PATH="$venv/bin:$PATH"
cd "$root"

functions=(connect oauth-callback configure map sync revoke)
packages=()
for f in "${functions[@]}"; do packages+=(-p "$f"); done

echo "==> cargo lambda build --release (x86_64)"
cargo lambda build --release --x86-64 "${packages[@]}" "$@"
if rustup target list --installed 2>/dev/null | grep -q '^aarch64-unknown-linux-gnu$'; then
  echo "==> cargo lambda build --release --arm64"
  cargo lambda build --release --arm64 "${packages[@]}" "$@"
else
  echo "==> arm64 skipped: the aarch64-unknown-linux-gnu target is not installed here"
fi
for f in "${functions[@]}"; do
  test -s "target/lambda/$f/bootstrap" || { echo "missing target/lambda/$f/bootstrap"; exit 1; }
  echo "    target/lambda/$f/bootstrap $(stat -c %s "target/lambda/$f/bootstrap") bytes"
done
