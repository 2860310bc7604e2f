#!/usr/bin/env bash
# setup-easyedit.sh EASYEDIT_DIR [VENV]
#
# Builds a virtual environment in which EasyEdit (zjunlp/EasyEdit, commit 14cea82) runs on CPU, for the
# side-by-side benchmark (benchmarks/easyedit_side_by_side.py). EASYEDIT_DIR is a checkout (or an export)
# of that commit; VENV defaults to .venv-easyedit in the repository root (git-ignored). `make easyedit-venv
# EASYEDIT=EASYEDIT_DIR` runs this script.
#
# What it installs: EasyEdit's own requirements.txt from PyPI, each at EasyEdit's pin, except torch, which is
# pinned to 2.13.0 like the project's venv (the CPU build on the project's machines; EasyEdit's torch==2.9.1
# or an unpinned torch would download gigabytes of CUDA libraries). Nothing in EASYEDIT_DIR is changed and
# EasyEdit is not pip-installed: the benchmark's driver puts EASYEDIT_DIR on sys.path.
#
# The one workaround EasyEdit needs here lives in the driver (benchmarks/easyedit_driver.py), not in
# EasyEdit: `import easyeditor` imports torchvision (through its multimodal modules, timm and transformers),
# and the torchvision wheel PyPI has for torch 2.13 is a CUDA build whose compiled ops do not load beside a
# CPU torch. The driver declares the two operator schemas torchvision's Python code registers fake kernels for
# before it imports EasyEdit, so the Python part imports; the text-editing path never calls those ops.
#
# Idempotent: a venv that already holds the stamp of the same requirements is left as it is.
set -euo pipefail

usage() { echo "usage: $0 EASYEDIT_DIR [VENV]   (EASYEDIT_DIR: a checkout of zjunlp/EasyEdit at commit 14cea82)" >&2; exit 2; }
[ $# -ge 1 ] && [ $# -le 2 ] || usage
SRC=$(cd "$1" 2>/dev/null && pwd) || { echo "$0: EasyEdit checkout not found: $1" >&2; exit 2; }
ROOT=$(cd "$(dirname "$0")/.." && pwd)
VENV=${2:-$ROOT/.venv-easyedit}
PYTHON=${PYTHON:-python3}
TORCH_PIN=torch==2.13.0
EXPECTED_COMMIT=14cea8245f06715684592ab55184939b99d70784

REQ="$SRC/requirements.txt"
[ -f "$REQ" ] && [ -f "$SRC/easyeditor/__init__.py" ] && [ -d "$SRC/easyeditor/models/r_rome" ] \
  || { echo "$0: $SRC is not an EasyEdit checkout (requirements.txt, easyeditor/models/r_rome missing)" >&2; exit 2; }
if git -C "$SRC" rev-parse HEAD >/dev/null 2>&1; then
  head=$(git -C "$SRC" rev-parse HEAD)
  [ "$head" = "$EXPECTED_COMMIT" ] || echo "$0: warning: $SRC is at $head, not $EXPECTED_COMMIT (14cea82)" >&2
fi
grep -qE '^torch==' "$REQ" || { echo "$0: $REQ: no 'torch==' line to replace by $TORCH_PIN" >&2; exit 2; }

# EasyEdit's requirements with the torch line replaced; every other pin kept.
mkdir -p "$VENV"
PINNED="$VENV/easyedit-requirements.txt"
sed -E "s/^torch==.*/$TORCH_PIN/" "$REQ" > "$PINNED.new"
STAMP="$VENV/.easyedit-installed"
if [ -f "$STAMP" ] && cmp -s "$PINNED.new" "$PINNED" && [ -x "$VENV/bin/python" ]; then
  rm -f "$PINNED.new"
  echo "$VENV: up to date"
  exit 0
fi
mv "$PINNED.new" "$PINNED"
rm -f "$STAMP"

[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
"$VENV/bin/python" -m pip install --quiet --upgrade pip
# torch first and alone, so that nothing later can resolve another torch; then the rest with torch held
# at the same pin (a constraint: pip fails rather than replace it).
"$VENV/bin/python" -m pip install --quiet "$TORCH_PIN"
echo "$TORCH_PIN" > "$VENV/torch-constraint.txt"
"$VENV/bin/python" -m pip install --quiet -r "$PINNED" -c "$VENV/torch-constraint.txt"
installed=$("$VENV/bin/python" -c 'import torch; print(torch.__version__)')
case "$installed" in
  2.13.0*) ;;
  *) echo "$0: torch $installed ended up in $VENV, expected ${TORCH_PIN#torch==}" >&2; exit 1 ;;
esac
"$VENV/bin/python" -m pip freeze > "$VENV/pip-freeze.txt"
echo "$SRC" > "$VENV/easyedit-source"
touch "$STAMP"
echo "$VENV: EasyEdit's requirements with $TORCH_PIN (torch $installed); freeze in $VENV/pip-freeze.txt"
