#!/usr/bin/env bash
# Debian packages the cluster and end-to-end tests need. Idempotent; skips apt when all are present.
set -euo pipefail
pkgs=(openssh-server openssh-client iproute2 procps iputils-ping chromium fonts-dejavu-core)
missing=()
for p in "${pkgs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
