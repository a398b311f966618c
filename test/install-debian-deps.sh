#!/usr/bin/env bash
# Debian packages the demo and the tests need; apt runs only when something is missing, so a
# second run takes a fraction of a second. Services are never started here; each test harness
# starts its own.
#   bash test/install-debian-deps.sh          # everything npm test needs
#   bash test/install-debian-deps.sh demo     # only what npm run demo needs
set -euo pipefail
demo=(
  openssh-server openssh-client   # one sshd per cluster node
  iproute2 procps net-tools psmisc util-linux iputils-ping   # namespaces, veth, ss/netstat, ps
  openssl ca-certificates          # the simulator's self-signed HTTPS certificates
  unzip zip passwd                 # installer packages are zips; the harness adds its test user
  mariadb-server mariadb-client    # the cluster's shared database
  nginx-light                      # the load balancer in front of the nodes
)
tests_only=(
  openjdk-17-jdk-headless          # java.util.Properties cross-check of the silent install.properties
  ansible                          # the benchmark's comparison tool
  sudo                             # the serviceUser test cluster: the SSH user becomes the service user or root
  chromium fonts-dejavu-core       # real Chromium for the end-to-end tests
  systemd-container debootstrap    # the systemd cluster: nspawn nodes booting a debootstrapped root
)
case "${1:-test}" in
demo) pkgs=("${demo[@]}") ;;
test) pkgs=("${demo[@]}" "${tests_only[@]}") ;;
*) echo "use: $0 [test|demo]" >&2; exit 2 ;;
esac

# One dpkg-query for all of them: "install ok installed" is the only state that counts.
missing=()
while read -r status pkg; do
  [ "$status" = installed ] || missing+=("$pkg")
done < <(for p in "${pkgs[@]}"; do
  s=$(dpkg-query -W -f '${db:Status-Status}' "$p" 2>/dev/null || true)
  echo "${s:-absent} $p"
done)

if [ ${#missing[@]} -eq 0 ]; then
  echo "Debian packages: all ${#pkgs[@]} present"
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  echo "Debian packages missing: ${missing[*]}" >&2
  echo "  run as root (or: sudo apt-get install ${missing[*]}); the tests that need them report themselves skipped" >&2
  exit 3
fi
echo "Debian packages: installing ${missing[*]} (apt-get; a few minutes on a new machine)"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# policy-rc.d keeps the packages' own services from starting: the tests run their own instances.
printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
trap 'rm -f /usr/sbin/policy-rc.d' EXIT
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/tmp/ucd-apt-install.log 2>&1 \
  || { tail -20 /tmp/ucd-apt-install.log >&2; echo "apt-get install failed (full log: /tmp/ucd-apt-install.log)" >&2; exit 1; }
echo "Debian packages: installed ${#missing[@]}"
