#!/usr/bin/env bash
# Installs the third-party Standard Webhooks libraries the interop tests run
# against: PyPI `standardwebhooks` + `svix` (in interop/.venv) and npm
# `standardwebhooks` (in interop/node_modules). Safe to run repeatedly.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
fi
.venv/bin/pip install --quiet --disable-pip-version-check -r requirements.txt -c requirements.lock

# `npm ci` installs exactly what package-lock.json records; fall back to
# `npm install` only when no lock file exists yet (it then writes one).
if [ -f package-lock.json ]; then
    npm ci --no-audit --no-fund
else
    npm install --no-audit --no-fund
fi

.venv/bin/python -c 'import standardwebhooks, svix, cryptography, openapi_spec_validator, schemathesis; print("python libs ok")'
node -e 'import("standardwebhooks").then(() => console.log("node lib ok"))'
