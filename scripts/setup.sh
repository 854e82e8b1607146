#!/usr/bin/env bash
# Set up a fresh machine for aiodag: Graphviz's `dot` (system package) and a virtual
# environment in .venv with aiodag and everything its tests, linters and benchmarks use.
# Safe to run again: it only installs what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v dot >/dev/null 2>&1; then
    echo "setup: installing Graphviz (dot)" >&2
    if command -v apt-get >/dev/null 2>&1; then
        SUDO=""
        [ "$(id -u)" -eq 0 ] || SUDO="sudo"
        $SUDO apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq graphviz >/dev/null
    elif command -v brew >/dev/null 2>&1; then
        brew install graphviz
    else
        echo "setup: please install Graphviz (https://graphviz.org/download/) so that 'dot' is on PATH" >&2
        exit 1
    fi
fi

PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install -q --disable-pip-version-check -e ".[dev]"
echo "setup: ready (.venv, $(dot -V 2>&1))" >&2
