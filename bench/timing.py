"""Interleaved timing of short commands, for bench/shims.sh and bench/run.sh.

    python3 bench/timing.py COMMANDS RUNS TOOL ROUND_RUNS WORK PAIRS OUT_JSON

COMMANDS: one line per command, label<TAB>directory<TAB>extra env (K=V, or -)<TAB>argv...
TOOL: `loop` (a posix_spawn loop alternating every run) or `hyperfine` (rounds of ROUND_RUNS).
PAIRS: `label=base,label=base`: each label's overhead is the median of its per-round differences
against base (each pair ran back to back, so drift on a shared machine cancels out).
Prints each command's median, p10 and p90 and the overheads; writes {"median": {...},
"overhead": {...}} in ms to OUT_JSON for the calling script's own summary.
"""
import json, os, random, statistics, subprocess, sys, time

commands_file, runs, tool, round_runs, work, pairs, out_json = sys.argv[1:]
runs, round_runs = int(runs), int(round_runs)
if tool == "loop":
    round_runs = 1
base_of = dict(p.split("=", 1) for p in pairs.split(",") if p)

commands = []
for line in open(commands_file):
    label, cwd, extra, *argv = line.rstrip("\n").split("\t")
    env = dict(os.environ)
    if extra != "-":
        key, _, value = extra.partition("=")
        env[key] = value
    commands.append({"label": label, "cwd": cwd, "env": env, "argv": argv, "rounds": []})
by_label = {c["label"]: c for c in commands}


def run_once(c):
    # posix_spawn + waitpid: the harness's own cost is the same for every command.
    os.chdir(c["cwd"])
    start = time.perf_counter_ns()
    pid = os.posix_spawn(c["argv"][0], c["argv"], c["env"],
                         file_actions=[(os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0)])
    _, status = os.waitpid(pid, 0)
    elapsed = (time.perf_counter_ns() - start) / 1e6
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"{c['label']} failed: {' '.join(c['argv'])}")
    return elapsed


def run_round(c):
    if tool == "loop":
        return [run_once(c)]
    out = os.path.join(work, "hyperfine.json")
    subprocess.run(
        ["hyperfine", "-N", "--style", "none", "--warmup", "1", "--runs", str(round_runs),
         "--export-json", out, " ".join(c["argv"])],
        cwd=c["cwd"], env=c["env"], check=True,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return [t * 1000 for t in json.load(open(out))["results"][0]["times"]]


for c in commands:  # warm-up: page cache, pyenv's rehash, a shim's first exec
    for _ in range(3):
        run_once(c)
rounds = (runs + round_runs - 1) // round_runs
shuffler = random.Random(0)
for r in range(rounds):
    # Every command once per round, so drift hits all of them alike; in a shuffled order, so no
    # command always follows the same one (a run right after a Python exits is slower).
    order = list(commands)
    shuffler.shuffle(order)
    for c in order:
        c["rounds"].append(run_round(c))


def pct(xs, p):
    xs = sorted(xs)
    i = (len(xs) - 1) * p
    lo, hi = int(i), min(int(i) + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (i - lo)


def times(label):
    return [t for r in by_label[label]["rounds"] for t in r]


def overhead(label, base):
    pairs = zip(by_label[label]["rounds"], by_label[base]["rounds"])
    return statistics.median(statistics.median(a) - statistics.median(b) for a, b in pairs)


med = {c["label"]: pct(times(c["label"]), 0.5) for c in commands}
over = {label: overhead(label, base) for label, base in base_of.items() if label in by_label}

print(f"{runs} runs per command, interleaved ({tool}); ms")
print(f"{'':18}{'median':>9}{'p10':>9}{'p90':>9}{'overhead':>11}")
for c in commands:
    label = c["label"]
    extra = f"{over[label]:+10.2f}" if label in over else ""
    xs = times(label)
    print(f"{label:18}{med[label]:9.2f}{pct(xs, 0.1):9.2f}{pct(xs, 0.9):9.2f} {extra}")
print("(overhead: the median of per-round differences against "
      + ", ".join(f"{b} for {l}" for l, b in base_of.items() if l in by_label) + ")")
json.dump({"median": med, "overhead": over}, open(out_json, "w"))
