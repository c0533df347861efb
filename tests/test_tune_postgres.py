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


@pytest.fixture
def postgres_url():
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
    subprocess.run(_as_postgres([str(pg / "pg_ctl"), "-D", str(data), "-w", "-l", str(sock / "server.log"), "start", "-o",
                                 f"-p {port} -k {sock} -c listen_addresses=127.0.0.1"]), check=True, capture_output=True)
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(_as_postgres([str(pg / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"]), capture_output=True)
        shutil.rmtree(base, ignore_errors=True)


def test_two_workers_share_one_postgresql_study_each_trial_once(postgres_url, folder_data, tmp_path):
    from studies import store

    logdir = tmp_path / "logs"
    argv = [sys.executable, str(ROOT / "tune.py"), "--model", "lenet", "--data-dir", str(folder_data), "--logdir",
            str(logdir), *TINY, "--search", "lr=0.0005:0.005:log", "--trials", "2", "--workers", "2",
            "--prune", "none", "--storage", postgres_url]
    done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    study = store.load(postgres_url, "lenet-search")
    assert sorted(t.number for t in study.trials) == [0, 1] and all(t.state.name == "COMPLETE" for t in study.trials)
    assert len({t.user_attrs["run_dir_seed0"] for t in study.trials}) == 2
    assert not (logdir / "optuna.db").exists()  # the study lives in the server, not in the logdir
