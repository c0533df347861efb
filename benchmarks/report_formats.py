"""Seconds to write each format of a report (report.md, report.pdf, latex/report.tex), from the same
page: the figures are drawn once, before, and not counted. Goal: the PDF in under 10 s on 2 cores.

    python benchmarks/report_formats.py LOGDIR [--out DIR]
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from report import document  # noqa: E402


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("logdir")
    p.add_argument("--out", help="default: a temporary folder")
    args = p.parse_args(argv)
    out = Path(args.out or tempfile.mkdtemp())
    start = time.perf_counter()
    page = document.build_report(Path(args.logdir), out)  # the page and its figures, no file yet
    page_s = time.perf_counter() - start
    print(f"| what | seconds |\n|---|---|\n| the page and its figures (not a format) | {page_s:.2f} |")
    for fmt in document.FORMATS:
        start = time.perf_counter()
        path = document.write_format(page, fmt)
        print(f"| {fmt}: {path.relative_to(out)} ({path.stat().st_size // 1024} KiB) | {time.perf_counter() - start:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
