"""Task 2(e) measured: vgg_bn's defaults against each suggestion of the assignment, over seeds.

    python experiments/ablation.py --data-dir ../cifar10-jpeg        # every row, seeds 0 1 2
    python experiments/ablation.py --data-dir ../cifar10-jpeg --rows full cutout16 --seeds 0 1 2 3
    python experiments/ablation.py --data-dir ../cifar10-jpeg --parallel 2   # two runs at once, a core each
    python experiments/ablation.py --list                            # the rows, and the runs still missing
    python experiments/ablation.py --table-only                      # results/ablation.md from the records

Each (row, seed) is one full default-length `python train.py --model vgg_bn --seed S <row's flags>`
run, in its own process, into LOGDIR/<row>/. When it finishes, its metrics.json is copied to
RECORDS/<row>_seed<S>.json (default results/ablation/): the records are the study. A (row, seed)
with a record is never run again, so the same command continues the ablation after Ctrl-C, in
another session or on another machine, once the records are committed; a run stopped mid-way in
LOGDIR is resumed from its last checkpoint, and one that a live train.py is writing (another
ablation on the same LOGDIR) is left to it. Flags it does not know pass through to train.py
(`--gpus 1`, or `--epochs 1 --val-size 20` for a smoke test). `--parallel N` runs N at once as
`tune.py --workers N` does, one GPU each or each its share of the cores (benchmarks/tune_workers.py:
two one-thread trials at once on 2 cores, 42 s against 53 s one after the other; short trials, not
measured on full runs), each run's output in LOGDIR/<row>/seed<S>.log. At the end it rewrites OUT
(default results/ablation.md) from every record: a row per suggestion (seeds merged: mean ± std,
n), and the verdict against the defaults (Welch's 95% interval, `studies/verdict.py`), with a figure
of the verdicts beside it (OUT with .png: figures/ablation.py).

Why not `tune.py --grid`: a grid runs every combination of its keys; an ablation changes one thing at
a time (and some rows change two keys together: Adam with its own lr, no BatchNorm with a retuned lr).
"""
from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from experiments.ablation_folders import (changes_of, claim, finished_run, not_the_rows, record_path,  # noqa: E402
                                          running_elsewhere, unfinished_run)
from experiments.ablation_rows import MODEL, NAMES, ROWS  # noqa: E402


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                epilog="Other flags pass through to every train.py run (e.g. --gpus 1).")
    p.add_argument("--data-dir", help="the CIFAR-10 copy (train.py --data-dir); needed to run, not for --list/--table-only")
    p.add_argument("--logdir", default="lightning_logs/ablation", help="run folders, one per row (default %(default)s)")
    p.add_argument("--records", default=str(ROOT / "results" / "ablation"), help="the finished runs' metrics.json copies")
    p.add_argument("--out", default=str(ROOT / "results" / "ablation.md"), help="the table written at the end")
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2], help="seeds per row (default 0 1 2)")
    p.add_argument("--rows", nargs="+", choices=NAMES, metavar="ROW",
                   help="only these rows, run in this order (default all; --list names them)")
    p.add_argument("--list", action="store_true", help="print the rows with their commands and missing runs, and exit")
    p.add_argument("--table-only", action="store_true", help="only rewrite --out from the records")
    p.add_argument("--parallel", type=int, default=1, metavar="N",
                   help="runs at once (default 1): one GPU each where there are GPUs, else each its share of the cores; "
                        "their output goes to LOGDIR/<row>/seed<S>.log")
    args, passthrough = p.parse_known_args(argv)
    if not (args.list or args.table_only or args.data_dir):
        p.error("--data-dir is needed to run the ablation (or give --list or --table-only)")
    if args.parallel < 1:
        p.error(f"--parallel {args.parallel}: must be at least 1")
    return args, passthrough


def run_one(args, passthrough: list[str], row: str, flags: list[str], seed: int, env: dict | None = None,
            count: str = "") -> int:
    """The run of (row, seed) to its end, resumed if it stopped, and its record copied; left alone
    while another process has it. With `env` (--parallel), in that environment, its output into
    LOGDIR/<row>/seed<S>.log."""
    logdir, records = Path(args.logdir), Path(args.records)
    with claim(logdir, row, seed) as mine:
        elsewhere = None if mine else logdir / row
        if mine and finished_run(logdir, row, seed) is None:
            elsewhere = running_elsewhere(logdir, row, seed)  # a train.py started by hand, say
        if elsewhere is not None:  # resuming it would fail on its lock; a new run would repeat it
            say(f"{count}=== {row}, seed {seed}: another process is running it in {elsewhere}; left to it")
            return 0
        if finished_run(logdir, row, seed) is None:
            rc = start(args, passthrough, row, flags, seed, env, count)
            if rc != 0:
                return rc
        finished = finished_run(logdir, row, seed)
    if finished is None:  # exit code 0 without a finished record: say so rather than fail copying nothing
        say(f"=== {row}, seed {seed}: the run ended, but no finished metrics.json of it is in {logdir / row}", sys.stderr)
        return 1
    if (why := not_the_rows(finished, row, changes_of(flags, passthrough))) is not None:  # an older run there
        say(f"=== {row}, seed {seed}: not recorded: {why}", sys.stderr)
        return 2
    records.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(finished, record_path(records, row, seed))
    return 0


def start(args, passthrough: list[str], row: str, flags: list[str], seed: int, env: dict | None, count: str) -> int:
    """train.py for (row, seed): resumed from its stopped folder if it has one, else a new run; its exit code."""
    logdir = Path(args.logdir)
    stopped = unfinished_run(logdir, row, seed)
    cmd = ([sys.executable, "train.py", "--resume", str(stopped)] if stopped else
           [sys.executable, "train.py", "--model", MODEL, "--data-dir", args.data_dir, "--logdir", str(logdir / row),
            "--seed", str(seed), *flags, *passthrough])
    if env is None:
        say(f"{count}=== {row}, seed {seed}: {' '.join(cmd[1:])}")
        return call(cmd, cwd=ROOT)
    log, began = logdir / row / f"seed{seed}.log", time.time()
    log.parent.mkdir(parents=True, exist_ok=True)
    say(f"{count}=== {row}, seed {seed} started ({''.join(f'{k}={v}; ' for k, v in env.items())}output in {log})")
    with open(log, "a") as out:
        rc = call(cmd, cwd=ROOT, env={**os.environ, **env}, stdout=out, stderr=subprocess.STDOUT)
    said = f": {last_line(log)}" if rc not in (0, 130) else ""  # its error, which is in the log, not here
    say(f"=== {row}, seed {seed} {'finished' if rc == 0 else f'exited with {rc}'} after "
        f"{(time.time() - began) / 60:.1f} min{said}")
    return rc


# A run started as `python -c GUARD PID train.py ARGS`: it asks the kernel for SIGTERM when this process
# ends (kill -9 included), then is `python train.py ARGS`. Without it, kill -9 of the ablation left its
# runs training for nobody, holding their folders' locks so that the next ablation could not resume them.
# From the child itself: preexec_fn is unsafe beside --parallel's threads.
GUARD = ("import sys, runpy; from studies.launch import die_with_parent; die_with_parent(int(sys.argv.pop(1))); "
         "del sys.argv[0]; runpy.run_path(sys.argv[0], run_name='__main__')")


def say(line: str, stream=None) -> None:
    """A line in one write: print's text and its newline are two, which --parallel's threads interleave
    ("A B" then two newlines)."""
    stream = stream or sys.stdout
    stream.write(line + "\n")
    stream.flush()


def last_line(log: Path) -> str:
    """The last line a run wrote (a progress bar's last state after its last carriage return)."""
    with open(log, "rb") as f:
        f.seek(max(0, f.seek(0, os.SEEK_END) - 4096))
        lines = [ln.rsplit("\r", 1)[-1].strip() for ln in f.read().decode(errors="replace").splitlines()]
    return next((ln for ln in reversed(lines) if ln), "")


def call(cmd: list[str], **popen) -> int:
    """subprocess.call, but it waits through Ctrl-C: the run got the signal too (one process group) and
    stops on its own, resumable, where subprocess.call would SIGKILL it. Its exit code says so (130).
    A script (`python X.py ...`) also stops when this process dies: GUARD."""
    if cmd[1].endswith(".py"):
        cmd = [cmd[0], "-c", GUARD, str(os.getpid()), *cmd[1:]]
    with subprocess.Popen(cmd, **popen) as proc:
        while True:
            try:
                return proc.wait()
            except KeyboardInterrupt:
                pass


def run_missing(args, passthrough: list[str], missing: list) -> int:
    """The missing runs, --parallel at a time (from threads; one in this thread): each worker takes the
    next until none is left or one failed or was stopped (the others go to their end, nothing new starts)."""
    queue, failed, lock, total = list(missing), [], threading.Lock(), len(missing)

    def worker(env: dict | None) -> None:
        while True:
            with lock:
                if not queue or failed:
                    return
                row, flags, seed = queue.pop(0)
                count = f"[{total - len(queue)}/{total}] "
            try:
                rc = run_one(args, passthrough, row, flags, seed, env, count)
            except Exception as e:  # noqa: BLE001 -- in a thread it would only be printed, and the ablation say 0
                say(f"=== {row}, seed {seed}: {type(e).__name__}: {e}", sys.stderr)
                rc = 1
            if rc != 0:
                with lock:
                    failed.append((row, seed, rc))

    if args.parallel == 1:
        worker(None)
    else:
        from studies.workers import worker_envs

        gpus = passthrough[passthrough.index("--gpus") + 1] if "--gpus" in passthrough[:-1] else None
        envs = worker_envs(min(args.parallel, total), int(gpus) if gpus and gpus.isdigit() else None)
        threads = [threading.Thread(target=worker, args=(env,), daemon=True) for env in envs]
        # Ctrl-C reaches every run too (one process group): each stops on its own. Here it only stops new
        # runs from starting, through a handler instead of a KeyboardInterrupt, which could land inside
        # Thread.start or Thread.join (and there mark a live thread as ended: Python 3.11).
        previous = signal.signal(signal.SIGINT, lambda *_: queue.clear())
        try:
            for t in threads:
                t.start()
            for t in threads:
                t.join()
        finally:
            signal.signal(signal.SIGINT, previous)
    for row, seed, rc in failed[:1]:
        print(f"ablation stopped: {row} seed {seed} exited with {rc}; the same command continues it"
              + ("" if rc == 130 else ", once what it said is mended"), file=sys.stderr)
    return failed[0][2] if failed else 0


def main(argv=None) -> int:
    args, passthrough = parse_args(argv)
    records = Path(args.records)
    by_name = dict((r[0], r) for r in ROWS)  # --rows in the order given: what a user wants first runs first
    chosen = [by_name[n] for n in dict.fromkeys(args.rows)] if args.rows else ROWS
    wanted = {row: changes_of(flags, passthrough) for row, _, flags in ROWS}
    for row in wanted:  # records of other settings are not this table's: say so before anything runs
        for record in sorted(records.glob(f"{row}_seed*.json")):
            if (why := not_the_rows(record, row, wanted[row])) is not None:
                print(f"ablation.py: error: {why}", file=sys.stderr)
                return 2
    missing = [(row, flags, s) for row, _, flags in chosen for s in args.seeds if not record_path(records, row, s).exists()]
    if args.list:
        for row, what, flags in chosen:
            todo = [s for r, _, s in missing if r == row]
            print(f"{row:20s} {what}: python train.py --model {MODEL} {' '.join(flags)}"
                  + (f"  (missing seeds {' '.join(map(str, todo))})" if todo else "  (done)"))
        print(f"{len(missing)} runs missing of {len(chosen) * len(args.seeds)}")
        return 0
    if not args.table_only:
        rc = run_missing(args, passthrough, missing)
        if rc != 0:
            return rc
    from experiments.ablation_table import write

    write(records, Path(args.out), ROWS, MODEL)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
