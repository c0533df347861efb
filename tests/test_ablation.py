"""experiments/ablation.py: each (row, seed) runs once, its record survives the run folder, a stopped
run resumes, and the summary's conclusions follow the intervals."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

import train
from experiments import ablation, ablation_folders, ablation_runs, ablation_table
from report import ablation as verdict_lines


@pytest.fixture
def in_process(monkeypatch):
    """train.py's runs in this process (seconds instead of a fresh interpreter each); the commands
    they were given."""
    calls = []

    def call(cmd, cwd):
        assert cmd[1] == "train.py" and cwd == ablation.ROOT
        calls.append(cmd[2:])
        return train.main(cmd[2:])

    monkeypatch.setattr(ablation_runs, "call", call)
    return calls


def test_the_ablation_runs_each_row_and_seed_once_keeps_records_and_resumes(folder_data, tmp_path, in_process, capsys):
    records, out, logdir = tmp_path / "records", tmp_path / "ablation.md", tmp_path / "logs"
    argv = ["--data-dir", str(folder_data), "--logdir", str(logdir), "--records", str(records), "--out", str(out),
            "--rows", "full", "no_schedule", "--seeds", "0", "1", "--gpus", "0", "--epochs", "1", "--val-size", "20"]
    assert ablation.main(argv) == 0
    assert [(c[c.index("--logdir") + 1].rsplit("/", 1)[1], c[c.index("--seed") + 1]) for c in in_process] == \
        [("full", "0"), ("full", "1"), ("no_schedule", "0"), ("no_schedule", "1")]
    assert all(c[-4:] == ["--epochs", "1", "--val-size", "20"] for c in in_process)  # passed through
    record = json.loads((records / "no_schedule_seed1.json").read_text())
    assert record["seed"] == 1 and record["status"] == "finished" and record["changes"]["schedule"] is None
    table = out.read_text()
    assert "| vgg_bn | val_size=20, epochs=1 | 2 (seeds 0 1) |" in table
    assert "| vgg_bn | schedule=None, val_size=20, epochs=1 | 2 (seeds 0 1) |" in table
    assert "test acc vs reference (95% CI)" in table

    # A run stopped after an epoch (its record not written yet) is resumed, not started again.
    run = next(d for d in (logdir / "full" / "vgg_bn").glob("version_*")
               if json.loads((d / "metrics.json").read_text())["seed"] == 1)
    metrics = json.loads((run / "metrics.json").read_text())
    (run / "metrics.json").write_text(json.dumps({**metrics, "status": "interrupted"}))
    (records / "full_seed1.json").unlink()
    in_process.clear()
    assert ablation.main(argv) == 0
    assert in_process == [["--resume", str(run)]]
    assert json.loads((records / "full_seed1.json").read_text())["status"] == "finished"

    # Again: every record is there, so nothing runs, even with the run folders gone.
    shutil.rmtree(logdir)
    in_process.clear()
    assert ablation.main(argv) == 0 and in_process == []

    capsys.readouterr()
    assert ablation.main(["--list", "--records", str(records), "--rows", "full", "cutout16", "--epochs", "1",
                          "--val-size", "20"]) == 0
    listed = capsys.readouterr().out
    assert "(missing seeds 2)" in listed.splitlines()[0] and "(missing seeds 0 1 2)" in listed.splitlines()[1]
    assert "4 runs missing of 6" in listed


def _runs(accs: dict[str, list[float]]) -> list[dict]:
    return [{"ablation_row": row, "seed": s, "final": {"test_acc": a}} for row, values in accs.items()
            for s, a in enumerate(values)]


def test_the_summary_says_what_helped_and_hurt_most_only_beyond_seed_noise_and_with_three_seeds():
    rows = [("full", "the defaults", []), ("better", "a gain", []), ("best", "a big gain", []),
            ("worse", "a loss", []), ("same", "no change", []), ("once", "one seed", []),
            ("wild", "seeds that disagree", [])]
    lines = verdict_lines.summary(_runs({"full": [0.807, 0.81, 0.813], "better": [0.83, 0.84, 0.85],
                                          "best": [0.90, 0.91, 0.92], "worse": [0.50, 0.51, 0.52],
                                          "same": [0.808, 0.812, 0.81], "once": [0.99],
                                          "wild": [0.85, 0.30, 0.84]}), rows)
    text = "\n".join(lines)
    assert lines[0].startswith("Test accuracy against the defaults' 81.00% (n=3), 5 of 6 suggestions")
    assert lines[1].startswith("- **Helped most**: a big gain (`best`, +10.00 pts [")
    assert "- Also better: a gain (`better`, +3.00 pts [" in text
    assert "- **Hurt most**: a loss (`worse`, -30.00 pts [" in text
    assert "- **Did not matter** (within seed noise, and within 1 pt either way): no change (`same`)." in text
    # Zero in the interval, but so is a 30-point loss: no verdict either way.
    assert "- **Undecided** (the interval holds zero, but also changes of more than 1 pt; the seeds spread too " \
           "far for 3 to decide): seeds that disagree (`wild`, -14.67 pts [" in text
    assert "; seeds 85.00% 30.00% 84.00%." in text  # some above the defaults' range: nothing said of all
    low = verdict_lines.summary(_runs({"full": [0.80, 0.81, 0.82], "wild": [0.75, 0.30, 0.79]}), rows[:1] + rows[-1:])
    assert "; seeds 75.00% 30.00% 79.00%: all below the defaults' lowest (80.00%)." in low[-1]
    assert "- Not measured over 3 seeds yet: `once` (n=1)." in text
    for row in ("best", "better", "worse", "same", "once", "wild"):  # each row in one line only: one verdict
        assert sum(f"`{row}`" in line for line in lines) == 1, row
    # Two seeds of the defaults: no conclusions at all.
    assert verdict_lines.summary(_runs({"full": [0.8, 0.81], "best": [0.9, 0.91, 0.92]}), rows[:2])[0].startswith(
        "No conclusions yet")


def test_the_figure_shows_each_verdict_best_on_top_and_far_rows_at_the_edge(tmp_path):
    """results/ablation.png: a row per suggestion with its verdict, none without 3 seeds; a row too far
    for the axis (no BatchNorm: -76 points) drawn at its edge with its number, not off the picture, and
    a row in view whose interval runs past the edge (CutMix) with its numbers too."""
    from figures.ablation import interval_figure

    rows = [("full", "", []), ("best", "", []), ("worse", "", []), ("same", "", []), ("once", "", []),
            ("small_loss", "", []), ("wild", "", []), ("far_end", "", [])]
    found = verdict_lines.verdicts(_runs({"full": [0.807, 0.81, 0.813], "best": [0.82, 0.825, 0.83],
                                           "worse": [0.50, 0.51, 0.52], "same": [0.808, 0.812, 0.81],
                                           "once": [0.99], "small_loss": [0.79, 0.795, 0.80],
                                           "wild": [0.85, 0.30, 0.84], "far_end": [0.75, 0.765, 0.78]}), rows)
    drawn = interval_figure(found, 0.81, 3, verdict_lines.MARGIN, tmp_path / "a.png")
    assert drawn == [("best", "better", False), ("same", "noise", False), ("small_loss", "worse", False),
                     ("far_end", "worse", True), ("wild", "unsure", True), ("worse", "worse", True)]
    far_end = found["verdicts"]["far_end"]
    assert -0.06 < far_end.diff and far_end.low < -0.06  # the case: its point in view, its interval not
    assert (tmp_path / "a.png").read_bytes()[:4] == b"\x89PNG"


def test_the_table_shows_its_figure_and_drops_one_it_no_longer_has(tmp_path):
    records, out = tmp_path / "records", tmp_path / "ablation.md"
    records.mkdir()
    template = json.loads((ablation.ROOT / "results" / "ablation" / "full_seed0.json").read_text())
    for row, accs in {"full": [0.85, 0.86, 0.87], "adam": [0.84, 0.845, 0.85]}.items():
        for seed, acc in enumerate(accs):
            record = {**template, "seed": seed, "final": {**template["final"], "test_acc": acc}}
            (records / f"{row}_seed{seed}.json").write_text(json.dumps(record))
    ablation_table.write(records, out, ablation.ROWS, "vgg_bn")
    assert "![Each suggestion's test accuracy against the defaults, with its 95% interval](ablation.png)" \
        in out.read_text() and (tmp_path / "ablation.png").is_file()
    (records / "full_seed2.json").unlink()  # two seeds of the defaults: no verdicts, so no figure
    ablation_table.write(records, out, ablation.ROWS, "vgg_bn")
    assert "ablation.png" not in out.read_text() and not (tmp_path / "ablation.png").exists()


def test_the_committed_records_are_the_ablation_rows_and_finished_runs():
    names = {name for name, _, _ in ablation.ROWS}
    for f in (ablation.ROOT / "results" / "ablation").glob("*.json"):
        row, seed = f.stem.rsplit("_seed", 1)
        m = json.loads(f.read_text())
        assert row in names and m["seed"] == int(seed) and m["status"] == "finished" and m["model"] == "vgg_bn", f


def test_call_waits_through_ctrl_c_for_the_run_to_stop_on_its_own():
    """Ctrl-C reaches the run too; subprocess.call would SIGKILL it a quarter second later, before it
    has said how to continue (and mid-write, at worst). ablation_runs.call returns the run's own exit code."""
    import _thread
    import sys
    import threading

    import signal

    # A real SIGINT to this thread, as a terminal's Ctrl-C: it interrupts the wait (interrupt_main would not).
    threading.Timer(0.3, signal.pthread_kill, (threading.main_thread().ident, signal.SIGINT)).start()
    assert ablation_runs.call([sys.executable, "-c", "import time; time.sleep(1.5); raise SystemExit(7)"]) == 7


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="PR_SET_PDEATHSIG and /proc: Linux")
def test_a_run_does_not_outlive_a_killed_ablation(tmp_path):
    """kill -9 of the ablation (ablation_runs.call's process): its run stops too, instead of training on for
    nobody, holding its folder's lock against the next ablation's resume."""
    import os
    import signal
    import subprocess
    import sys
    import time

    run = tmp_path / "run.py"  # a stand-in for train.py: says its pid, then trains for a minute
    run.write_text(f"import os, time; open({str(tmp_path / 'pid')!r}, 'w').write(str(os.getpid())); time.sleep(60)")
    parent = subprocess.Popen([sys.executable, "-c", "import sys; from experiments import ablation_runs; "
                               f"ablation_runs.call([sys.executable, {str(run)!r}], cwd={str(ablation.ROOT)!r})"],
                              cwd=ablation.ROOT)
    try:
        deadline = time.time() + 30
        while not (tmp_path / "pid").is_file() or not (tmp_path / "pid").read_text():
            assert time.time() < deadline and parent.poll() is None
            time.sleep(0.05)
        child = int((tmp_path / "pid").read_text())
        parent.kill()
        parent.wait()
        deadline = time.time() + 10
        while Path(f"/proc/{child}").exists() and "Z" not in Path(f"/proc/{child}/stat").read_text().split()[2] \
                and time.time() < deadline:
            time.sleep(0.05)
        gone = not Path(f"/proc/{child}").exists() or "Z" in Path(f"/proc/{child}/stat").read_text().split()[2]
    finally:
        if parent.poll() is None:
            parent.kill()
    if not gone:
        os.kill(child, signal.SIGKILL)
    assert gone


def _fake_runs(monkeypatch, logdir, fail: dict | None = None):
    """ablation_runs.call as a run of 0.3 s that writes a finished record (a committed one, its seed and
    changes swapped): each call's row, seed and thread count, and the most runs at once."""
    import threading
    import time

    from core import run_folder

    template = json.loads((ablation.ROOT / "results" / "ablation" / "full_seed0.json").read_text())
    changes = {row: ablation_folders.changes_of(flags, []) for row, _, flags in ablation.ROWS}
    seen, running, lock = {"calls": [], "most": 0}, [0], threading.Lock()

    def call(cmd, cwd, env=None, stdout=None, stderr=None):
        row, seed = cmd[cmd.index("--logdir") + 1].rsplit("/", 1)[1], int(cmd[cmd.index("--seed") + 1])
        with lock:
            running[0] += 1
            seen["most"] = max(seen["most"], running[0])
            seen["calls"].append((row, seed, (env or {}).get("OMP_NUM_THREADS")))
        if (row, seed) in (fail or {}):  # fails once the run beside it has started: no race for that one
            deadline = time.monotonic() + 10
            while len(seen["calls"]) < 2 and time.monotonic() < deadline:
                time.sleep(0.01)
        rc = (fail or {}).get((row, seed), lambda: 0)()
        if rc not in (0, 130) and stdout is not None:  # what train.py says when it fails, into the run's log
            stdout.write("decode train: 100%\rtrain.py: error: no CIFAR-10 data in d\n\n")
        time.sleep(0 if rc else 0.6)  # a failing run ends well before the one beside it (no race for the next)
        if rc == 0:
            run = logdir / row / "vgg_bn" / f"version_{seed}"
            run.mkdir(parents=True)
            run_folder.write_record(run, {**template, "seed": seed, "changes": changes[row]})  # never half a file
        with lock:
            running[0] -= 1
        return rc

    monkeypatch.setattr(ablation_runs, "call", call)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(ablation_runs.os, "cpu_count", lambda: 4)
    return seen


def test_parallel_runs_each_missing_run_once_n_at_once_each_its_share_of_the_cores(tmp_path, monkeypatch, capsys):
    seen = _fake_runs(monkeypatch, tmp_path / "logs")
    argv = ["--data-dir", "d", "--logdir", str(tmp_path / "logs"), "--records", str(tmp_path / "records"),
            "--out", str(tmp_path / "a.md"), "--rows", "full", "adam", "--seeds", "0", "1", "2", "--parallel", "2",
            "--gpus", "0"]
    assert ablation.main(argv) == 0
    assert sorted(seen["calls"]) == [(r, s, "2") for r in ("adam", "full") for s in (0, 1, 2)] and seen["most"] == 2
    assert sorted(p.name for p in (tmp_path / "records").iterdir()) == sorted(
        f"{r}_seed{s}.json" for r in ("adam", "full") for s in (0, 1, 2))
    assert "output in " + str(tmp_path / "logs" / "full" / "seed0.log") in capsys.readouterr().out


def test_parallel_runs_write_each_of_their_lines_whole(tmp_path, monkeypatch):
    """Two threads' lines never merge: each is one write, text and newline together (print's two writes
    gave "[2/4] === ... started (...)[1/4] === ... started (...)" then two newlines)."""
    import io
    import sys

    class Writes(io.StringIO):
        def write(self, text):
            writes.append(text)
            return super().write(text)

    writes = []
    _fake_runs(monkeypatch, tmp_path / "logs")
    monkeypatch.setattr(sys, "stdout", Writes())
    argv = ["--data-dir", "d", "--logdir", str(tmp_path / "logs"), "--records", str(tmp_path / "records"),
            "--out", str(tmp_path / "a.md"), "--rows", "full", "adam", "--seeds", "0", "1", "--parallel", "2",
            "--gpus", "0"]
    assert ablation.main(argv) == 0
    lines = [w for w in writes if "===" in w]
    assert len(lines) == 8 and all(w.endswith("\n") and w.count("\n") == 1 for w in lines), lines


def test_a_run_another_ablation_is_writing_is_left_to_it(tmp_path, monkeypatch, capsys):
    """Two ablations on one LOGDIR (a second terminal): a (row, seed) whose run folder a live train.py
    holds is neither resumed (its lock refuses: the ablation stopped) nor started again; the rest runs."""
    from core import run_folder

    logs = tmp_path / "logs"
    seen = _fake_runs(monkeypatch, logs)
    theirs = logs / "full" / "vgg_bn" / "version_7"
    (theirs / "checkpoints").mkdir(parents=True)
    (theirs / "checkpoints" / "last.ckpt").write_bytes(b"")
    run_folder.write_record(theirs, {"seed": 0, "status": "running"})
    argv = ["--data-dir", "d", "--logdir", str(logs), "--records", str(tmp_path / "records"),
            "--out", str(tmp_path / "a.md"), "--rows", "full", "--seeds", "0", "1", "--gpus", "0"]
    with run_folder.writing(theirs):  # the other ablation's train.py, alive
        assert ablation.main(argv) == 0
    assert seen["calls"] == [("full", 1, None)]
    assert f"full, seed 0: another process is running it in {theirs}; left to it" in capsys.readouterr().out
    assert sorted(p.name for p in (tmp_path / "records").iterdir()) == ["full_seed1.json"]


def test_a_run_another_ablation_has_taken_is_left_to_it_before_its_folder_exists(tmp_path, monkeypatch, capsys):
    """Two ablations on one LOGDIR: the second finds the first's (row, seed) in the tens of seconds before
    its train.py has a folder to lock (reading the data). It ran it a second time; now the first's claim
    says it is taken. The claim goes with its process (a flock), and is never one's own."""
    logs = tmp_path / "logs"
    seen = _fake_runs(monkeypatch, logs)
    argv = ["--data-dir", "d", "--logdir", str(logs), "--records", str(tmp_path / "records"),
            "--out", str(tmp_path / "a.md"), "--rows", "full", "--seeds", "0", "1", "--gpus", "0"]
    with ablation_folders.claim(logs, "full", 0) as mine:  # the other ablation, its run still starting
        assert mine
        assert ablation.main(argv) == 0
    assert seen["calls"] == [("full", 1, None)]
    assert f"full, seed 0: another process is running it in {logs / 'full'}; left to it" in capsys.readouterr().out
    assert ablation.main(argv) == 0  # the claim gone with its holder: seed 0 runs now
    assert seen["calls"] == [("full", 1, None), ("full", 0, None)]


def test_rows_run_in_the_order_given(tmp_path, monkeypatch):
    seen = _fake_runs(monkeypatch, tmp_path / "logs")
    argv = ["--data-dir", "d", "--logdir", str(tmp_path / "logs"), "--records", str(tmp_path / "records"),
            "--out", str(tmp_path / "a.md"), "--rows", "cutmix1", "full", "cutmix1", "--seeds", "0", "--gpus", "0"]
    assert ablation.main(argv) == 0
    assert seen["calls"] == [("cutmix1", 0, None), ("full", 0, None)]


def test_parallel_a_failed_or_stopped_run_starts_nothing_new_and_waits_for_the_others(tmp_path, monkeypatch, capsys):
    """A run that exits non-zero: the one beside it finishes and keeps its record, nothing more starts.
    Ctrl-C (here: the main thread's KeyboardInterrupt while the run beside it goes on) likewise, and an
    exception in a worker, which also says what it was."""
    import signal
    import threading
    import time

    def ctrl_c():  # the terminal's SIGINT reaches this process (its main thread) and the run, which stops
        time.sleep(0.1)  # the main thread waiting for the runs by now
        signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)
        return 130

    def broken():  # an exception in a worker thread (a record it cannot read): the thread printed it, and rc was 0
        raise OSError("No space left on device")

    for i, (fail, rc) in enumerate((({("full", 0): lambda: 1}, 1), ({("full", 0): ctrl_c}, 130), ({("full", 0): broken}, 1))):
        logs, records = tmp_path / f"logs{i}", tmp_path / f"records{i}"
        seen = _fake_runs(monkeypatch, logs, fail)
        argv = ["--data-dir", "d", "--logdir", str(logs), "--records", str(records), "--out", str(tmp_path / "a.md"),
                "--rows", "full", "--seeds", "0", "1", "2", "--parallel", "2", "--gpus", "0"]
        assert ablation.main(argv) == rc
        assert sorted(seen["calls"]) == [("full", 0, "2"), ("full", 1, "2")], rc  # seed 2 never started
        assert [p.name for p in records.iterdir()] == ["full_seed1.json"]
        out, err = capsys.readouterr()
        assert f"ablation stopped: full seed 0 exited with {rc}; the same command continues it" \
               + ("" if rc == 130 else ", once what it said is mended") in err
        assert i != 0 or "=== full, seed 0 exited with 1 after 0.0 min: train.py: error: no CIFAR-10 data in d\n" in out
        assert i < 2 or "=== full, seed 0: OSError: No space left on device" in err


def test_records_of_other_settings_are_refused_and_never_tabulated_as_the_row(tmp_path, monkeypatch, capsys):
    """A record is its row's only while its run changed what the row (and the passed-through flags)
    change now: runs made with --epochs 3, or a row redefined since, are refused before anything runs,
    and a finished run folder of other settings is not copied into the records."""
    logs, records = tmp_path / "logs", tmp_path / "records"
    seen = _fake_runs(monkeypatch, logs)
    argv = ["--data-dir", "d", "--logdir", str(logs), "--records", str(records), "--out", str(tmp_path / "a.md"),
            "--rows", "full", "cutmix1", "--seeds", "0", "--gpus", "0"]
    assert ablation.main(argv) == 0 and len(seen["calls"]) == 2
    before = {f.name: f.read_bytes() for f in records.iterdir()}
    capsys.readouterr()

    assert ablation.main(argv + ["--epochs", "3"]) == 2
    assert capsys.readouterr().err.splitlines() == [
        f"ablation.py: error: {records / 'full_seed0.json'}: its run changed nothing, but row full as run now "
        f"changes epochs=3; give the flags it was made with, or another --records (and --logdir) for these"]
    redefined = [(r, w, ["--set", "cutmix=0.5"] if r == "cutmix1" else f) for r, w, f in ablation.ROWS]
    monkeypatch.setattr(ablation, "ROWS", redefined)
    assert ablation.main(argv) == 2
    assert "cutmix1_seed0.json: its run changed cutmix=1.0, but row cutmix1 as run now changes cutmix=0.5" \
        in capsys.readouterr().err
    monkeypatch.undo()
    seen = _fake_runs(monkeypatch, logs)
    assert ablation.main([*argv[:5], str(tmp_path / "other"), *argv[6:], "--epochs", "3"]) == 2  # the old folders
    assert "full, seed 0: not recorded: " in capsys.readouterr().err and not (tmp_path / "other").exists()
    assert seen["calls"] == [] and {f.name: f.read_bytes() for f in records.iterdir()} == before


def test_the_newest_finished_run_of_a_seed_is_its_record_counting_versions_as_numbers(tmp_path):
    from core import run_folder

    for n, acc in ((9, 0.1), (10, 0.2), (2, 0.3)):
        run = tmp_path / "full" / "vgg_bn" / f"version_{n}"
        run.mkdir(parents=True)
        run_folder.write_record(run, {"seed": 0, "status": "finished", "final": {"test_acc": acc}})
    assert ablation_folders.finished_run(tmp_path, "full", 0).parent.name == "version_10"


def test_tta_gets_its_own_verdict_paired_on_the_same_weights_by_hand():
    """The defaults' runs whose best epoch is their last: the last epoch's test pass (no TTA) and the
    final scoring of those weights (flip TTA) differ by 0.79, 0.87, 0.78 pts: mean 0.813, sd 0.0493,
    t(0.975, 2) = 4.3027: [+0.69, +0.94]. A run whose best epoch came earlier is no pair."""
    def run(seed, no_tta, tta, best=10):
        return {"ablation_row": "full", "seed": seed, "hparams": {"tta": 1},
                "epochs": [{"epoch": 10, "test_acc": no_tta, "val_acc": 0.8}],
                "final": {"epoch": best, "test_acc": tta, "val_acc": 0.81}}
    runs = [run(0, 0.8507, 0.8586), run(1, 0.8511, 0.8598), run(2, 0.8529, 0.8607), run(3, 0.85, 0.95, best=9)]
    assert verdict_lines.tta_line(runs) == ("- **TTA** (flip, in the defaults; the same weights scored with it and "
                                            "without): +0.81 pts [+0.69, +0.94] test, paired over 3 seeds.")
    assert verdict_lines.tta_line(runs[:1]) is None  # one pair: no interval
    assert "| 3 |" not in ablation_table.tta_table(runs) and "| 2 | 85.29% | 86.07% |" in ablation_table.tta_table(runs)
