#!/usr/bin/env bash
# The browser the UI tests drive: Debian's Chromium at /usr/bin/chromium, installed with apt-get when
# missing (as root, as on a fresh CI machine). Playwright is told to use it; it downloads no browser.
set -euo pipefail
[[ -x /usr/bin/chromium ]] && exit 0
if [[ "$(id -u)" != 0 ]]; then
  echo "ui_browser: /usr/bin/chromium is missing; as root: apt-get install chromium (the UI tests skip without it, and fail under CI=true)" >&2
  exit 0
fi
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
