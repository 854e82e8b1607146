#!/usr/bin/env bash
# Set up a fresh machine for aiodag: Graphviz's `dot` (system package) and a virtual
# environment in .venv with aiodag and everything its tests, linters and benchmarks use;
# for the drawing tests also Node.js with the Mermaid parser (tests/mermaid, from npm)
# and Chromium (the live page's test).  Safe to run again: it only installs what is
# missing.
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
APT_UPDATED=""
apt_install() {  # apt_install PACKAGE... (Debian, Ubuntu)
    if [ -z "$APT_UPDATED" ]; then
        $SUDO apt-get update -qq
        APT_UPDATED=1
    fi
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "$@" >/dev/null
}

if ! command -v dot >/dev/null 2>&1; then
    echo "setup: installing Graphviz (dot)" >&2
    if command -v apt-get >/dev/null 2>&1; then
        apt_install graphviz
    elif command -v brew >/dev/null 2>&1; then
        brew install graphviz
    else
        echo "setup: please install Graphviz (https://graphviz.org/download/) so that 'dot' is on PATH" >&2
        exit 1
    fi
fi

# Test tools: Node.js and npm (the Mermaid parser), Chromium (headless, the live page).
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    echo "setup: installing Node.js and npm (the tests run the Mermaid parser)" >&2
    if command -v apt-get >/dev/null 2>&1; then
        apt_install nodejs npm
    elif command -v brew >/dev/null 2>&1; then
        brew install node
    else
        echo "setup: please install Node.js 18 or later with npm (https://nodejs.org/)" >&2
        exit 1
    fi
fi
if ! command -v chromium >/dev/null 2>&1 && ! command -v chromium-browser >/dev/null 2>&1; then
    echo "setup: installing Chromium (the tests look at the live page in it)" >&2
    if command -v apt-get >/dev/null 2>&1; then
        apt_install chromium
    else
        echo "setup: please install Chromium so that 'chromium' is on PATH" >&2
        exit 1
    fi
fi
# The exact versions pinned in tests/mermaid/package-lock.json; again only when it changed.
if ! cmp -s tests/mermaid/package-lock.json tests/mermaid/node_modules/.aiodag-installed-lock; then
    echo "setup: installing the Mermaid parser for the tests (npm ci in tests/mermaid)" >&2
    npm ci --prefix tests/mermaid --no-audit --no-fund --ignore-scripts --loglevel=error >/dev/null
    cp tests/mermaid/package-lock.json tests/mermaid/node_modules/.aiodag-installed-lock
fi

PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install -q --disable-pip-version-check -e ".[dev]"
echo "setup: ready (.venv, $(dot -V 2>&1))" >&2
