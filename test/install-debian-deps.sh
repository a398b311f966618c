#!/usr/bin/env bash
# Debian packages the cluster, end-to-end and benchmark tests need. Idempotent: apt runs only
# when something is missing. Services are never started here; each test harness starts its own.
set -euo pipefail
pkgs=(
  openssh-server openssh-client   # one sshd per test node; the OpenSSH client for the benchmark
  iproute2 procps net-tools psmisc util-linux iputils-ping   # namespaces, veth, ss/netstat, ps
  openssl ca-certificates          # the simulator's self-signed HTTPS certificates
  unzip zip passwd                 # installer packages are zips; the harness adds its test user
  openjdk-17-jdk-headless          # java.util.Properties cross-check of the silent install.properties
  mariadb-server mariadb-client    # the cluster's shared database
  nginx-light                      # the load balancer in front of the nodes
  ansible                          # the benchmark's comparison tool
  chromium fonts-dejavu-core       # real Chromium for the end-to-end tests
)
missing=()
for p in "${pkgs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  apt-get update -qq
  # policy-rc.d keeps the packages' own services from starting: the tests run their own instances.
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
  trap 'rm -f /usr/sbin/policy-rc.d' EXIT
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
