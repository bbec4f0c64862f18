#!/usr/bin/env bash
# What the test suite needs beyond the .NET SDK, installed only when missing, and the services it talks to, started.
# Idempotent: a second run changes nothing. Uses sudo when not root.
set -euo pipefail
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

apt_packages=()
# The Bash tool's kernel sandbox (issue #9) and its tests run real confined commands.
command -v bwrap >/dev/null 2>&1 || apt_packages+=(bubblewrap)
# The HTML report is tested in headless Chromium; the SARIF tests take the SARIF 2.1.0 schema from its npm package,
# and the engine tests install the agent CLIs with npm.
command -v chromium >/dev/null 2>&1 || apt_packages+=(chromium)
command -v npm >/dev/null 2>&1 || apt_packages+=(npm)
# The joblog tests run GNU parallel's own --resume and --retry-failed on the joblog Herd writes.
command -v parallel >/dev/null 2>&1 || apt_packages+=(parallel)
# The conformance tests validate the JUnit report with xmllint --schema and the pipelines' shell with shellcheck.
command -v xmllint >/dev/null 2>&1 || apt_packages+=(libxml2-utils)
command -v shellcheck >/dev/null 2>&1 || apt_packages+=(shellcheck)
if [ ${#apt_packages[@]} -gt 0 ]; then
  echo "prerequisites: installing ${apt_packages[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${apt_packages[@]}" >/dev/null
fi

# The engine tests (issue #13) run the real agent CLIs, pinned, from npm: claude, codex and gemini under $HERD_CLIS.
bash "$(dirname "$0")/install-clis.sh"

# The conformance tests check Herd's artifacts with their consumers' validators, pinned, from npm.
bash "$(dirname "$0")/install-validators.sh"
