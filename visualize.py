"""The report's tables (and, later, figures) from finished runs' metrics.json files.

    python visualize.py table lightning_logs/lenet/version_0 lightning_logs/vgg_bn/version_0

Reads metrics.json, never TensorBoard's binary event files.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Sequence

from errors import UserError


def load_run(run_dir: str | Path) -> dict:
    path = Path(run_dir)
    path = path if path.name == "metrics.json" else path / "metrics.json"
    if not path.exists():
        raise UserError(f"{path} does not exist; pass a run directory written by train.py "
                        f"(lightning_logs/<model>/version_N)")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise UserError(f"{path} is not valid JSON ({e}); the run may have been killed while writing it")


def results_table(runs: Sequence[dict]) -> str:
    """The assignment's table, in Markdown: one row per run, numbers of the best checkpoint."""
    head = ("| model | params (trainable) | epochs | s/epoch | train loss | train acc | val loss | val acc "
            "| test acc | device |")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for m in runs:
        f = m.get("final") or (m["epochs"][-1] if m.get("epochs") else {})
        n = len(m.get("epochs", []))
        pct = lambda k: f"{100 * f[k]:.2f}%" if f.get(k) is not None else "n/a"
        num = lambda k: f"{f[k]:.4f}" if f.get(k) is not None else "n/a"
        p = m["params"]
        status = "" if m.get("status", "finished") == "finished" else f" ({m['status']})"
        lines.append(f"| {m['model']}{status} | {p['total']:,} ({p['trainable']:,}) | {n} "
                     f"| {m['seconds'] / max(n, 1):.1f} | {num('train_loss')} | {pct('train_acc')} "
                     f"| {num('val_loss')} | {pct('val_acc')} | {pct('test_acc')} | {m['device']} |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="visualize.py", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)
    t = sub.add_parser("table", help="print the Markdown results table of one or more runs")
    t.add_argument("runs", nargs="+", help="run directories (lightning_logs/<model>/version_N)")
    args = p.parse_args(argv)
    try:
        if args.command == "table":
            print(results_table([load_run(r) for r in args.runs]))
    except UserError as e:
        print(f"visualize.py: error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
