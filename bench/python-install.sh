#!/usr/bin/env bash
# Benchmark: cold-cache wall time of `pyenvx python install 3.12` against `uv python install 3.12`.
#
# Both tools install the same python-build-standalone-style archive, listed in the same catalog
# (uv's download-metadata.json format) and streamed over HTTP from the same local mirror on
# 127.0.0.1, so no outside network is needed. Every run gets fresh, empty install and cache
# directories; the two tools alternate (pyenvx first on odd runs, uv first on even ones) so drift
# in the machine's state hits both alike. A `sync` precedes each timed run so neither tool pays
# for the other's write-back. Prints each run, the medians and the ratio pyenvx/uv; the target is
# a pyenvx median of at most TARGET_RATIO (0.80) times uv's.
#
# Run from the repository root:
#
#     bench/python-install.sh
#
# Knobs (environment):
#   RUNS=7                 timed runs per tool
#   BENCH_WARMUP=1         one extra untimed-for-stats run per tool first (0 to skip); the first
#                          run of each tool is the one whose interpreter gets verified
#   BENCH_CACHE=/tmp/pyenvx-bench   where the built archive and unpacked uv are kept across runs
#   BENCH_BUILD=1          run `cargo build --release` first (0: use the binary as it is)
#   BENCH_PYENVX=target/release/pyenvx
#   BENCH_UV_WHEEL=/work/shared/wheelhouse/uv-0.13.9-...whl
#   BENCH_SRC_PYTHON=/root/.pyenv/versions/3.12.1   the CPython the archive is made from
#   BENCH_STRIP=0          1: strip debug info from the archive's ELF files (smaller archive)
#   BENCH_PORT=            fixed port for the mirror (default: a free one)
#   BENCH_KEEP=0           1: keep the per-run directories and logs
#   TARGET_RATIO=0.80
#   TMPDIR=/tmp            where the per-run directories go; the file system matters a lot: on this
#                          VM's ext4 file creation costs vary run to run, TMPDIR=/dev/shm (tmpfs)
#                          takes the disk out and shows the tools' own CPU cost
#
# Needs bash >= 4, python3, GNU tar, gzip, sha256sum. hyperfine is not used: it cannot interleave
# two commands run by run, which matters more here than its statistics.
#
# Exit status: 0 whenever every install succeeded, whether or not the target was met; non-zero if
# an install (or the set-up) failed.

set -euo pipefail

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$REPO_ROOT/bench/lib.sh"

RUNS=${RUNS:-7}
BENCH_WARMUP=${BENCH_WARMUP:-1}
BENCH_CACHE=${BENCH_CACHE:-/tmp/pyenvx-bench}
BENCH_BUILD=${BENCH_BUILD:-1}
BENCH_PYENVX=${BENCH_PYENVX:-$REPO_ROOT/target/release/pyenvx}
BENCH_UV_WHEEL=${BENCH_UV_WHEEL:-/work/shared/wheelhouse/uv-0.13.9-py3-none-manylinux_2_17_x86_64.manylinux2014_x86_64.whl}
BENCH_SRC_PYTHON=${BENCH_SRC_PYTHON:-/root/.pyenv/versions/3.12.1}
BENCH_STRIP=${BENCH_STRIP:-0}
BENCH_KEEP=${BENCH_KEEP:-0}
TARGET_RATIO=${TARGET_RATIO:-0.80}

# The build the catalog describes; the archive is named like a real python-build-standalone one.
PY_VERSION=3.12.1
PBS_BUILD=20990101
TRIPLE=x86_64-unknown-linux-gnu
ARCHIVE_NAME="cpython-${PY_VERSION}+${PBS_BUILD}-${TRIPLE}-install_only_stripped.tar.gz"
ARCHIVE_URL_NAME="cpython-${PY_VERSION}%2B${PBS_BUILD}-${TRIPLE}-install_only_stripped.tar.gz"
CATALOG_KEY="cpython-${PY_VERSION}-linux-x86_64-gnu"
# Bump when the archive recipe in lib.sh changes, so cached archives are rebuilt.
ARCHIVE_RECIPE=1

[[ "$RUNS" =~ ^[1-9][0-9]*$ ]] || bench_die "RUNS must be a positive integer, not '$RUNS'"

# Only the settings below may steer either tool: drop inherited ones.
while IFS= read -r var; do
    case "$var" in UV_* | PYENVX_*) unset "$var" ;; esac
done < <(compgen -e)
# Loopback must never go through a proxy.
export NO_PROXY="127.0.0.1,localhost${NO_PROXY:+,$NO_PROXY}"
export no_proxy="$NO_PROXY"

# --- tools -----------------------------------------------------------------------------------

if [[ "$BENCH_BUILD" == 1 ]]; then
    bench_log "building pyenvx (cargo build --release)..."
    (cd "$REPO_ROOT" && cargo build --release --quiet) ||
        bench_die "cargo build --release failed (BENCH_BUILD=0 benchmarks the existing binary)"
fi
[[ -x "$BENCH_PYENVX" ]] || bench_die "no pyenvx binary at $BENCH_PYENVX"
UV=$(bench_unpack_uv "$BENCH_UV_WHEEL" "$BENCH_CACHE/$(basename "$BENCH_UV_WHEEL" .whl)")
PYENVX_VERSION=$("$BENCH_PYENVX" --version)
UV_VERSION=$("$UV" --version)

# --- mirror ----------------------------------------------------------------------------------

if [[ "$BENCH_STRIP" == 1 ]]; then flavour=stripped; else flavour=full; fi
MIRROR="$BENCH_CACHE/mirror-r${ARCHIVE_RECIPE}-${flavour}"
ARCHIVE="$MIRROR/$PBS_BUILD/$ARCHIVE_NAME"
STAMP="$ARCHIVE.stamp"
stamp_want="recipe=$ARCHIVE_RECIPE src=$BENCH_SRC_PYTHON strip=$BENCH_STRIP"
if [[ ! -f "$ARCHIVE" || ! -f "$STAMP" || "$(head -n1 "$STAMP")" != "$stamp_want" ]]; then
    bench_log "building $ARCHIVE_NAME from $BENCH_SRC_PYTHON (cached in $MIRROR)..."
    rm -f "$STAMP"
    bench_build_pbs_archive "$BENCH_SRC_PYTHON" "$ARCHIVE"
    printf '%s\n%s\n' "$stamp_want" "$(bench_sha256 "$ARCHIVE")" >"$STAMP"
fi
ARCHIVE_SHA256=$(sed -n 2p "$STAMP")
ARCHIVE_BYTES=$(stat -c %s "$ARCHIVE")

WORK=$(mktemp -d "${TMPDIR:-/tmp}/pyenvx-bench.XXXXXX")
cleanup() {
    bench_http_stop
    if [[ "$BENCH_KEEP" == 1 ]]; then
        bench_log "kept $WORK"
    else
        rm -rf "$WORK"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

bench_http_start "$MIRROR" "$WORK/http.port" "$WORK/http.log"
PORT=$(cat "$WORK/http.port")
URL="http://127.0.0.1:$PORT/$PBS_BUILD/$ARCHIVE_URL_NAME"

CATALOG="$WORK/download-metadata.json"
cat >"$CATALOG" <<EOF
{
  "$CATALOG_KEY": {
    "name": "cpython",
    "arch": {"family": "x86_64", "variant": null},
    "os": "linux",
    "libc": "gnu",
    "major": 3,
    "minor": 12,
    "patch": 1,
    "prerelease": "",
    "url": "$URL",
    "sha256": "$ARCHIVE_SHA256",
    "variant": null,
    "build": "$PBS_BUILD"
  }
}
EOF

# --- runs ------------------------------------------------------------------------------------

# The environment each tool runs with, for run directory $1 (fresh and empty per run).
pyenvx_env() {
    printf '%s\n' "PYENVX_HOME=$1/home" "PYENVX_CACHE_DIR=$1/cache" \
        "PYENVX_PYTHON_DOWNLOADS_JSON=$CATALOG" "PYENVX_NO_PROGRESS=1"
}
uv_env() {
    printf '%s\n' "UV_PYTHON_INSTALL_DIR=$1/python" "UV_CACHE_DIR=$1/cache" \
        "UV_PYTHON_BIN_DIR=$1/bin" "UV_PYTHON_DOWNLOADS_JSON_URL=$CATALOG" \
        "UV_NO_PROGRESS=1" "UV_NO_CONFIG=1"
}

# run_install TOOL DIR LOG: one cold install into the fresh directory DIR; sets RUN_US to its wall
# time in microseconds. On failure, shows the log and exits.
RUN_US=0
run_install() {
    local tool=$1 dir=$2 log=$3
    mkdir -p "$dir"
    local -a envs cmd
    if [[ "$tool" == pyenvx ]]; then
        mapfile -t envs < <(pyenvx_env "$dir")
        cmd=("$BENCH_PYENVX" python install 3.12)
    else
        mapfile -t envs < <(uv_env "$dir")
        cmd=("$UV" python install 3.12)
    fi
    sync
    local t0 t1 rc=0
    t0=$(bench_now_us)
    env -C "$dir" "${envs[@]}" "${cmd[@]}" >"$log" 2>&1 || rc=$?
    t1=$(bench_now_us)
    if ((rc != 0)); then
        bench_log "$tool install failed (exit $rc): ${envs[*]} ${cmd[*]}"
        sed 's/^/    /' "$log" >&2
        exit 1
    fi
    RUN_US=$((t1 - t0))
}

# verify_install TOOL DIR: ask the tool where the interpreter is, run it, check it lives in DIR.
verify_install() {
    local tool=$1 dir=$2 py out
    local -a envs
    if [[ "$tool" == pyenvx ]]; then
        mapfile -t envs < <(pyenvx_env "$dir")
        py=$(env -C "$dir" "${envs[@]}" PYENVX_PYTHON_PREFERENCE=only-managed \
            "$BENCH_PYENVX" --quiet python find 3.12) || bench_die "pyenvx python find 3.12 failed after installing"
    else
        mapfile -t envs < <(uv_env "$dir")
        py=$(env -C "$dir" "${envs[@]}" "$UV" python find --managed-python 3.12) ||
            bench_die "uv python find 3.12 failed after installing"
    fi
    py=$(printf '%s\n' "$py" | tail -n1)
    out=$("$py" -c 'import sys; print(sys.version.split()[0], sys.prefix)') ||
        bench_die "$tool's installed interpreter $py does not run"
    local version=${out%% *} prefix=${out#* }
    [[ "$version" == "$PY_VERSION" ]] || bench_die "$tool installed Python $version, expected $PY_VERSION"
    [[ "$prefix" == "$dir"/* ]] || bench_die "$tool's interpreter $py has prefix $prefix, outside $dir"
    printf '  verified %-6s %s -> Python %s (prefix %s)\n' "$tool" "${py#"$dir"/}" "$version" "${prefix#"$dir"/}"
}

# run_pair INDEX LABEL: one run of each tool, pyenvx first when INDEX is odd; sets P_US and U_US.
# The run labelled `first` also verifies each tool's interpreter.
run_pair() {
    local index=$1 label=$2 tool dir
    local -a order=(uv pyenvx)
    if ((index % 2)); then order=(pyenvx uv); fi
    mkdir -p "$WORK/logs"
    for tool in "${order[@]}"; do
        dir="$WORK/run-$label-$tool"
        run_install "$tool" "$dir" "$WORK/logs/$label-$tool.log"
        if [[ "$label" == first ]]; then verify_install "$tool" "$dir"; fi
        [[ "$BENCH_KEEP" == 1 ]] || rm -rf "$dir"
        if [[ "$tool" == pyenvx ]]; then P_US=$RUN_US; else U_US=$RUN_US; fi
    done
}

printf 'pyenvx  %s (%s)\n' "$BENCH_PYENVX" "$PYENVX_VERSION"
printf 'uv      %s (%s)\n' "$UV" "$UV_VERSION"
printf 'mirror  %s\n        %s bytes, sha256 %s\n' "$URL" "$ARCHIVE_BYTES" "$ARCHIVE_SHA256"
printf 'workdir %s (%s)\n' "$WORK" "$(stat -f -c %T "$WORK")"
printf 'runs    %s per tool, interleaved, cold caches%s\n' "$RUNS" \
    "$([[ "$BENCH_WARMUP" == 1 ]] && printf ', after one warm-up run each')"

P_US=0 U_US=0
if [[ "$BENCH_WARMUP" == 1 ]]; then
    run_pair 1 first
    printf 'warm-up   pyenvx %ss  uv %ss\n' "$(bench_secs "$P_US")" "$(bench_secs "$U_US")"
fi
p_all=() u_all=()
for ((i = 1; i <= RUNS; i++)); do
    if [[ "$BENCH_WARMUP" != 1 && $i -eq 1 ]]; then label=first; else label=$i; fi
    run_pair "$i" "$label"
    p_all+=("$P_US") u_all+=("$U_US")
    printf 'run %-5s pyenvx %ss  uv %ss  (%s first)\n' "$i/$RUNS" "$(bench_secs "$P_US")" \
        "$(bench_secs "$U_US")" "$( ((i % 2)) && echo pyenvx || echo uv)"
done

p_med=$(bench_median "${p_all[@]}")
u_med=$(bench_median "${u_all[@]}")
read -r ratio verdict < <(awk -v p="$p_med" -v u="$u_med" -v t="$TARGET_RATIO" \
    'BEGIN { r = p / u; printf "%.2f %s\n", r, (r <= t + 1e-9 ? "met" : "missed") }')
printf 'pyenvx median %ss  uv median %ss  ratio %sx (target <= %sx: %s)\n' \
    "$(bench_secs "$p_med")" "$(bench_secs "$u_med")" "$ratio" "$TARGET_RATIO" "$verdict"
