#!/usr/bin/env bash
# bench/cold-init.sh — a first Django sandbox on a fresh machine: pyenvx vs uv, side by side.
#
# Every run starts cold: a fresh PYENVX_HOME and PYENVX_CACHE_DIR for pyenvx (so it also installs
# its own uv, from the uv wheel on the index), a fresh UV_CACHE_DIR for uv:
#   pyenvx      pyenvx init p --python 3.12 --django 5.2 --no-startproject
#   pyenvx+uv   the same with PYENVX_UV set (uv already on the machine, as for the uv side)
#   uv          uv venv && uv pip install 'django~=5.2.0'
# All read the same loopback index (a PEP 503 index built from ../shared/wheelhouse, served by
# Python's http.server) and use the same interpreter (pyenv's 3.12); runs are interleaved.
#
# Run from the repository root:  bench/cold-init.sh   (RUNS=5 by default; BENCH_BUILD=0 skips
# the release build; TMPDIR=/dev/shm takes the disk out of the picture)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
# shellcheck source=bench/lib.sh
source "$here/lib.sh"

RUNS=${RUNS:-5}
bench_django_setup "$repo"

work=$(mktemp -d "${TMPDIR:-/tmp}/pyenvx-bench-cold.XXXXXX")
trap 'bench_http_stop; rm -rf "$work"' EXIT
UV=$(bench_unpack_uv "$(compgen -G "$WHEELHOUSE/uv-*.whl" | head -n1)" "$work/uvbin")

# A PEP 503 index of the wheelhouse: simple/<project>/index.html linking ../../files/<wheel>#sha256.
python3 - "$WHEELHOUSE" "$work/index" <<'PY'
import hashlib, html, os, re, shutil, sys
src, dest = sys.argv[1], sys.argv[2]
files = os.path.join(dest, "files")
os.makedirs(files)
projects = {}
for name in sorted(os.listdir(src)):
    if not name.endswith(".whl"):
        continue
    try:
        os.link(os.path.join(src, name), os.path.join(files, name))
    except OSError:  # another filesystem (TMPDIR=/dev/shm): copy
        shutil.copyfile(os.path.join(src, name), os.path.join(files, name))
    digest = hashlib.sha256(open(os.path.join(src, name), "rb").read()).hexdigest()
    project = re.sub(r"[-_.]+", "-", name.split("-")[0]).lower()
    projects.setdefault(project, []).append((name, digest))
for project, wheels in projects.items():
    os.makedirs(os.path.join(dest, "simple", project))
    links = "".join(
        f'<a href="../../files/{html.escape(n)}#sha256={d}">{html.escape(n)}</a><br/>\n'
        for n, d in wheels
    )
    with open(os.path.join(dest, "simple", project, "index.html"), "w") as f:
        f.write(f"<!DOCTYPE html><html><body>\n{links}</body></html>\n")
PY
bench_http_start "$work/index" "$work/port" "$work/http.log"
INDEX="http://127.0.0.1:$(cat "$work/port")/simple/"

export PYENVX_INDEX_URL="$INDEX" PYENVX_NO_PROGRESS=1
export PYENV_ROOT=/root/.pyenv PYENVX_PYTHON_PREFERENCE=only-system
export UV_NO_PROGRESS=1 UV_PYTHON_DOWNLOADS=never UV_NO_CONFIG=1
# No uv on PATH for pyenvx to find: it installs its own (the pyenvx+uv variant sets PYENVX_UV).
export PATH=/usr/local/bin:/usr/bin:/bin
unset PYENVX_UV PYENVX_FIND_LINKS

# Each run gets its own homes and caches under $1.
pyenvx_cold() {
    PYENVX_HOME="$1/home" PYENVX_CACHE_DIR="$1/cache" \
        "$PYENVX" -q init "$1/p" --python 3.12 --django 5.2 --no-startproject
}
pyenvx_uv_cold() { PYENVX_UV="$UV" pyenvx_cold "$1"; }
uv_cold() {
    mkdir -p "$1/p" &&
        UV_CACHE_DIR="$1/uv-cache" "$UV" venv -q --python "$PY" "$1/p/.venv" &&
        UV_CACHE_DIR="$1/uv-cache" "$UV" pip install -q --python "$1/p/.venv/bin/python" \
            --index-url "$INDEX" 'django~=5.2.0'
}

time_us() { bench_time_us "$work/last.log" "$@"; }

check_django() {
    local got
    got=$("$1/p/.venv/bin/python" -c 'import django; print(django.get_version())')
    [[ "$got" == 5.2* ]] || bench_die "$1 has Django $got, expected 5.2"
}

declare -a t_px t_pxuv t_uv
for ((i = 1; i <= RUNS; i++)); do
    order=(pyenvx pyenvx_uv uv)
    ((i % 2 == 0)) && order=(uv pyenvx_uv pyenvx)
    for tool in "${order[@]}"; do
        dir="$work/run$i-$tool"
        us=$(time_us "${tool}_cold" "$dir")
        check_django "$dir"
        case $tool in
            pyenvx) t_px+=("$us") ;;
            pyenvx_uv) t_pxuv+=("$us") ;;
            uv) t_uv+=("$us") ;;
        esac
        rm -rf "$dir"
    done
    bench_log "run $i: pyenvx $(bench_secs "${t_px[-1]}")s  pyenvx (uv present) $(bench_secs "${t_pxuv[-1]}")s  uv $(bench_secs "${t_uv[-1]}")s"
done

m_px=$(bench_median "${t_px[@]}") m_pxuv=$(bench_median "${t_pxuv[@]}") m_uv=$(bench_median "${t_uv[@]}")
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
echo "cold init   pyenvx $(bench_secs "$m_px")s  pyenvx with uv present $(bench_secs "$m_pxuv")s  uv $(bench_secs "$m_uv")s"
echo "            -> pyenvx/uv $(ratio "$m_px" "$m_uv")x, with uv present $(ratio "$m_pxuv" "$m_uv")x (target <= 1.00x)"
