#!/usr/bin/env bash
# Checks infra/template.yaml with sam validate --lint, cfn-lint and checkov, and the API
# document with openapi-spec-validator. Installs the tools into a cached venv on first use.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="${XDG_CACHE_HOME:-$HOME/.cache}/msp-integrations/venv-infra"
if ! "$venv/bin/python" -c "import samcli, cfnlint, checkov, openapi_spec_validator" >/dev/null 2>&1; then
  echo "==> installing cfn-lint, checkov, aws-sam-cli, openapi-spec-validator into $venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check \
    cfn-lint checkov aws-sam-cli openapi-spec-validator
fi
export PATH="$venv/bin:$PATH"
# sam validate reads credentials/region only to exist; nothing is sent anywhere.
export AWS_DEFAULT_REGION="${AWS_DEFAULT_REGION:-eu-west-1}" SAM_CLI_TELEMETRY=0

echo "==> sam validate --lint"
sam validate --lint --template "$here/template.yaml"
echo "==> cfn-lint"
cfn-lint "$here/template.yaml"
echo "==> checkov"
checkov --quiet --compact --skip-download --framework cloudformation --file "$here/template.yaml"
echo "==> openapi-spec-validator"
openapi-spec-validator "$here/openapi.yaml"
