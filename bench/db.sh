#!/usr/bin/env bash
# Benchmark: `pyenvx db up`, cold (init + start + ready) and warm (start + ready of an existing
# database), native against container. Prints each run, the medians, and whether the native
# targets are met: cold under TARGET_COLD (2 s), warm under TARGET_WARM (0.5 s).
#
#   cold  a new project's first `pyenvx db up`: native = initdb, start, CREATE DATABASE, a login;
#         container = volume, container, the image's first-run setup, a login from the host
#   warm  `pyenvx db up` after `pyenvx db down`: native = start (with the shutdown checkpoint
#         already written) and a login; container = `docker start` and a login
#
# "Ready" is what pyenvx waits for: a login with the project's credentials succeeded. Every run
# uses a new project directory and, for the container, a new volume; all runs share one
# PYENVX_HOME (the port registry) and the machine's PostgreSQL binaries.
#
# Run from the repository root:
#
#     bench/db.sh
#
# Knobs (environment):
#   RUNS=5                 timed runs per backend (cold and warm each)
#   BENCH_BUILD=1          run `cargo build --release` first (0: use the binary as it is)
#   BENCH_PYENVX=target/release/pyenvx
#   BENCH_PG_VERSION=15    [services.db] version (the machine's binaries must have it)
#   BENCH_CONTAINER=auto   auto: when a Docker/Podman engine answers; 0: native only
#   BENCH_IMAGE=           image for the container backend; default the official postgres:15 if
#                          the engine has it, else a stand-in built here from this machine's
#                          PostgreSQL 15 (the recipe of tests/common/pgimage.rs), removed at the end
#   BENCH_PORTS=56100-56199  PYENVX_DB_PORTS for the runs
#   BENCH_KEEP=0           1: keep the work directory
#   TARGET_COLD=2.0 TARGET_WARM=0.5   seconds, native medians
#   TMPDIR=/tmp            where the work directory goes (as root it is opened to the `postgres`
#                          account, which runs the native server)
#
# Needs bash >= 4 and python3. Exit status: 0 when every `db up` succeeded, targets met or not.

set -euo pipefail

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$REPO_ROOT/bench/lib.sh"

RUNS=${RUNS:-5}
BENCH_BUILD=${BENCH_BUILD:-1}
BENCH_PYENVX=${BENCH_PYENVX:-$REPO_ROOT/target/release/pyenvx}
BENCH_PG_VERSION=${BENCH_PG_VERSION:-15}
BENCH_CONTAINER=${BENCH_CONTAINER:-auto}
BENCH_IMAGE=${BENCH_IMAGE:-}
BENCH_PORTS=${BENCH_PORTS:-56100-56199}
BENCH_KEEP=${BENCH_KEEP:-0}
TARGET_COLD=${TARGET_COLD:-2.0}
TARGET_WARM=${TARGET_WARM:-0.5}

[[ "$RUNS" =~ ^[1-9][0-9]*$ ]] || bench_die "RUNS must be a positive integer, not '$RUNS'"

while IFS= read -r var; do
    case "$var" in PYENVX_* | PG*) unset "$var" ;; esac
done < <(compgen -e)

if [[ "$BENCH_BUILD" == 1 ]]; then
    bench_log "building pyenvx (cargo build --release)..."
    (cd "$REPO_ROOT" && cargo build --release --quiet) ||
        bench_die "cargo build --release failed (BENCH_BUILD=0 benchmarks the existing binary)"
fi
[[ -x "$BENCH_PYENVX" ]] || bench_die "no pyenvx binary at $BENCH_PYENVX"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/pyenvx-bench-db.XXXXXX")
chmod 755 "$WORK"
export PYENVX_HOME="$WORK/home" PYENVX_CACHE_DIR="$WORK/cache" PYENVX_DB_PORTS="$BENCH_PORTS"
export PYENVX_NO_PROGRESS=1 NO_COLOR=1
mkdir -p "$PYENVX_HOME" "$PYENVX_CACHE_DIR"

ENGINE=""
if [[ "$BENCH_CONTAINER" != 0 ]]; then
    for e in ${PYENVX_CONTAINER_ENGINE:-docker podman}; do
        if command -v "$e" >/dev/null && "$e" version >/dev/null 2>&1; then
            ENGINE=$e
            break
        fi
    done
    [[ -n "$ENGINE" ]] || bench_log "no container engine answers: native only"
fi
BUILT_IMAGE=""

PROJECTS=()
cleanup() {
    local dir
    for dir in "${PROJECTS[@]}"; do
        [[ -d "$dir" ]] || continue
        (cd "$dir" && "$BENCH_PYENVX" --quiet db down >/dev/null 2>&1) || true
        if [[ -n "$ENGINE" ]]; then
            "$ENGINE" ps -aq --filter "label=pyenvx.project=$dir" | xargs -r "$ENGINE" rm -f -v >/dev/null 2>&1 || true
            "$ENGINE" volume ls -q --filter "label=pyenvx.project=$dir" | xargs -r "$ENGINE" volume rm -f >/dev/null 2>&1 || true
        fi
    done
    [[ -n "$BUILT_IMAGE" ]] && "$ENGINE" image rm -f "$BUILT_IMAGE" >/dev/null 2>&1
    if [[ "$BENCH_KEEP" == 1 ]]; then
        bench_log "kept $WORK"
    else
        rm -rf "$WORK"
    fi
}
trap cleanup EXIT

# The stand-in image: PostgreSQL 15 from this machine, the libraries it links, /bin/sh, and an
# entrypoint honouring the official image's contract (see tests/common/pgimage.rs).
build_standin() {
    local tag=$1 tar="$WORK/rootfs.tar"
    python3 - "$tar" <<'PY'
import os, subprocess, sys, tarfile, io
out = sys.argv[1]
ENTRY = r'''#!/bin/sh
set -e
: "${POSTGRES_USER:=postgres}"
: "${POSTGRES_DB:=$POSTGRES_USER}"
: "${PGDATA:=/var/lib/postgresql/data}"
export PATH=/usr/lib/postgresql/15/bin:/bin
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  printf '%s\n' "$POSTGRES_PASSWORD" > /tmp/pwfile
  initdb -D "$PGDATA" -U "$POSTGRES_USER" --pwfile=/tmp/pwfile -E UTF8 --locale=C --no-instructions
  : > /tmp/pwfile
  printf 'host all all all scram-sha-256\n' >> "$PGDATA/pg_hba.conf"
  if [ "$POSTGRES_DB" != "postgres" ]; then
    printf 'CREATE DATABASE "%s";\n' "$POSTGRES_DB" | postgres --single -D "$PGDATA" -j postgres > /dev/null
  fi
fi
exec postgres -D "$PGDATA" -c listen_addresses='*' -c port=5432 -c unix_socket_directories=/var/run/postgresql "$@"
'''
files = set()
def add(p):
    try:
        p = os.path.join(os.path.realpath(os.path.dirname(p)), os.path.basename(p))
        os.lstat(p)
    except OSError:
        return
    if p in files:
        return
    files.add(p)
    if os.path.islink(p):
        add(os.path.realpath(p))
for root in ["/usr/lib/postgresql/15", "/usr/share/postgresql/15"]:
    for d, _, names in os.walk(root):
        for n in names:
            add(os.path.join(d, n))
for p in ["/usr/share/zoneinfo/UTC", "/usr/share/zoneinfo/Etc/UTC", "/bin/sh"]:
    add(p)
for p in sorted(files):
    if os.path.isfile(p) and not os.path.islink(p) and open(p, "rb").read(4) == b"\x7fELF":
        for line in subprocess.run(["ldd", p], capture_output=True, text=True).stdout.splitlines():
            w = line.split("=>")[-1].split()
            if w and w[0].startswith("/"):
                add(w[0])
with tarfile.open(out, "w") as t:
    for link in ["/bin", "/sbin", "/lib", "/lib64"]:
        if os.path.islink(link):
            i = tarfile.TarInfo(link[1:]); i.type = tarfile.SYMTYPE; i.linkname = os.readlink(link)
            t.addfile(i)
    def mkdir(path, mode=0o755, uid=0):
        i = tarfile.TarInfo(path.lstrip("/")); i.type = tarfile.DIRTYPE; i.mode = mode; i.uid = i.gid = uid
        t.addfile(i)
    done = set()
    for p in sorted(files):
        parts = p.split("/")[1:-1]
        for k in range(1, len(parts) + 1):
            d = "/" + "/".join(parts[:k])
            if d not in done:
                done.add(d); mkdir(d)
        t.add(p, arcname=p.lstrip("/"), recursive=False)
    for d, mode, uid in [("/var", 0o755, 0), ("/var/lib", 0o755, 0), ("/var/lib/postgresql", 0o755, 999),
                         ("/var/lib/postgresql/data", 0o700, 999), ("/var/run", 0o755, 0),
                         ("/var/run/postgresql", 0o775, 999), ("/tmp", 0o1777, 0), ("/etc", 0o755, 0),
                         ("/usr/local", 0o755, 0), ("/usr/local/bin", 0o755, 0)]:
        if d not in done:
            done.add(d); mkdir(d, mode, uid)
    for path, mode, body in [
        ("etc/passwd", 0o644, b"root:x:0:0:root:/root:/bin/sh\npostgres:x:999:999::/var/lib/postgresql:/bin/sh\n"),
        ("etc/group", 0o644, b"root:x:0:\npostgres:x:999:\n"),
        ("usr/local/bin/docker-entrypoint.sh", 0o755, ENTRY.encode()),
    ]:
        i = tarfile.TarInfo(path); i.mode = mode; i.size = len(body)
        t.addfile(i, io.BytesIO(body))
PY
    "$ENGINE" import \
        --change "USER 999" \
        --change "ENV PGDATA=/var/lib/postgresql/data" \
        --change "ENV PATH=/usr/lib/postgresql/15/bin:/usr/local/bin:/usr/bin:/bin" \
        --change "EXPOSE 5432" \
        --change "VOLUME /var/lib/postgresql/data" \
        --change 'ENTRYPOINT ["/usr/local/bin/docker-entrypoint.sh"]' \
        "$tar" "$tag" >/dev/null
}

if [[ -n "$ENGINE" && -z "$BENCH_IMAGE" ]]; then
    if "$ENGINE" image inspect "postgres:$BENCH_PG_VERSION" >/dev/null 2>&1; then
        BENCH_IMAGE="postgres:$BENCH_PG_VERSION"
    elif [[ "$BENCH_PG_VERSION" == 15 && -x /usr/lib/postgresql/15/bin/postgres ]]; then
        BENCH_IMAGE="pyenvx-bench-postgres:15-$$"
        bench_log "building a stand-in for postgres:15 from this machine's PostgreSQL 15..."
        build_standin "$BENCH_IMAGE"
        BUILT_IMAGE=$BENCH_IMAGE
    else
        bench_log "no postgres:$BENCH_PG_VERSION image and no way to make one: native only"
        ENGINE=""
    fi
fi

# new_project BACKEND N: a fresh project in $DIR (not printed: PROJECTS must grow in this shell)
new_project() {
    local backend=$1 n=$2 dir="$WORK/p-$1-$2"
    DIR=$dir
    mkdir -p "$dir"
    {
        printf '[project]\nname = "bench%s"\n\n[services.db]\nengine = "postgres"\n' "$n"
        printf 'version = "%s"\nbackend = "%s"\n' "$BENCH_PG_VERSION" "$backend"
        [[ "$backend" == container ]] && printf 'image = "%s"\n' "$BENCH_IMAGE"
    } >"$dir/pyenvx.toml"
    PROJECTS+=("$dir")
}

# timed DIR ARGS... -> microseconds of `pyenvx ARGS` in DIR
timed() {
    local dir=$1 t0 t1 rc=0
    shift
    t0=$(bench_now_us)
    (cd "$dir" && "$BENCH_PYENVX" --quiet "$@" >"$WORK/last.log" 2>&1) || rc=$?
    t1=$(bench_now_us)
    if ((rc != 0)); then
        cat "$WORK/last.log" >&2
        bench_die "pyenvx $* failed in $dir (exit $rc)"
    fi
    printf '%s\n' "$((t1 - t0))"
}

declare -A COLD WARM
backends=(native)
[[ -n "$ENGINE" ]] && backends+=(container)

bench_log "pyenvx $("$BENCH_PYENVX" --version | cut -d' ' -f2), PostgreSQL $BENCH_PG_VERSION, $RUNS runs, work in $WORK"
[[ -n "$ENGINE" ]] && bench_log "container: $ENGINE, image $BENCH_IMAGE"

for backend in "${backends[@]}"; do
    # One untimed project first: binaries in the page cache, the image's layers on disk.
    new_project "$backend" 0
    timed "$DIR" db up >/dev/null
    timed "$DIR" db down >/dev/null
    for ((i = 1; i <= RUNS; i++)); do
        new_project "$backend" "$i"
        dir=$DIR
        sync
        cold=$(timed "$dir" db up)
        timed "$dir" db down >/dev/null
        sync
        warm=$(timed "$dir" db up)
        timed "$dir" db down >/dev/null
        COLD[$backend]+="$cold "
        WARM[$backend]+="$warm "
        printf 'run %-5s %-9s cold %ss  warm %ss\n' "$i/$RUNS" "$backend" "$(bench_secs "$cold")" "$(bench_secs "$warm")"
    done
done

echo
for backend in "${backends[@]}"; do
    # shellcheck disable=SC2086 # word splitting intended: the lists are space-separated integers
    cold_med=$(bench_median ${COLD[$backend]})
    # shellcheck disable=SC2086
    warm_med=$(bench_median ${WARM[$backend]})
    line="$(printf '%-9s median cold %ss  warm %ss' "$backend" "$(bench_secs "$cold_med")" "$(bench_secs "$warm_med")")"
    if [[ "$backend" == native ]]; then
        verdict=$(awk -v c="$cold_med" -v w="$warm_med" -v tc="$TARGET_COLD" -v tw="$TARGET_WARM" \
            'BEGIN { print (c / 1e6 < tc && w / 1e6 < tw) ? "met" : "NOT met" }')
        line+="  (targets: cold < ${TARGET_COLD}s, warm < ${TARGET_WARM}s: $verdict)"
    fi
    printf '%s\n' "$line"
done
