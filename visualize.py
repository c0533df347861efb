"""The report's figures and tables, as PNG and Markdown, from runs' metrics.json and checkpoints.

    python visualize.py curves  RUN_DIR [--out DIR]             # loss and accuracy vs epoch: train, val, test
    python visualize.py compare RUN_DIR RUN_DIR [--out DIR]     # train and val loss of two runs in one plot
    python visualize.py filters RUN_DIR|CKPT [--image N] [--out DIR]  # image, first/last conv activations, weights
    python visualize.py confusion RUN_DIR|CKPT [--out DIR]      # test confusion matrix, per-class accuracy
    python visualize.py mistakes RUN_DIR|CKPT [--n 20]          # highest-loss test images with Grad-CAM,
                                                                # per-class precision/recall/F1, calibration
    python visualize.py cam RUN_DIR|CKPT [--images I ...]       # Grad-CAM of test images (default: the mistakes)
    python visualize.py cam RUN_DIR|CKPT --images cat.jpg photos/  # ... or of your own images
    python visualize.py table   RUN_DIR... [--baseline RUN_DIR] # the Markdown results table; with 2+ seeds a group,
                                                                # its difference to the reference: gain or seed noise
    python visualize.py study   [LOGDIR] [--storage URL] [--study NAME]  # a tune.py study: trials, best, figures
    python visualize.py report  [LOGDIR] [--out DIR] [--dataset NAME] [--runs RUN_DIR...] [--format md,pdf,tex] [--ablation RECORDS]
                                  # the report, for one data set: each model's latest experiment, seeds merged

Never reads TensorBoard's event files. Bad input: a one-line error and exit code 2. The drawing code
lives in figures/ (shared with TensorBoard's images), the report's parts in report/: curves.py (from
metrics.json), checkpoint_figures.py (filters and confusion: a checkpoint and its data), tables.py,
page.py and document.py (report.md).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Sequence

from core.errors import RunInterrupted, UserError


def _formats(text: str) -> tuple[str, ...]:
    from report.document import FORMATS

    chosen = tuple(dict.fromkeys(f.strip() for f in text.split(",") if f.strip()))
    wrong = [f for f in chosen if f not in FORMATS]
    if wrong or not chosen:
        raise argparse.ArgumentTypeError(f"{wrong[0] if wrong else text!r} is not a format; give some of "
                                         f"{', '.join(FORMATS)}, comma-separated")
    return chosen


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="visualize.py", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)
    for name, nargs in (("curves", 1), ("compare", "+"), ("filters", 1), ("confusion", 1), ("table", "+")):
        c = sub.add_parser(name)
        c.add_argument("runs", nargs=nargs)
        c.add_argument("--out", default="figures")
        c.add_argument("--image", type=int, default=0, help="test image index (filters): the same picture for every run")
        if name == "table":
            c.add_argument("--baseline", metavar="RUN_DIR", help="the reference of the verdict column (default: "
                           "each model's runs with the fewest changed settings)")
    for name in ("mistakes", "cam"):
        c = sub.add_parser(name)
        c.add_argument("runs", nargs=1, metavar="RUN_DIR|CKPT")
        c.add_argument("--out", default="figures")
        c.add_argument("--n", type=int, default=20, help="how many of the highest-loss test images (default 20)")
        if name == "cam":
            c.add_argument("--images", nargs="+", metavar="I|PATH",
                           help="test image indices (default: the mistakes), or image files and folders of one's own "
                                "(decoded and resized as predict.py does; the first --n of them)")
    st = sub.add_parser("study")
    st.add_argument("logdir", nargs="?", default="lightning_logs", help="its optuna.db is the default storage")
    st.add_argument("--storage", metavar="URL", help="the study's database (a SQLAlchemy URL)")
    st.add_argument("--study", metavar="NAME", help="needed when the storage holds several studies")
    st.add_argument("--out", default="figures")
    r = sub.add_parser("report")
    r.add_argument("logdir", nargs="?", default="lightning_logs")
    r.add_argument("--out", default="report")
    r.add_argument("--compare", nargs="+", metavar="RUN",
                   help="the runs of item 3d: model names (their latest experiment) or run folders; "
                        "default: the most accurate experiment against the resnet18 one")
    r.add_argument("--dataset", metavar="NAME", help="the data set the report is about (default: the one most runs used)")
    r.add_argument("--format", type=_formats, default=("md",), metavar="md,pdf,tex",
                   help="what to write, comma-separated: report.md (default), report.pdf, report.tex with its figures")
    r.add_argument("--runs", nargs="+", metavar="RUN_DIR",
                   help="the runs to report on, instead of each model's latest experiment (runs of one model "
                        "that differ only in their seed are merged)")
    r.add_argument("--ablation", type=Path, metavar="RECORDS",
                   help="answer 2e with the verdicts of an ablation's records folder (experiments/ablation.py's "
                        "--records, e.g. results/ablation): its summary and figure")
    return p.parse_args(argv)


def _checkpoint_figures(args: argparse.Namespace, run, out: Path) -> list[Path]:
    """The subcommands that draw from a trained network: confusion, filters, mistakes, cam."""
    from figures.mistakes import per_class_table
    from report import checkpoint_figures, mistakes

    if args.command == "confusion":
        return [checkpoint_figures.plot_confusion(run, out)]
    if args.command == "filters":
        paths = checkpoint_figures.plot_filters(run, args.image, out)
        if not paths:
            from figures.filters import NO_CONV

            print(f"no filter figures: {NO_CONV}")
        return paths
    if args.n < 1:
        raise UserError(f"--n {args.n}: must be at least 1")
    if args.command == "cam":
        return [mistakes.plot_cam(run, out, args.images, args.n,
                                  warn=lambda text: print(f"visualize.py: warning: {text}", file=sys.stderr))]
    paths, facts = mistakes.plot_mistakes(run, out, args.n)
    print(per_class_table(facts["per_class"]))
    print(f"expected calibration error: {100 * facts['calibration']['ece']:.2f}% ({facts['calibration']['bins']} bins)")
    return paths


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    # Imported here, after parsing: --help answers at once; only the checkpoint figures and report import torch.
    from inference import trained
    from report import document, tables
    from report.curves import load_run, plot_compare, plot_curves

    try:
        if args.command == "report":
            for path in document.write_report(Path(args.logdir), Path(args.out), args.compare, args.dataset, args.runs,
                                              args.format, args.ablation):
                print(path)
            return 0
        out = Path(args.out)
        if args.command == "study":
            from report import study as study_report
            from studies import store

            study = store.load(args.storage or store.default_url(args.logdir), args.study)
            print(study_report.summary(study, study.user_attrs.get("model", "?")))
            print("\n".join(map(str, study_report.figures(study, out))))
            return 0
        if args.command == "table":
            runs = []
            for r in args.runs:  # a run still in its first epoch (a glob over a logdir) is left out, said so
                try:
                    runs.append(load_run(r))
                except UserError as e:
                    if "no finished epoch" not in str(e) or len(args.runs) == 1:
                        raise
                    print(f"note: skipping {r}: {e}", file=sys.stderr)
            if args.baseline and not any(Path(m["run_dir"]).resolve() == Path(args.baseline).resolve() for m in runs):
                raise UserError(f"--baseline {args.baseline}: not one of the runs given; list it among them")
            print(tables.results_table(runs, args.baseline))
            if args.baseline and "vs reference" not in tables.results_table(runs, args.baseline):
                print("note: no verdict column: a verdict needs two or more seeds on both sides (the --baseline's "
                      "group and another); train them with --seeds 0 1 2", file=sys.stderr)
        elif args.command == "curves":
            print("\n".join(map(str, plot_curves(load_run(args.runs[0]), out))))
        elif args.command == "compare":
            if len(args.runs) < 2:
                raise UserError("compare needs two or more runs")
            print(plot_compare([load_run(r) for r in args.runs], out))
        else:
            print("\n".join(map(str, _checkpoint_figures(args, trained.load(args.runs[0]), out))))
    except UserError as e:
        print(f"visualize.py: error: {e}", file=sys.stderr)
        return 2
    except (RunInterrupted, KeyboardInterrupt):
        print("\nvisualize.py: stopped (Ctrl-C)", file=sys.stderr)
        return 130
    except OSError as e:  # --out naming a file, a read-only folder, a full disk
        print(f"visualize.py: error: cannot write {e.filename or args.out} ({e.strerror or e}); "
              f"pass another --out folder", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
