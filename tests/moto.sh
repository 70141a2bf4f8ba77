# Sourced by run.sh and bench.sh: installs moto[server] into a cached venv if missing, starts it
# on a free loopback port, exports MOTO_ENDPOINT, and stops it when the calling shell exits.

cache="${XDG_CACHE_HOME:-$HOME/.cache}/msp-integrations"
venv="$cache/venv-moto"
moto_version="5.2.1"

if ! "$venv/bin/python" -c "import moto.server" >/dev/null 2>&1; then
  echo "==> installing moto[server] $moto_version into $venv"
  mkdir -p "$cache"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "moto[server]==$moto_version"
fi

port="$("$venv/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')"
moto_log="$(mktemp -t moto.XXXXXX.log)"
# moto's application behind one lock: each request atomic, as on AWS (see moto_atomic.py).
"$venv/bin/python" "$(dirname "${BASH_SOURCE[0]}")/moto_atomic.py" 127.0.0.1 "$port" >"$moto_log" 2>&1 &
moto_pid=$!
stop_moto() {
  kill "$moto_pid" 2>/dev/null || true
  wait "$moto_pid" 2>/dev/null || true
  rm -f "$moto_log"
}
trap stop_moto EXIT INT TERM

for _ in $(seq 1 100); do
  if curl -sf "http://127.0.0.1:$port/moto-api/" >/dev/null 2>&1; then break; fi
  if ! kill -0 "$moto_pid" 2>/dev/null; then
    echo "moto failed to start:"; cat "$moto_log"; exit 1
  fi
  sleep 0.1
done
echo "==> moto on 127.0.0.1:$port (pid $moto_pid)"

export MOTO_ENDPOINT="http://127.0.0.1:$port"
export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_REGION=us-east-1
