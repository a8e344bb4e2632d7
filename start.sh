#!/usr/bin/env bash
# Starts the HTTP service and its page on http://127.0.0.1:7860/. Flags go to 'assistant serve' (see --help).
set -euo pipefail
cd "$(dirname "$0")"
if [ ! -x .venv/bin/assistant ]; then
    echo "The assistant is not installed yet. Run ./setup.sh first."
    exit 1
fi
exec .venv/bin/assistant serve "$@"
