#!/usr/bin/env bash
# bench/sandbox.sh — a Django sandbox with pyenvx vs uv vs `python -m venv` + pip, side by side.
#
# Measures, with warm caches (every tool has installed these wheels before), interleaved runs:
#   init    pyenvx init --no-startproject --django 5.2
#           vs  uv venv && uv pip install 'django==5.2.*'
#           vs  python -m venv && pip install 'django==5.2.*'
#   switch  Django 5.2 -> 4.2 in an existing sandbox:
#           pyenvx pin django 4.2  vs  uv pip install 'django==4.2.*'
#           (each run switches back to 5.2 untimed, so both tools switch between two versions
#           they have installed before); plus pyenvx's first switch in a fresh sandbox, where
#           the other version comes from the shared store rather than the project's own parking;
#           and pyenvx's switch in a sandbox with a local package installed editable
#           (`add -e ./libs/pkg`), whose metadata is read again at each resolution (its build
#           backend is a few lines in the package itself, `requires = []`: a real backend such
#           as setuptools or hatchling adds its own start-up to this).
# All three tools read the same wheels (../shared/wheelhouse as find-links, no index) and use
# the same interpreter (pyenv's 3.12), so only the tools differ.
#
# Run from the repository root:  bench/sandbox.sh      (RUNS=7 by default; BENCH_BUILD=0 skips
# the release build; TMPDIR=/dev/shm takes the disk out of the picture)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
# shellcheck source=bench/lib.sh
source "$here/lib.sh"

RUNS=${RUNS:-7}
bench_django_setup "$repo"

work=$(mktemp -d "${TMPDIR:-/tmp}/pyenvx-bench-sandbox.XXXXXX")
trap 'rm -rf "$work"' EXIT
UV=$(bench_unpack_uv "$(compgen -G "$WHEELHOUSE/uv-*.whl" | head -n1)" "$work/uvbin")

# One home and cache per tool, shared by all runs: warm after the first.
export PYENVX_HOME="$work/pyenvx-home" PYENVX_CACHE_DIR="$work/pyenvx-cache"
export PYENVX_FIND_LINKS="$WHEELHOUSE" PYENVX_UV="$UV" PYENVX_NO_PROGRESS=1
export PYENV_ROOT=/root/.pyenv PYENVX_PYTHON_PREFERENCE=only-system
export UV_CACHE_DIR="$work/uv-cache" UV_NO_PROGRESS=1 UV_PYTHON_DOWNLOADS=never UV_NO_CONFIG=1
export PIP_CACHE_DIR="$work/pip-cache" PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1

pyenvx_init() { "$PYENVX" -q init "$1" --python 3.12 --django 5.2 --no-startproject; }
uv_init() {
    "$UV" venv -q --python "$PY" "$1/.venv" &&
        "$UV" pip install -q --python "$1/.venv/bin/python" --no-index --find-links "$WHEELHOUSE" 'django==5.2.*'
}
venv_init() {
    "$PY" -m venv "$1/.venv" &&
        "$1/.venv/bin/pip" install -q --no-index --find-links "$WHEELHOUSE" 'django==5.2.*'
}
pyenvx_pin() { (cd "$1" && "$PYENVX" -q pin django "$2"); }
uv_pin() { "$UV" pip install -q --python "$1/.venv/bin/python" --no-index --find-links "$WHEELHOUSE" "django==$2.*"; }

time_us() { bench_time_us "$work/last.log" "$@"; }

# A local package with an in-tree PEP 517 backend that needs nothing from the index.
local_package() {
    mkdir -p "$1"
    printf '[build-system]\nrequires = []\nbuild-backend = "backend"\nbackend-path = ["."]\n\n[project]\nname = "pkg"\nversion = "0.1"\n' >"$1/pyproject.toml"
    echo 'WHERE = "pkg"' >"$1/pkg.py"
    cat >"$1/backend.py" <<'PY'
import base64, hashlib, os, zipfile
HERE = os.path.dirname(os.path.abspath(__file__))
DIST = "pkg-0.1"
def _wheel(directory, files):
    name = DIST + "-py3-none-any.whl"
    files = dict(files)
    files[DIST + ".dist-info/METADATA"] = "Metadata-Version: 2.1\nName: pkg\nVersion: 0.1\n"
    files[DIST + ".dist-info/WHEEL"] = "Wheel-Version: 1.0\nGenerator: bench\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    record = []
    with zipfile.ZipFile(os.path.join(directory, name), "w") as z:
        for arc, text in files.items():
            data = text.encode()
            z.writestr(arc, data)
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
            record.append(f"{arc},sha256={digest},{len(data)}")
        record.append(DIST + ".dist-info/RECORD,,")
        z.writestr(DIST + ".dist-info/RECORD", "\n".join(record) + "\n")
    return name
def get_requires_for_build_wheel(config_settings=None):
    return []
def get_requires_for_build_editable(config_settings=None):
    return []
def build_wheel(directory, config_settings=None, metadata_directory=None):
    return _wheel(directory, {"pkg.py": open(os.path.join(HERE, "pkg.py")).read()})
def build_editable(directory, config_settings=None, metadata_directory=None):
    return _wheel(directory, {"_pkg_editable.pth": HERE + "\n"})
PY
}

check_django() {
    local got
    got=$("$1/.venv/bin/python" -c 'import django; print(django.get_version())')
    [[ "$got" == "$2"* ]] || bench_die "$1 has Django $got, expected $2"
}

bench_log "warming caches (one untimed run per tool)"
for tool in pyenvx uv venv; do
    "${tool}_init" "$work/warm-$tool"
    check_django "$work/warm-$tool" 5.2
done
pyenvx_pin "$work/warm-pyenvx" 4.2 && pyenvx_pin "$work/warm-pyenvx" 5.2
pyenvx_init "$work/warm-local"
local_package "$work/warm-local/libs/pkg"
(cd "$work/warm-local" && "$PYENVX" -q add -e ./libs/pkg)
pyenvx_pin "$work/warm-local" 4.2 && pyenvx_pin "$work/warm-local" 5.2
uv_pin "$work/warm-uv" 4.2 && uv_pin "$work/warm-uv" 5.2

declare -a t_px t_uv t_venv s_px s_uv s_first s_local
for ((i = 1; i <= RUNS; i++)); do
    order=(pyenvx uv venv)
    ((i % 2 == 0)) && order=(venv uv pyenvx)
    for tool in "${order[@]}"; do
        dir="$work/run$i-$tool"
        us=$(time_us "${tool}_init" "$dir")
        check_django "$dir" 5.2
        case $tool in
            pyenvx) t_px+=("$us") ;;
            uv) t_uv+=("$us") ;;
            venv) t_venv+=("$us") ;;
        esac
    done
    # First switch in this fresh pyenvx sandbox: 4.2 comes from the shared store.
    s_first+=("$(time_us pyenvx_pin "$work/run$i-pyenvx" 4.2)")
    pyenvx_pin "$work/run$i-pyenvx" 5.2
    # Steady switching between two versions each tool has installed before.
    s_px+=("$(time_us pyenvx_pin "$work/warm-pyenvx" 4.2)")
    check_django "$work/warm-pyenvx" 4.2
    pyenvx_pin "$work/warm-pyenvx" 5.2
    s_local+=("$(time_us pyenvx_pin "$work/warm-local" 4.2)")
    check_django "$work/warm-local" 4.2
    pyenvx_pin "$work/warm-local" 5.2
    s_uv+=("$(time_us uv_pin "$work/warm-uv" 4.2)")
    check_django "$work/warm-uv" 4.2
    uv_pin "$work/warm-uv" 5.2
    bench_log "run $i: init pyenvx $(bench_secs "${t_px[-1]}")s uv $(bench_secs "${t_uv[-1]}")s venv+pip $(bench_secs "${t_venv[-1]}")s | switch pyenvx $(bench_secs "${s_px[-1]}")s (first $(bench_secs "${s_first[-1]}")s, with a local package $(bench_secs "${s_local[-1]}")s) uv $(bench_secs "${s_uv[-1]}")s"
done

m_px=$(bench_median "${t_px[@]}") m_uv=$(bench_median "${t_uv[@]}") m_venv=$(bench_median "${t_venv[@]}")
m_spx=$(bench_median "${s_px[@]}") m_suv=$(bench_median "${s_uv[@]}") m_sfirst=$(bench_median "${s_first[@]}")
m_slocal=$(bench_median "${s_local[@]}")
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
echo "warm init   pyenvx $(bench_secs "$m_px")s  uv $(bench_secs "$m_uv")s  venv+pip $(bench_secs "$m_venv")s  -> pyenvx/uv $(ratio "$m_px" "$m_uv")x (target <= 1.00x), pyenvx/venv+pip $(ratio "$m_px" "$m_venv")x"
echo "switch      pyenvx $(bench_secs "$m_spx")s  uv $(bench_secs "$m_suv")s  -> pyenvx is $(ratio "$m_suv" "$m_spx")x faster (target >= 3x)"
echo "first switch in a fresh sandbox (from the store): pyenvx $(bench_secs "$m_sfirst")s  -> $(ratio "$m_suv" "$m_sfirst")x uv's steady switch"
echo "switch with a local editable package (its metadata read again): pyenvx $(bench_secs "$m_slocal")s  -> $(ratio "$m_suv" "$m_slocal")x uv's steady switch"
