"""The committed numbers agree: README's model table and results/README.md's table are the
records in results/*.json (a rerun that replaces a record must update both)."""
from __future__ import annotations

import json
import re

from conftest import ROOT

import visualize


def test_readme_accuracies_are_the_committed_records():
    readme = (ROOT / "README.md").read_text()
    for model in ("lenet", "vgg_bn", "resnet9"):
        record = json.loads((ROOT / "results" / f"{model}.json").read_text())
        row = next(line for line in readme.splitlines() if line.startswith(f"| `{model}` |"))
        assert re.search(r"\| (\d+\.\d\d)% \|$", row).group(1) == f"{100 * record['final']['test_acc']:.2f}", row


def test_results_readme_table_is_visualize_table_of_the_records(capsys):
    files = [str(ROOT / "results" / f"{m}.json") for m in ("lenet", "vgg_bn", "resnet9")]
    assert visualize.main(["table", *files]) == 0
    table = capsys.readouterr().out.strip()
    assert table in (ROOT / "results" / "README.md").read_text()
    commits = {json.loads(open(f).read())["environment"]["git_commit"][:7] for f in files}
    assert len(commits) == 1 and f"commit {commits.pop()}" in (ROOT / "results" / "README.md").read_text()
