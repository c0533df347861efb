"""How experiments/ablation.py runs its missing (row, seed)s: each a `python train.py` in its own process
(resumed where it stopped, left alone where another process has it), --parallel at a time from threads,
its record copied when it finishes. Ctrl-C stops each run resumably; kill -9 of the ablation stops them
too (GUARD)."""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from experiments.ablation_folders import (changes_of, claim, finished_run, not_the_rows, record_path,
                                          running_elsewhere, unfinished_run)
from experiments.ablation_rows import MODEL

ROOT = Path(__file__).resolve().parents[1]


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
