#!/usr/bin/env bash
# The web UI's third-party assets, fetched from the npm registry at pinned versions (checked against
# the integrity hash pinned here) into src/stoker/ui/static/vendor/, which is gitignored: the UI
# serves them itself, so a browser never loads anything from elsewhere.
set -euo pipefail

VENDOR="$(cd "$(dirname "$0")/.." && pwd)/src/stoker/ui/static/vendor"
# package@version  integrity  files (inside the package) to keep
PACKAGES=(
  "uplot@1.6.32 sha512-KIMVnG68zvu5XXUbC4LQEPnhwOxBuLyW1AHtpm6IKTXImkbLgkMy+jabjLgSLMasNuGGzQm/ep3tOkyTxpiQIw== dist/uPlot.iife.min.js dist/uPlot.min.css"
)

STAMP="$VENDOR/.versions"
WANTED="$(printf '%s\n' "${PACKAGES[@]}")"
if [[ -f "$STAMP" && "$(cat "$STAMP")" == "$WANTED" ]]; then
  exit 0  # already there, at these versions
fi
command -v npm >/dev/null || { echo "ui_assets: npm is needed to fetch the UI's libraries (apt-get install nodejs npm)" >&2; exit 1; }

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$VENDOR"
for entry in "${PACKAGES[@]}"; do
  read -r spec integrity files <<<"$entry"
  tarball="$(cd "$work" && npm pack --silent "$spec")"
  actual="sha512-$(openssl dgst -sha512 -binary "$work/$tarball" | base64 -w0)"
  if [[ "$actual" != "$integrity" ]]; then
    echo "ui_assets: $spec does not match its pinned integrity ($actual)" >&2
    exit 1
  fi
  tar -xzf "$work/$tarball" -C "$work"
  for f in $files; do
    cp "$work/package/$f" "$VENDOR/"
  done
  rm -rf "$work/package"
done
printf '%s\n' "${PACKAGES[@]}" >"$STAMP"
echo "ui_assets: $(ls "$VENDOR" | tr '\n' ' ')"
