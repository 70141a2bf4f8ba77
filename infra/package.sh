#!/usr/bin/env bash
# Builds the six Lambda functions with cargo lambda (release profile, one LTO build per
# architecture) for arm64 and x86_64, each with its deployment zip:
#   target/lambda-arm64/<function>/{bootstrap,bootstrap.zip}
#   target/lambda-x86_64/<function>/{bootstrap,bootstrap.zip}
# and copies the architecture to deploy (DEPLOY_ARCH, default arm64 like the template's
# Architecture parameter) to target/lambda/<function>/, where the template's CodeUri points.
#
# Installs cargo-lambda (with zig, for cross-compiling) from PyPI into a cached venv and the
# aarch64 target through rustup on first use. ARCHS limits the architectures built (the
# cold-start benchmark builds x86_64 only); extra arguments go to cargo lambda build (e.g.
# `-p hello-lambda` to build that package too).
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

archs=(${ARCHS:-arm64 x86_64})
deploy_arch="${DEPLOY_ARCH:-arm64}"
functions=(connect oauth-callback configure map sync revoke)
packages=()
for f in "${functions[@]}"; do packages+=(-p "$f"); done

for arch in "${archs[@]}"; do
  case "$arch" in
    arm64) flag=--arm64 triple=aarch64-unknown-linux-gnu ;;
    x86_64) flag=--x86-64 triple=x86_64-unknown-linux-gnu ;;
    *) echo "unknown architecture $arch (arm64 or x86_64)"; exit 1 ;;
  esac
  if ! rustup target list --installed | grep -qx "$triple"; then
    echo "==> rustup target add $triple"
    rustup target add "$triple"
  fi
  dir="target/lambda-$arch"
  echo "==> cargo lambda build --release $flag --lambda-dir $dir"
  cargo lambda build --release "$flag" --lambda-dir "$dir" "${packages[@]}" "$@"
  # The same build again as zips: nothing compiles, cargo lambda only packs each bootstrap.
  cargo lambda build --release "$flag" --lambda-dir "$dir" --output-format zip \
    "${packages[@]}" "$@" >/dev/null
done

echo "==> sizes (bytes)"
printf '    %-16s %-8s %10s %10s\n' function arch bootstrap zip
for arch in "${archs[@]}"; do
  for f in "${functions[@]}"; do
    bin="target/lambda-$arch/$f/bootstrap"
    test -s "$bin" && test -s "$bin.zip" || { echo "missing $bin or $bin.zip"; exit 1; }
    printf '    %-16s %-8s %10s %10s\n' "$f" "$arch" "$(stat -c %s "$bin")" "$(stat -c %s "$bin.zip")"
  done
done

if printf '%s\n' "${archs[@]}" | grep -qx "$deploy_arch"; then
  echo "==> target/lambda/: the $deploy_arch build (deploy with Architecture=$deploy_arch)"
  for f in "${functions[@]}"; do
    mkdir -p "target/lambda/$f"
    cp "target/lambda-$deploy_arch/$f/bootstrap" "target/lambda-$deploy_arch/$f/bootstrap.zip" \
      "target/lambda/$f/"
  done
fi
