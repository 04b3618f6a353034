#!/usr/bin/env bash
# Benchmark: `pyenvx db snapshot` + `db snapshot restore` against `pyenvx db dump` (pg_dump
# --format=custom) + `db restore` (pg_restore into a scratch database, then the swap) of the
# same database of about 200 MB, on the native backend. Prints each run, the medians, and the
# ratio (dump + restore) / (snapshot + snapshot restore), with whether it meets TARGET_RATIO.
#
#   snapshot   CREATE DATABASE … TEMPLATE … STRATEGY = FILE_COPY inside the running server
#   ready      (not counted) the background work after the take: the snapshot's ready copy,
#              timed from the take's return until its lock is free
#   snap-rest  the renames that put the ready copy in place of the database
#   dump       pg_dump -Fc of the database to a file (fsynced, renamed into place)
#   restore    pg_restore of that file into a scratch database, then the swap
#   switch     `db branch switch` to a branch (a copy of the database) and back: two renames
#
# Before each timed step a CHECKPOINT and a sync (untimed) write out what the previous step left
# in memory, so each is timed for its own work.
#
# The database: one table of ROWS rows (an id, two md5s, a timestamp) with a primary key, about
# 200 MB on disk with the default ROWS. Both ways run against the same database, alternately.
#
# Run from the repository root:
#
#     bench/snapshot.sh
#
# Knobs (environment):
#   RUNS=3                 timed runs of each way
#   ROWS=1500000           rows in the table (1.5 M: about 200 MB with its index)
#   BENCH_BUILD=1          run `cargo build --release` first (0: use the binary as it is)
#   BENCH_PYENVX=target/release/pyenvx
#   BENCH_PG_VERSION=15    [services.db] version (the machine's binaries must have it)
#   BENCH_PORTS=56200-56299  PYENVX_DB_PORTS for the runs
#   BENCH_KEEP=0           1: keep the work directory
#   TARGET_RATIO=5         how many times faster snapshots must be
#   TMPDIR=/tmp            where the work directory goes (as root it is opened to the `postgres`
#                          account, which runs the native server)
#
# The ready copy a take leaves to the background is waited for (untimed, shown) before the
# restore: a restore right after a take waits for it, and is then a copy's time, not a rename's.
#
# Needs bash >= 4, flock (util-linux) and python3. Exit status: 0 when every command succeeded, target met or not.

set -euo pipefail

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$REPO_ROOT/bench/lib.sh"

RUNS=${RUNS:-3}
ROWS=${ROWS:-1500000}
BENCH_BUILD=${BENCH_BUILD:-1}
BENCH_PYENVX=${BENCH_PYENVX:-$REPO_ROOT/target/release/pyenvx}
BENCH_PG_VERSION=${BENCH_PG_VERSION:-15}
BENCH_PORTS=${BENCH_PORTS:-56200-56299}
BENCH_KEEP=${BENCH_KEEP:-0}
TARGET_RATIO=${TARGET_RATIO:-5}

[[ "$RUNS" =~ ^[1-9][0-9]*$ ]] || bench_die "RUNS must be a positive integer, not '$RUNS'"
[[ "$ROWS" =~ ^[1-9][0-9]*$ ]] || bench_die "ROWS must be a positive integer, not '$ROWS'"

while IFS= read -r var; do
    case "$var" in PYENVX_* | PG*) unset "$var" ;; esac
done < <(compgen -e)

if [[ "$BENCH_BUILD" == 1 ]]; then
    bench_log "building pyenvx (cargo build --release)..."
    (cd "$REPO_ROOT" && cargo build --release --quiet) ||
        bench_die "cargo build --release failed (BENCH_BUILD=0 benchmarks the existing binary)"
fi
[[ -x "$BENCH_PYENVX" ]] || bench_die "no pyenvx binary at $BENCH_PYENVX"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/pyenvx-bench-snapshot.XXXXXX")
chmod 755 "$WORK"
export PYENVX_HOME="$WORK/home" PYENVX_CACHE_DIR="$WORK/cache" PYENVX_DB_PORTS="$BENCH_PORTS"
export PYENVX_NO_PROGRESS=1 NO_COLOR=1
mkdir -p "$PYENVX_HOME" "$PYENVX_CACHE_DIR"

DIR="$WORK/project"
cleanup() {
    [[ -d "$DIR" ]] && (cd "$DIR" && "$BENCH_PYENVX" --quiet db down >/dev/null 2>&1) || true
    if [[ "$BENCH_KEEP" == 1 ]]; then
        bench_log "kept $WORK"
    else
        rm -rf "$WORK"
    fi
}
trap cleanup EXIT

# timed ARGS... -> microseconds of `pyenvx ARGS` in the project
timed() {
    local t0 t1 rc=0
    t0=$(bench_now_us)
    (cd "$DIR" && "$BENCH_PYENVX" "$@" >"$WORK/last.log" 2>&1) || rc=$?
    t1=$(bench_now_us)
    if ((rc != 0)); then
        cat "$WORK/last.log" >&2
        bench_die "pyenvx $* failed (exit $rc)"
    fi
    printf '%s\n' "$((t1 - t0))"
}

sql() {
    (cd "$DIR" && "$BENCH_PYENVX" --quiet db psql -- -X -tA -v ON_ERROR_STOP=1 -c "$1")
}

mkdir -p "$DIR"
printf '[project]\nname = "benchsnap"\n\n[services.db]\nversion = "%s"\n' "$BENCH_PG_VERSION" >"$DIR/pyenvx.toml"
timed db up >/dev/null
bench_log "filling the database ($ROWS rows)..."
sql "create table big as select g as id, md5(g::text) as a, md5((g * 7)::text) as b,
       now() - g * interval '1 second' as at from generate_series(1, $ROWS) g;
     alter table big add primary key (id)" >/dev/null
sql "vacuum analyze big" >/dev/null
size=$(sql "select pg_database_size(current_database())")
rows_then=$(sql "select count(*) || ':' || sum(id) from big")
bench_log "pyenvx $("$BENCH_PYENVX" --version | cut -d' ' -f2), PostgreSQL $BENCH_PG_VERSION, database $((size / 1048576)) MB, $RUNS runs, work in $WORK"

# The background work a take or a restore starts (the snapshot's next ready copy, the replaced
# database dropped): microseconds until its lock is free.
background() {
    local t0 t1 lock="$DIR/.pyenvx/snapshots/db/background.lock"
    t0=$(bench_now_us)
    if [[ -e "$lock" ]]; then
        flock "$lock" true
    fi
    t1=$(bench_now_us)
    printf '%s\n' "$((t1 - t0))"
}

# Before each timed step, untimed: a checkpoint and a sync, so that no step pays for writing out
# what the one before it left in memory (a restore leaves its whole database to be written by
# the next checkpoint, which a snapshot's FILE_COPY would otherwise perform).
settle() {
    sql "checkpoint" >/dev/null
    sync
}

SNAP=() REST=() DUMP=() LOAD=() READY=()
for ((i = 1; i <= RUNS; i++)); do
    settle
    snap=$(timed db snapshot "s$i")
    ready=$(background)
    settle
    rest=$(timed db snapshot restore "s$i" --yes)
    background >/dev/null
    grep -q 'renamed into place' "$WORK/last.log" || bench_die "the restore copied instead of renaming: $(cat "$WORK/last.log")"
    timed db snapshot rm "s$i" >/dev/null
    settle
    dump=$(timed db dump "$WORK/db.dump" --force)
    settle
    load=$(timed db restore "$WORK/db.dump" --yes)
    SNAP+=("$snap") REST+=("$rest") DUMP+=("$dump") LOAD+=("$load") READY+=("$ready")
    printf 'run %-5s snapshot %ss (ready copy %ss after)  snap-rest %ss  |  dump %ss  restore %ss\n' "$i/$RUNS" \
        "$(bench_secs "$snap")" "$(bench_secs "$ready")" "$(bench_secs "$rest")" "$(bench_secs "$dump")" "$(bench_secs "$load")"
done
[[ "$(sql "select count(*) || ':' || sum(id) from big")" == "$rows_then" ]] ||
    bench_die "the rows changed across the runs"

# `db branch switch` between two branches holding the same database: two renames, whatever the
# size. The branch copy (`db branch new`) is a snapshot's copy and is shown, not compared.
settle
new=$(timed db branch new other)
SWITCH=()
for ((i = 1; i <= RUNS; i++)); do
    settle
    there=$(timed db branch switch other)
    settle
    back=$(timed db branch switch main)
    SWITCH+=("$there" "$back")
done
timed db branch rm other >/dev/null
[[ "$(sql "select count(*) || ':' || sum(id) from big")" == "$rows_then" ]] ||
    bench_die "the rows changed across the switches"

snap_med=$(bench_median "${SNAP[@]}")
rest_med=$(bench_median "${REST[@]}")
dump_med=$(bench_median "${DUMP[@]}")
load_med=$(bench_median "${LOAD[@]}")
fast=$((snap_med + rest_med))
slow=$((dump_med + load_med))
echo
printf 'median snapshot %ss + restore %ss = %ss  (the ready copy, in the background: %ss)\n' "$(bench_secs "$snap_med")" \
    "$(bench_secs "$rest_med")" "$(bench_secs "$fast")" "$(bench_secs "$(bench_median "${READY[@]}")")"
printf 'median dump     %ss + restore %ss = %ss  (file %s MB)\n' "$(bench_secs "$dump_med")" "$(bench_secs "$load_med")" \
    "$(bench_secs "$slow")" "$(($(stat -c %s "$WORK/db.dump") / 1048576))"
printf 'branch: new (a copy) %ss, switch median %ss of %s (%s)\n' "$(bench_secs "$new")" \
    "$(bench_secs "$(bench_median "${SWITCH[@]}")")" "${#SWITCH[@]}" \
    "$(for t in "${SWITCH[@]}"; do printf '%ss ' "$(bench_secs "$t")"; done)"
awk -v s="$slow" -v f="$fast" -v t="$TARGET_RATIO" 'BEGIN {
    r = s / f
    printf "ratio %.1fx (target >= %sx: %s)\n", r, t, (r >= t) ? "met" : "NOT met"
}'
