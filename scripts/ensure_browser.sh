#!/usr/bin/env bash
# Install Debian's chromium for the sidebar's browser test, only when it is missing.
# Playwright drives it through executable_path (playwright cannot download browsers here).
set -euo pipefail
if [ -x /usr/bin/chromium ]; then
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    SUDO=sudo
else
    SUDO=
fi
echo "ensure_browser: installing chromium for the browser tests" >&2
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
test -x /usr/bin/chromium
