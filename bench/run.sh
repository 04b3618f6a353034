#!/usr/bin/env bash
# bench/run.sh — what `pyenvx run` costs over the sandbox's own python, beside `uv run`.
#
# A Django 5.2 sandbox made by `pyenvx init --db postgres` (so `run` reads the lock, `.env` and
# the database's variables, as in a real project; the server is not started, run never starts
# it) and the same Django in a uv project (`uv sync`). Then, interleaved, run by run:
#   venv python     .venv/bin/python -c pass                      (the floor)
#   pyenvx run      pyenvx run python -c pass
#   uv run          uv run python -c pass                          (in the uv project)
#   true            /bin/true
#   pyenvx run true pyenvx run true                                (pyenvx's own cost, no Python)
#   uv run true     uv run true
# Prints medians and each overhead (the median of per-round differences against its floor)
# and the target: pyenvx run's overhead <= TARGET_OVERHEAD_MS (1.0) ms.
#
# Run from the repository root:  bench/run.sh   (RUNS=200; BENCH_BUILD=0 skips the release
# build; BENCH_TOOL=loop|hyperfine|auto as in bench/shims.sh)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
# shellcheck source=bench/lib.sh
source "$here/lib.sh"

RUNS=${RUNS:-200}
BENCH_TOOL=${BENCH_TOOL:-loop}
BENCH_ROUND_RUNS=${BENCH_ROUND_RUNS:-5}
TARGET_OVERHEAD_MS=${TARGET_OVERHEAD_MS:-1.0}
bench_django_setup "$repo"

work=$(mktemp -d "${TMPDIR:-/tmp}/pyenvx-bench-run.XXXXXX")
trap 'rm -rf "$work"' EXIT
UV=$(bench_unpack_uv "$(compgen -G "$WHEELHOUSE/uv-*.whl" | head -n1)" "$work/uvbin")

while IFS= read -r var; do
    case "$var" in PYENVX_* | VIRTUAL_ENV | PYTHON* | UV_*) unset "$var" ;; esac
done < <(compgen -e)
export PYENVX_HOME="$work/pyenvx-home" PYENVX_CACHE_DIR="$work/pyenvx-cache"
export PYENVX_FIND_LINKS="$WHEELHOUSE" PYENVX_UV="$UV" PYENVX_NO_PROGRESS=1
export PYENV_ROOT=${PYENV_ROOT:-/root/.pyenv} PYENVX_PYTHON_PREFERENCE=only-system
export UV_CACHE_DIR="$work/uv-cache" UV_NO_PROGRESS=1 UV_PYTHON_DOWNLOADS=never UV_NO_CONFIG=1
export UV_FIND_LINKS="$WHEELHOUSE" UV_NO_INDEX=1 NO_COLOR=1

bench_log "making the sandboxes..."
(cd "$work" && "$PYENVX" -q init px --python 3.12 --django 5.2 --db postgres >/dev/null) ||
    bench_die "pyenvx init failed"
mkdir "$work/uvp"
printf '[project]\nname = "uvp"\nversion = "0"\nrequires-python = ">=3.12"\ndependencies = ["django==5.2.*"]\n' \
    >"$work/uvp/pyproject.toml"
(cd "$work/uvp" && "$UV" -q sync --python "$PY") || bench_die "uv sync failed"
TRUE=$(type -P true)

COMMANDS="$work/commands.tsv"
{
    printf 'venv python\t%s\t-\t%s\t-c\tpass\n' "$work/px" "$work/px/.venv/bin/python"
    printf 'pyenvx run\t%s\t-\t%s\trun\tpython\t-c\tpass\n' "$work/px" "$PYENVX"
    printf 'uv run\t%s\t-\t%s\trun\tpython\t-c\tpass\n' "$work/uvp" "$UV"
    printf 'true\t%s\t-\t%s\n' "$work/px" "$TRUE"
    printf 'pyenvx run true\t%s\t-\t%s\trun\ttrue\n' "$work/px" "$PYENVX"
    printf 'uv run true\t%s\t-\t%s\trun\ttrue\n' "$work/uvp" "$UV"
} >"$COMMANDS"

bench_log "timing: $RUNS runs per command, interleaved ($BENCH_TOOL)..."
python3 "$here/timing.py" "$COMMANDS" "$RUNS" "$BENCH_TOOL" "$BENCH_ROUND_RUNS" "$work" \
    "pyenvx run=venv python,uv run=venv python,pyenvx run true=true,uv run true=true" \
    "$work/timing.json"
python3 - "$work/timing.json" "$TARGET_OVERHEAD_MS" <<'PY'
import json, sys

figures = json.load(open(sys.argv[1]))
over, target = figures["overhead"], float(sys.argv[2])
ours, theirs = over["pyenvx run"], over["uv run"]
print()
print(f"pyenvx run overhead: {ours:.2f} ms over the venv's python ({over['pyenvx run true']:.2f} ms "
      f"around true); target <= {target} ms: {'met' if ours <= target else 'NOT met'}")
print(f"uv run overhead: {theirs:.2f} ms ({over['uv run true']:.2f} ms around true); "
      f"uv's / pyenvx's: {theirs / max(ours, 0.01):.1f}x")
PY
