#!/usr/bin/env bash
# Benchmark: what a pyenvx shim costs. `python -c pass` is run five ways, interleaved:
#
#   direct           the interpreter itself, by absolute path (pyenv's build of BENCH_VERSION)
#   pyenvx shim      $PYENVX_HOME/shims/python in a directory whose .python-version names that
#                    build (pyenv style): the shim execs the same binary as `direct`
#   pyenv shim       pyenv's own shim, $PYENV_ROOT/shims/python3 with PYENV_VERSION=BENCH_VERSION
#   venv direct      a project's .venv/bin/python (a venv over the same build)
#   venv via shim    $PYENVX_HOME/shims/python inside that project (pyenvx.toml + .venv)
#   true direct      /bin/true, and
#   true via shim    a shim named `true` in the project, whose .venv/bin/true is /bin/true: the
#                    launcher's own cost, without an interpreter's start-up noise around it
#
# Each round runs every command once, in a shuffled order (seeded), so drift in the machine's
# state (frequency, page cache, other load) hits all of them alike. Prints each
# command's median, p10 and p90, each shim's overhead (the median of its per-round differences
# against its direct counterpart, which cancels drift on a shared machine) and the ratio of
# pyenv's overhead to pyenvx's. Targets: a pyenvx median overhead of at most
# TARGET_OVERHEAD_MS (1.5) ms, and at least TARGET_RATIO (50) times less overhead than pyenv's.
#
# Run from the repository root:
#
#     bench/shims.sh
#
# Knobs (environment):
#   RUNS=200            runs per command
#   BENCH_BUILD=1       run `cargo build --release` first (0: use the binaries as they are)
#   BENCH_PYENVX=target/release/pyenvx   (pyenvx-shim must sit beside it)
#   BENCH_VERSION=3.12.1                 a version under $PYENV_ROOT/versions
#   PYENV_ROOT=/root/.pyenv
#   BENCH_TOOL=auto     `hyperfine` (rounds of BENCH_ROUND_RUNS runs per command, the rounds
#                       rotating: hyperfine cannot alternate commands run by run), `loop` (a
#                       Python posix_spawn timing loop that alternates every run), or `auto`:
#                       hyperfine when installed, else loop
#   BENCH_ROUND_RUNS=5  runs per command per hyperfine round
#   BENCH_KEEP=0        1: keep the temporary directory
#   TARGET_OVERHEAD_MS=1.5  TARGET_RATIO=50
#
# Needs bash >= 4 and python3 (the timing loop and the statistics). No network.
#
# Exit status: 0 whenever every command ran, whether or not the targets were met.

set -euo pipefail

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$REPO_ROOT/bench/lib.sh"

RUNS=${RUNS:-200}
BENCH_BUILD=${BENCH_BUILD:-1}
BENCH_PYENVX=${BENCH_PYENVX:-$REPO_ROOT/target/release/pyenvx}
BENCH_VERSION=${BENCH_VERSION:-3.12.1}
BENCH_TOOL=${BENCH_TOOL:-auto}
BENCH_ROUND_RUNS=${BENCH_ROUND_RUNS:-5}
BENCH_KEEP=${BENCH_KEEP:-0}
TARGET_OVERHEAD_MS=${TARGET_OVERHEAD_MS:-1.5}
TARGET_RATIO=${TARGET_RATIO:-50}
PYENV_ROOT=${PYENV_ROOT:-/root/.pyenv}

[[ "$RUNS" =~ ^[1-9][0-9]*$ ]] || bench_die "RUNS must be a positive integer, not '$RUNS'"
[[ "$BENCH_ROUND_RUNS" =~ ^[1-9][0-9]*$ ]] || bench_die "BENCH_ROUND_RUNS must be a positive integer"
case "$BENCH_TOOL" in
    auto) if command -v hyperfine >/dev/null; then BENCH_TOOL=hyperfine; else BENCH_TOOL=loop; fi ;;
    loop) ;;
    hyperfine) command -v hyperfine >/dev/null || bench_die "hyperfine is not installed" ;;
    *) bench_die "BENCH_TOOL must be auto, loop or hyperfine, not '$BENCH_TOOL'" ;;
esac

# Only the settings below may steer pyenvx and pyenv: drop inherited ones.
while IFS= read -r var; do
    case "$var" in PYENVX_* | PYENV_VERSION | VIRTUAL_ENV | PYTHON*) unset "$var" ;; esac
done < <(compgen -e)

if [[ "$BENCH_BUILD" == 1 ]]; then
    bench_log "building pyenvx and pyenvx-shim (cargo build --release)..."
    (cd "$REPO_ROOT" && cargo build --release --quiet) || bench_die "cargo build --release failed"
fi
SHIM_BIN="$(dirname "$BENCH_PYENVX")/pyenvx-shim"
[[ -x "$BENCH_PYENVX" ]] || bench_die "no pyenvx at $BENCH_PYENVX"
[[ -x "$SHIM_BIN" ]] || bench_die "no pyenvx-shim beside $BENCH_PYENVX"

PREFIX="$PYENV_ROOT/versions/$BENCH_VERSION"
MINOR=${BENCH_VERSION%.*}
PYTHON="$PREFIX/bin/python$MINOR"
[[ -x "$PYTHON" ]] || bench_die "no $PYTHON; set BENCH_VERSION to a version under $PYENV_ROOT/versions"
# Looked up before the shims go on PATH (where a shim named `true` will be).
TRUE=$(type -P true) || bench_die "no true(1) on PATH"
PYENV_SHIM="$PYENV_ROOT/shims/python3"
if [[ ! -x "$PYENV_SHIM" ]]; then
    bench_log "note: no pyenv shim at $PYENV_SHIM; pyenv is left out"
    PYENV_SHIM=
fi

# --- a home with shims, a pyenv-style directory and a project ---------------------------------

WORK=$(mktemp -d "${TMPDIR:-/tmp}/pyenvx-bench-shims.XXXXXX")
cleanup() {
    if [[ "$BENCH_KEEP" == 1 ]]; then bench_log "kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

export PYENVX_HOME="$WORK/home" PYENVX_CACHE_DIR="$WORK/cache" PYENV_ROOT
export PYENVX_NO_PROGRESS=1 NO_COLOR=1
"$BENCH_PYENVX" -q shims install
SHIMS="$PYENVX_HOME/shims"
# As after `eval "$(pyenvx shell-init bash)"`: the shims first, pyenv's where the user had them.
export PATH="$SHIMS:$PATH"

mkdir -p "$WORK/pyenv-style" "$WORK/project"
printf '%s\n' "$BENCH_VERSION" >"$WORK/pyenv-style/.python-version"
# No packages, so the sync needs no index; made by pyenvx, so the shims run it (they skip a
# `.venv` pyenvx has no record of making). The pyenv build named exactly, as `direct` runs it.
printf '[project]\nname = "bench"\npython = "%s"\n' "$BENCH_VERSION" >"$WORK/project/pyenvx.toml"
(cd "$WORK/project" && PYENVX_PYTHON_PREFERENCE=only-system "$BENCH_PYENVX" -q sync) ||
    bench_die "pyenvx sync could not make the project's .venv"
ln -s "$TRUE" "$WORK/project/.venv/bin/true"
# By hand, as a rehash would for a registered project's console script.
ln "$SHIMS/.pyenvx-shim" "$SHIMS/true"

# The shim must land where `direct` runs; say so before timing anything.
for dir in pyenv-style project; do
    got=$(cd "$WORK/$dir" && "$SHIMS/python" -c 'import sys; print(sys.executable)')
    bench_log "shim in $dir -> $got"
done
[[ "$(cd "$WORK/pyenv-style" && "$SHIMS/python" -c 'import sys; print(sys.executable)')" == "$PYTHON" ]] ||
    bench_die "the shim does not resolve to $PYTHON"
[[ "$(cd "$WORK/project" && "$SHIMS/python" -c 'import sys; print(sys.prefix)')" == "$WORK/project/.venv" ]] ||
    bench_die "the shim does not resolve to the project's .venv"

# --- timing ------------------------------------------------------------------------------------

# One line per command: label<TAB>directory<TAB>extra env (K=V, or -)<TAB>argv...
COMMANDS="$WORK/commands.tsv"
{
    printf 'direct\t%s\t-\t%s\t-c\tpass\n' "$WORK/pyenv-style" "$PYTHON"
    printf 'pyenvx shim\t%s\t-\t%s\t-c\tpass\n' "$WORK/pyenv-style" "$SHIMS/python"
    [[ -n "$PYENV_SHIM" ]] &&
        printf 'pyenv shim\t%s\tPYENV_VERSION=%s\t%s\t-c\tpass\n' "$WORK/pyenv-style" "$BENCH_VERSION" "$PYENV_SHIM"
    printf 'venv direct\t%s\t-\t%s\t-c\tpass\n' "$WORK/project" "$WORK/project/.venv/bin/python"
    printf 'venv via shim\t%s\t-\t%s\t-c\tpass\n' "$WORK/project" "$SHIMS/python"
    printf 'true direct\t%s\t-\t%s\n' "$WORK/project" "$TRUE"
    printf 'true via shim\t%s\t-\t%s\n' "$WORK/project" "$SHIMS/true"
} >"$COMMANDS"

bench_log "timing: $RUNS runs per command, interleaved ($BENCH_TOOL)..."
python3 "$REPO_ROOT/bench/timing.py" "$COMMANDS" "$RUNS" "$BENCH_TOOL" "$BENCH_ROUND_RUNS" "$WORK" \
    "pyenvx shim=direct,pyenv shim=direct,venv via shim=venv direct,true via shim=true direct" \
    "$WORK/timing.json"
python3 - "$WORK/timing.json" "$TARGET_OVERHEAD_MS" "$TARGET_RATIO" <<'PY'
import json, sys

figures = json.load(open(sys.argv[1]))
med, over = figures["median"], figures["overhead"]
target_ms, target_ratio = float(sys.argv[2]), float(sys.argv[3])
ours = over["pyenvx shim"]
venv = over["venv via shim"]
worst = max(ours, venv, over["true via shim"])
print()
print(f"pyenvx shim overhead: {ours:.2f} ms (pyenv style), {venv:.2f} ms (project .venv), "
      f"{over['true via shim']:.2f} ms (the launcher alone, around /bin/true); "
      f"target <= {target_ms} ms: {'met' if max(ours, venv) <= target_ms else 'NOT met'}")
print(f"pyenvx shim / direct: {med['pyenvx shim'] / med['direct']:.3f}x; "
      f"venv via shim / venv direct: {med['venv via shim'] / med['venv direct']:.3f}x")
if "pyenv shim" in over:
    theirs = over["pyenv shim"]
    ratio = theirs / max(worst, 0.01)
    print(f"pyenv shim overhead: {theirs:.2f} ms; pyenv shim / direct: "
          f"{med['pyenv shim'] / med['direct']:.2f}x")
    print(f"pyenv's overhead / pyenvx's (its largest of the three): {ratio:.0f}x; "
          f"target >= {target_ratio:.0f}x: {'met' if ratio >= target_ratio else 'NOT met'}")
PY
