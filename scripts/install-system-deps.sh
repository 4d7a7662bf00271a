#!/usr/bin/env bash
# Installs the Debian packages the project uses: Apertium language pairs (offline rule-based
# translation into English), FreeDict dictionaries (offline keyword glosses for clustering) and
# Chromium with its driver (browser tests). Needs root and apt; otherwise prints how.
set -u
PACKAGES=(
  apertium apertium-eng-spa apertium-eng-cat apertium-fr-es apertium-es-pt apertium-spa-ita
  apertium-hbs-eng apertium-en-gl apertium-eu-en apertium-isl-eng apertium-mkd-eng apertium-eo-en
  dict-freedict-deu-eng dict-freedict-fra-eng dict-freedict-eng-deu dict-freedict-eng-fra
  chromium chromium-driver
)
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "note: optional system packages missing: ${missing[*]}" >&2
  echo "note: install them with: sudo apt-get install ${missing[*]}" >&2
  echo "note: without them the Apertium backend and the browser tests are skipped" >&2
  exit 0
fi
echo "installing system packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q >/dev/null
apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
