#!/usr/bin/env bash
# The OpenID Connect provider the UI's sign-in tests start (tests/ui/test_ui_oidc.py): panva's
# oidc-provider from the npm registry, at the version tests/oidc/package-lock.json pins (with its
# integrity hashes), installed into tests/oidc/node_modules (gitignored). It runs offline on node.
set -euo pipefail

DIR="$(cd "$(dirname "$0")/.." && pwd)/tests/oidc"
STAMP="$DIR/node_modules/.stoker-lock"
if [[ -f "$STAMP" && -f "$DIR/node_modules/oidc-provider/package.json" ]] && cmp -s "$STAMP" "$DIR/package-lock.json"; then
  exit 0  # installed, from this lock file
fi
command -v npm >/dev/null || { echo "oidc_provider: npm is needed (apt-get install nodejs npm)" >&2; exit 1; }
(cd "$DIR" && npm ci --silent --no-audit --no-fund)
cp "$DIR/package-lock.json" "$STAMP"
echo "oidc_provider: $(cd "$DIR" && node -e 'console.log("oidc-provider " + require("oidc-provider/package.json").version)' 2>/dev/null || echo installed)"
