# shellcheck shell=bash
# Sourced by .ci/run (or by hand: `. .ci/chromium.sh`): Debian's chromium for
# tests/test_browser.py, which Playwright drives at /usr/bin/chromium (Playwright's
# own browser downloads are never used). Installs the package only when the binary
# is missing, non-interactively; needs root (CI runs as root). Fails when the
# binary still does not run, so CI never skips the browser tests by accident.

if [ ! -x /usr/bin/chromium ]; then
    echo "chromium: installing Debian's chromium"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends chromium >/dev/null
fi
# (Debian's launcher script warns on stderr about its own checks; the version is on stdout.)
if ! _chromium_version=$(/usr/bin/chromium --version 2>/dev/null); then
    echo "chromium: /usr/bin/chromium does not run" >&2
    return 1 2>/dev/null || exit 1
fi
echo "chromium: ${_chromium_version}"
unset _chromium_version
