"""Classify your own images with a trained run: the top-k classes and their probabilities per file.

    python predict.py lightning_logs/lenet/version_0 cat.jpg               # the run's best checkpoint
    python predict.py lightning_logs/vgg_bn/version_3 photos/ --topk 3 --csv predictions.csv
    python predict.py run.ckpt photos/ --gpus 1 --batch-size 1000 --tta 0

Any size and any format PIL reads (PNG with alpha, grayscale, 16-bit, JPEG ...): each image is
decoded as the data module decodes, stretched to the model's input size with the bilinear filter
(as `--image-size` resizes training images) and normalised with the mean/std the model was trained
with. A file that cannot be read is named and skipped. Bad input: one line and exit code 2.
"""
from __future__ import annotations

import argparse
import sys
from typing import Sequence

from core.errors import RunInterrupted, UserError


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="predict.py", description=__doc__.splitlines()[0])
    p.add_argument("run", metavar="RUN_DIR|CKPT", help="a run folder (its best checkpoint) or a .ckpt file")
    p.add_argument("paths", nargs="+", metavar="PATH", help="image files, or folders of them (searched recursively)")
    p.add_argument("--topk", type=int, default=1, metavar="K", help="classes per image, most probable first (default 1)")
    p.add_argument("--tta", type=int, choices=(0, 1, 2), help="test-time augmentation: 0 none, 1 mirror, 2 mirror and "
                   "shifts (default: the run's own, as its test accuracy was measured)")
    p.add_argument("--csv", metavar="FILE", help="also write the table as CSV")
    p.add_argument("--gpus", type=int, default=None, help="0 for the CPU (default: a GPU if there is one)")
    p.add_argument("--batch-size", type=int, default=500, metavar="N", help="images per forward pass")
    args = p.parse_args(argv)
    if args.topk < 1 or args.batch_size < 1:
        p.error(f"--{'topk' if args.topk < 1 else 'batch-size'} must be at least 1")
    return args


def _warn(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr)


def _table(rows: list[dict], k: int) -> str:
    width = max(len("file"), *(len(r["file"]) for r in rows))
    head = f"{'file':<{width}}  " + "  ".join(f"{'top ' + str(j):<22}" for j in range(1, k + 1))
    lines = [head.rstrip()]
    for r in rows:
        cells = [f"{r[f'class_{j}']} {100 * r[f'prob_{j}']:5.1f}%" for j in range(1, k + 1)]
        lines.append((f"{r['file']:<{width}}  " + "  ".join(f"{c:<22}" for c in cells)).rstrip())
    return "\n".join(lines)


def _writable(path: str) -> None:
    """--csv can be written: its folder made, the file opened for appending (an existing file keeps
    what it holds until the table replaces it; a new one is removed again, so a stopped or failed
    prediction leaves no empty table)."""
    from pathlib import Path

    try:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        existed = Path(path).exists()
        with open(path, "a"):
            pass
        if not existed:
            Path(path).unlink()
    except OSError as e:
        raise UserError(f"--csv {path}: cannot write it ({e.strerror}); pass a path in a writable folder") from None


def _write_csv(path: str, rows: list[dict]) -> None:
    import csv
    from pathlib import Path

    target = Path(path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with open(target, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
    except OSError as e:
        raise UserError(f"--csv {path}: cannot write it ({e.strerror}); pass a path in a writable folder") from None


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        from inference import images, predict, trained

        files = images.find_images(args.paths)
        run = trained.load(args.run)
        model, (classes, note) = run.model, run.classes()
        if args.topk > len(classes):
            raise UserError(f"--topk {args.topk}: the model has {len(classes)} classes; pass 1 to {len(classes)}")
        if args.csv:
            _writable(args.csv)  # an unwritable --csv fails before the work, not after
        if note:
            _warn(note)
        pixels, kept = images.decode(files, model.hparams.image_size, warn=_warn)
        probs = predict.probabilities(model, pixels, args.batch_size, args.gpus, args.tta)
        rows = predict.rows(images.short_names(kept), predict.top_k(probs, classes, args.topk))
    except UserError as e:
        print(f"predict.py: error: {e}", file=sys.stderr)
        return 2
    except (RunInterrupted, KeyboardInterrupt):
        print(f"\npredict.py: stopped (Ctrl-C); nothing was written{f' to {args.csv}' if args.csv else ''}",
              file=sys.stderr)
        return 130
    print(_table(rows, args.topk))
    if args.csv:
        _write_csv(args.csv, rows)
    skipped = len(files) - len(kept)
    print(f"\n{len(kept)} image(s) classified by {model.name} ({len(classes)} classes, "
          f"{model.hparams.image_size}x{model.hparams.image_size} input)" + (f"; {skipped} skipped" if skipped else "")
          + (f"; table in {args.csv}" if args.csv else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
