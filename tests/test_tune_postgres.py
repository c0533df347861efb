"""Two tune.py workers on one study in a real PostgreSQL server, started for the test in a
temporary folder (Debian's `postgresql` package; .ci/run installs it). PostgreSQL refuses to run
as root, so as root the server runs as the package's `postgres` user."""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from conftest import ROOT
from test_tune import TINY

pytestmark = pytest.mark.slow


def _as_postgres(argv: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *argv] if os.geteuid() == 0 else argv


class Server:
    """A PostgreSQL server in a temporary folder, which a test may stop and start again."""

    def __init__(self, pg: Path, data: Path, sock: Path, port: int):
        self.pg, self.data, self.sock, self.port = pg, data, sock, port
        self.url = f"postgresql://postgres@127.0.0.1:{port}/postgres"

    def start(self) -> None:
        subprocess.run(_as_postgres([str(self.pg / "pg_ctl"), "-D", str(self.data), "-w", "-l", str(self.sock / "server.log"),
                                     "start", "-o", f"-p {self.port} -k {self.sock} -c listen_addresses=127.0.0.1"]),
                       check=True, capture_output=True)

    def stop(self, mode: str = "fast") -> None:
        subprocess.run(_as_postgres([str(self.pg / "pg_ctl"), "-D", str(self.data), "-m", mode, "stop"]), capture_output=True)


@pytest.fixture
def postgres():
    bins = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    if not bins:
        pytest.skip("no PostgreSQL server here: apt-get install postgresql (.ci/run does)")
    pg = bins[-1].parent
    base = Path(tempfile.mkdtemp(prefix="pg-"))
    base.chmod(0o755)  # the postgres user reaches its folders through it
    data, sock = base / "data", base / "sock"
    for d in (data, sock):
        d.mkdir()
        if os.geteuid() == 0:
            shutil.chown(d, "postgres")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    subprocess.run(_as_postgres([str(pg / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust"]),
                   check=True, capture_output=True)
    server = Server(pg, data, sock, port)
    server.start()
    try:
        yield server
    finally:
        server.stop("immediate")
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def postgres_url(postgres):
    return postgres.url


def test_two_workers_share_one_postgresql_study_each_trial_once(postgres_url, folder_data, tmp_path):
    from studies import store

    logdir = tmp_path / "logs"
    import tune

    assert tune.main(["--model", "lenet", "--data-dir", str(folder_data), "--logdir", str(logdir), *TINY,
                      "--search", "lr=0.0005:0.005:log", "--trials", "2", "--workers", "2", "--prune", "none",
                      "--storage", postgres_url]) == 0
    study = store.load(postgres_url, "lenet-search")
    assert sorted(t.number for t in study.trials) == [0, 1] and all(t.state.name == "COMPLETE" for t in study.trials)
    assert len({t.user_attrs["run_dir_seed0"] for t in study.trials}) == 2
    assert not (logdir / "optuna.db").exists()  # the study lives in the server, not in the logdir


def test_a_server_stopped_mid_trial_is_one_line_and_the_finished_run_reaches_the_study(postgres, folder_data, tmp_path,
                                                                                     capsys):
    """The server stops while a trial trains: tune.py says so in one line, the run trains on to its
    end; the same command, once the server is back, takes that run's result into the study."""
    import json
    import time

    from studies import store

    logdir = tmp_path / "logs"
    argv = [sys.executable, str(ROOT / "tune.py"), "--model", "lenet", "--data-dir", str(folder_data), "--logdir",
            str(logdir), *TINY, "--epochs", "6", "--search", "lr=0.0005:0.005:log", "--trials", "2",
            "--prune", "none", "--storage", postgres.url]
    proc = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while not (logdir / "lenet" / "version_0" / "checkpoints" / "last.ckpt").exists() and time.time() < deadline:
        time.sleep(0.1)
    postgres.stop()
    err = proc.communicate(timeout=180)[1]
    assert proc.returncode == 1 and "Traceback" not in err, err[-3000:]
    assert err.strip().splitlines()[-1].startswith(f"tune.py: error: lost the study's database {postgres.url} (")
    record = json.loads((logdir / "lenet" / "version_0" / "metrics.json").read_text())
    assert record["status"] == "finished" and record["final"]["val_acc"] is not None  # it trained to its end

    postgres.start()
    import tune

    assert tune.main(argv[2:]) == 0  # the same command (in this process: its runs are child processes still)
    assert "trial 0: its runs finished after the study lost track of it" in capsys.readouterr().out
    trials = store.load(postgres.url, "lenet-search").trials
    recovered = [t for t in trials if t.user_attrs.get("recovered_from") == 0]
    assert len(recovered) == 1 and recovered[0].value == pytest.approx(record["final"]["val_acc"])
    assert sum(t.state.name == "COMPLETE" for t in trials) == 2 and trials[0].state.name == "FAIL"
