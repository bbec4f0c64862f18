#!/usr/bin/env bash
# Installs the agent CLIs the engine tests run for real (issue #13), pinned, under $HERD_CLIS (default /opt/herd-clis).
# Idempotent: does nothing when the pinned versions are already there. Needs npm and the npm registry.
set -euo pipefail
prefix="${HERD_CLIS:-/opt/herd-clis}"
want=("@anthropic-ai/claude-code@2.1.332" "@openai/codex@0.169.0" "@google/gemini-cli@0.61.0")
have() { [ -f "$prefix/node_modules/$1/package.json" ] && grep -q "\"version\": \"$2\"" "$prefix/node_modules/$1/package.json"; }
missing=()
for spec in "${want[@]}"; do
  name="${spec%@*}"; version="${spec##*@}"
  have "$name" "$version" || missing+=("$spec")
done
if [ "${#missing[@]}" -eq 0 ]; then
  echo "engine CLIs: pinned versions present under $prefix"
  exit 0
fi
if ! command -v npm >/dev/null 2>&1; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null
fi
mkdir -p "$prefix"
echo "engine CLIs: installing ${missing[*]} under $prefix"
npm install --prefix "$prefix" --no-audit --no-fund --loglevel=error "${want[@]}"
for bin in claude codex gemini; do
  "$prefix/node_modules/.bin/$bin" --version >/dev/null
done
