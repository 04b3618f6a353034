# shellcheck shell=bash
# Shared helpers for the scripts in bench/. Source it; it defines functions only (plus the
# BENCH_HTTP_PID global set by bench_http_start) and changes no shell options.
#
#   bench_log MSG...                  message on stderr
#   bench_die MSG...                  message on stderr, exit 1
#   bench_now_us                      wall clock in microseconds
#   bench_secs US                     microseconds -> "1.234"
#   bench_median N...                 median of integers (mean of the middle two if even)
#   bench_build_pbs_archive SRC OUT   python-build-standalone-like install_only .tar.gz
#   bench_sha256 FILE                 hex digest
#   bench_unpack_uv WHEEL DIR         the uv binary from a uv wheel, cached in DIR
#   bench_http_start DIR PORTFILE LOG serve DIR on 127.0.0.1 in the background
#   bench_http_stop                   stop the server bench_http_start started

bench_log() {
    printf '%s\n' "$*" >&2
}

bench_die() {
    bench_log "error: $*"
    exit 1
}

# Microseconds since the epoch, without forking (bash >= 5), else from date(1).
bench_now_us() {
    if [[ -n "${EPOCHREALTIME:-}" ]]; then
        local t=${EPOCHREALTIME//[!0-9]/}
        printf '%s\n' "$t"
    else
        local ns
        ns=$(date +%s%N)
        printf '%s\n' "$((ns / 1000))"
    fi
}

bench_secs() {
    awk -v us="$1" 'BEGIN { printf "%.3f", us / 1e6 }'
}

bench_median() {
    printf '%s\n' "$@" | sort -n | awk '
        { v[NR] = $1 }
        END {
            if (NR == 0) { exit 1 }
            if (NR % 2) { printf "%d\n", v[(NR + 1) / 2] }
            else { printf "%d\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }
        }'
}

bench_sha256() {
    sha256sum "$1" | cut -d' ' -f1
}

# bench_build_pbs_archive SRC OUT
#
# Make OUT, a gzipped tar laid out like a python-build-standalone `install_only` archive, from the
# CPython installed at SRC (e.g. a pyenv version): one top directory `python/` holding `bin/`,
# `include/` and `lib/`, the standard library without `test/`, `idlelib/`, `tkinter/`,
# `turtledemo/` and any `__pycache__/`, and site-packages holding only pip. The executable's
# absolute RUNPATH is rewritten in place to `$ORIGIN/../lib` (as in real PBS builds) so the
# unpacked tree loads its own libpython wherever it lands. With BENCH_STRIP=1 debug info is
# stripped from every ELF file (smaller archive, closer to PBS's `_stripped` flavour).
# The tar is reproducible (sorted, fixed owner and mtime, gzip -n), so OUT's hash only changes
# when SRC does. OUT is written atomically. Runs in a subshell (its own EXIT trap cleans up).
bench_build_pbs_archive() (
    local src=$1 out=$2
    [[ -x "$src/bin/python3" ]] || bench_die "no CPython at $src (missing bin/python3)"
    local stdlib
    stdlib=$(cd "$src/lib" && compgen -G 'python3.*' | head -n1) || true
    [[ -n "$stdlib" && -d "$src/lib/$stdlib" ]] || bench_die "no lib/python3.X in $src"
    local outdir staging
    outdir=$(dirname "$out")
    mkdir -p "$outdir"
    staging=$(mktemp -d "$outdir/.staging.XXXXXX")
    trap 'rm -rf "$staging"' EXIT

    local root="$staging/python"
    mkdir -p "$root/lib"
    cp -a "$src/bin" "$src/include" "$root/"
    local f
    for f in "$src"/lib/*; do
        [[ "$(basename "$f")" == "$stdlib" ]] && continue
        cp -a "$f" "$root/lib/"
    done
    tar -C "$src/lib" -cf - \
        --exclude="$stdlib/test" \
        --exclude="$stdlib/idlelib" \
        --exclude="$stdlib/tkinter" \
        --exclude="$stdlib/turtledemo" \
        --exclude="$stdlib/site-packages" \
        --exclude='__pycache__' \
        "$stdlib" | tar -C "$root/lib" -xf -
    mkdir "$root/lib/$stdlib/site-packages"
    local sp="$src/lib/$stdlib/site-packages"
    for f in "$sp"/pip "$sp"/pip-*.dist-info; do
        [[ -e "$f" ]] && cp -a "$f" "$root/lib/$stdlib/site-packages/"
    done
    find "$root" -name __pycache__ -type d -prune -exec rm -rf {} +

    if [[ "${BENCH_STRIP:-0}" == 1 ]]; then
        find "$root" -type f \( -name '*.so' -o -name '*.so.*' -o -name '*.a' -o -path '*/bin/python3.*' \) \
            ! -name '*-config' ! -name '*.py' -exec strip --strip-debug {} + 2>/dev/null || true
    fi

    # Same-length in-place rewrite of the absolute RUNPATH; skipped unless it occurs exactly once.
    local exe
    exe=$(cd "$root/bin" && compgen -G 'python3.*' | grep -E '^python3\.[0-9]+$' | head -n1) || true
    if [[ -n "$exe" ]]; then
        python3 - "$root/bin/$exe" "$src/lib" <<'PY' || bench_log "note: left the RUNPATH of $exe as it was"
import sys
path, old = sys.argv[1], sys.argv[2].encode() + b"\0"
new = b"$ORIGIN/../lib"
data = open(path, "rb").read()
if data.count(old) != 1 or len(new) + 1 > len(old):
    sys.exit(1)
new = new + b"\0" * (len(old) - len(new))
open(path, "wb").write(data.replace(old, new))
PY
    fi

    local tmp_out="$staging/out.tar.gz"
    tar -C "$staging" --sort=name --owner=0 --group=0 --numeric-owner --mtime='@946684800' \
        -cf - python | gzip -6 -n >"$tmp_out"
    mv -f "$tmp_out" "$out"
)

# bench_unpack_uv WHEEL DIR: print the path of the uv binary taken out of WHEEL into DIR,
# unpacking it only when DIR does not already hold it.
bench_unpack_uv() {
    local wheel=$1 dir=$2
    local uv="$dir/uv"
    if [[ ! -x "$uv" ]]; then
        [[ -f "$wheel" ]] || bench_die "uv wheel not found: $wheel"
        mkdir -p "$dir"
        python3 - "$wheel" "$uv" <<'PY'
import os, shutil, sys, zipfile
wheel, dest = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(wheel) as z:
    names = [n for n in z.namelist() if n.endswith(".data/scripts/uv")]
    if not names:
        sys.exit(f"no .data/scripts/uv in {wheel}")
    tmp = dest + ".tmp"
    with z.open(names[0]) as src, open(tmp, "wb") as dst:
        shutil.copyfileobj(src, dst)
    os.chmod(tmp, 0o755)
    os.replace(tmp, dest)
PY
    fi
    printf '%s\n' "$uv"
}

# bench_http_start DIR PORTFILE LOG: serve DIR read-only over HTTP on 127.0.0.1 with Python's
# http.server, on BENCH_PORT if set, else on a free port the kernel picks; the port is written to
# PORTFILE once the socket listens. Sets BENCH_HTTP_PID; pair with bench_http_stop (e.g. in a trap).
BENCH_HTTP_PID=
bench_http_start() {
    local dir=$1 portfile=$2 log=$3
    rm -f "$portfile"
    python3 - "$dir" "$portfile" "${BENCH_PORT:-0}" >"$log" 2>&1 <<'PY' &
import functools, http.server, os, sys
directory, portfile, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=directory)
server = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
with open(portfile + ".tmp", "w") as f:
    f.write(f"{server.server_address[1]}\n")
os.replace(portfile + ".tmp", portfile)
server.serve_forever()
PY
    BENCH_HTTP_PID=$!
    local i
    for ((i = 0; i < 100; i++)); do
        [[ -s "$portfile" ]] && return 0
        kill -0 "$BENCH_HTTP_PID" 2>/dev/null || break
        sleep 0.1
    done
    bench_log "$(cat "$log" 2>/dev/null)"
    bench_die "the HTTP server for $dir did not start"
}

bench_http_stop() {
    if [[ -n "$BENCH_HTTP_PID" ]]; then
        kill "$BENCH_HTTP_PID" 2>/dev/null || true
        wait "$BENCH_HTTP_PID" 2>/dev/null || true
        BENCH_HTTP_PID=
    fi
}

# bench_django_setup REPO: what the Django sandbox benches share. Sets WHEELHOUSE (the shared
# wheelhouse, or $WHEELHOUSE), PY (pyenv's 3.12, or $BENCH_PYTHON) and PYENVX (the release
# binary, built first unless BENCH_BUILD=0).
bench_django_setup() {
    local repo=$1
    WHEELHOUSE=${WHEELHOUSE:-$(cd "$repo/../shared/wheelhouse" 2>/dev/null && pwd || echo /work/shared/wheelhouse)}
    PY=${BENCH_PYTHON:-$(compgen -G '/root/.pyenv/versions/3.12.*/bin/python3' | head -n1)}
    [[ -x "$PY" ]] || bench_die "no CPython 3.12 (set BENCH_PYTHON)"
    [[ -d "$WHEELHOUSE" ]] || bench_die "no wheelhouse at $WHEELHOUSE"
    if [[ "${BENCH_BUILD:-1}" == 1 ]]; then
        (cd "$repo" && cargo build --release --quiet)
    fi
    PYENVX="$repo/target/release/pyenvx"
    [[ -x "$PYENVX" ]] || bench_die "no $PYENVX (run cargo build --release)"
}

# bench_time_us LOG CMD...: run CMD with its output in LOG, print its wall time in microseconds;
# fail loudly (showing LOG) if it fails.
bench_time_us() {
    local log=$1 start end
    shift
    start=$(bench_now_us)
    "$@" >"$log" 2>&1 || { cat "$log" >&2; bench_die "failed: $*"; }
    end=$(bench_now_us)
    printf '%s\n' "$((end - start))"
}
