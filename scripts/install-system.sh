#!/usr/bin/env bash
# Install the Debian packages that the integration tests and `pdfrag stack`
# need. Idempotent: installs only what is missing, and runs `apt-get update`
# only when something has to be installed.
#
#   ceph (radosgw ceph-mon ceph-osd): a real S3 server (Ceph RADOS Gateway),
#       single node on 127.0.0.1, memstore OSD, auth none (pdfrag.stack.rgw).
#   chromium chromium-driver: browser tests.
#   tools: helm and the compose-spec schema for tests/infra, into .tools/ by
#       scripts/install-tools.sh (npm; no root needed). If that fails, the
#       tests that need them skip and say why.
#
# Groups can be chosen: `install-system.sh ceph`, `browser` or `tools`;
# with no argument, all of them. Not root and something missing: prints the
# command to run and exits 1.
set -euo pipefail

CEPH_PKGS=(radosgw ceph-mon ceph-osd)
BROWSER_PKGS=(chromium chromium-driver)

groups=("$@")
[ ${#groups[@]} -eq 0 ] && groups=(ceph browser tools)

want_ceph=()
want_browser=()
for g in "${groups[@]}"; do
    case "$g" in
        ceph) want_ceph=("${CEPH_PKGS[@]}") ;;
        browser) want_browser=("${BROWSER_PKGS[@]}") ;;
        tools) "$(dirname "$0")/install-tools.sh" || echo "warning: infra test tools not installed (see above)" >&2 ;;
        *) echo "unknown group: $g (use ceph, browser, tools)" >&2; exit 2 ;;
    esac
done

installed() {
    [ "$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null || true)" = "installed" ]
}

missing() {
    local p
    for p in "$@"; do
        installed "$p" || printf '%s\n' "$p"
    done
}

mapfile -t miss_ceph < <(missing ${want_ceph[@]+"${want_ceph[@]}"})
mapfile -t miss_browser < <(missing ${want_browser[@]+"${want_browser[@]}"})

if [ ${#miss_ceph[@]} -eq 0 ] && [ ${#miss_browser[@]} -eq 0 ]; then
    echo "system packages: all present" >&2
    exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
    echo "apt-get not found: install these packages with your package manager:" \
        "${miss_ceph[*]:-} ${miss_browser[*]:-}" >&2
    exit 1
fi

if [ "$(id -u)" -ne 0 ]; then
    echo "missing system packages; run as root:" >&2
    echo "  apt-get update" >&2
    [ ${#miss_ceph[@]} -gt 0 ] && echo "  apt-get install -y --no-install-recommends ${miss_ceph[*]}" >&2
    [ ${#miss_browser[@]} -gt 0 ] && echo "  apt-get install -y ${miss_browser[*]}" >&2
    exit 1
fi

export DEBIAN_FRONTEND=noninteractive
echo "apt-get update…" >&2
apt-get update -q
if [ ${#miss_ceph[@]} -gt 0 ]; then
    echo "installing ${miss_ceph[*]}…" >&2
    apt-get install -y -q --no-install-recommends "${miss_ceph[@]}"
fi
if [ ${#miss_browser[@]} -gt 0 ]; then
    echo "installing ${miss_browser[*]}…" >&2
    apt-get install -y -q "${miss_browser[@]}"
fi
echo "system packages: installed" >&2
