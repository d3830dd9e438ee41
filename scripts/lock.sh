#!/usr/bin/env bash
# Refresh the locks the README's commands install from (`make lock`): every package, transitive ones
# included, pinned to the newest version pyproject.toml allows today, resolved by uv for every platform
# and Python >= 3.11 (markers where they differ).
#   locks/all.txt    peftbench[all,test]: `make test`, `.ci/run`
#   locks/train.txt  peftbench[train]:    `make demo`; resolved within locks/all.txt, so the two agree
# torch is pinned by setup.sh (2.13.0, the build of the machine's choosing), so the locks leave out torch
# and what only its CUDA build pulls in (nvidia-*, cuda-*, triton); everything else torch needs is locked.
# After a refresh: `make test` (setup.sh reinstalls from the new lock), then commit the locks with the
# code they passed with (docs/install.md#locked-versions).
set -euo pipefail
cd "$(dirname "$0")/.."

UV_VERSION=0.13.9
TORCH=2.13.0
tools=${LOCK_TOOLS:-.cache/lock-tools}
[ -x "$tools/bin/uv" ] && [ "$("$tools/bin/uv" --version | cut -d' ' -f2)" = "$UV_VERSION" ] || {
  python3 -m venv "$tools"
  "$tools/bin/python" -m pip install --disable-pip-version-check -qq "uv==$UV_VERSION"
}
uv=("$tools/bin/uv" pip compile --quiet --universal --python-version 3.11 --no-header --annotation-style line)

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "torch==$TORCH" > "$work/torch.txt"

# First pass: which packages come only with torch's accelerator build, to leave out by name.
"${uv[@]}" pyproject.toml --extra all --extra test -c "$work/torch.txt" -o "$work/first.txt"
skip=()
for name in $(grep -oE '^(torch|triton|nvidia-[a-z0-9-]+|cuda-[a-z0-9-]+)==' "$work/first.txt" | tr -d '='); do
  skip+=(--no-emit-package "$name")
done

mkdir -p locks
header() {
  cat <<TXT
# peftbench[$1], locked by scripts/lock.sh (uv $UV_VERSION) on $(date -u +%F); refresh with \`make lock\`.
# Not here: torch (setup.sh installs torch==$TORCH first) and its CUDA build's own packages.
TXT
}
"${uv[@]}" pyproject.toml --extra all --extra test -c "$work/torch.txt" "${skip[@]}" -o "$work/all.txt"
{ header all,test; cat "$work/all.txt"; } > locks/all.txt
"${uv[@]}" pyproject.toml --extra train -c "$work/torch.txt" -c locks/all.txt "${skip[@]}" -o "$work/train.txt"
{ header train; cat "$work/train.txt"; } > locks/train.txt
echo "locks/all.txt: $(grep -c '==' locks/all.txt) packages; locks/train.txt: $(grep -c '==' locks/train.txt)"
