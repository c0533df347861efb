"""Export a trained run's network for another runtime: ONNX or TorchScript, checked before it is kept.

    python export.py lightning_logs/lenet/version_0 --format onnx            # -> lenet-version_0.onnx
    python export.py lightning_logs/resnet18/version_2 --format torchscript --out models/resnet18.pt

The file takes uint8 RGB images, (N, 3, S, S) with values 0-255 and any N, and gives logits
(inference/export.py: the normalisation, and resnet18's upsampling, are inside the graph). Before
the file is kept, its runtime (onnxruntime; torch.jit.load) is run on batches of 1, 7 and 64 of the
run's test images and must give PyTorch's logits. Bad input: one line and exit code 2.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Sequence

from core.errors import UserError


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="export.py", description=__doc__.splitlines()[0])
    p.add_argument("run", metavar="RUN_DIR|CKPT", help="a run folder (its best checkpoint) or a .ckpt file")
    p.add_argument("--format", required=True, choices=("onnx", "torchscript"))
    p.add_argument("--out", metavar="FILE", help="default: <model>-<run folder>.onnx|.pt in this folder")
    return p.parse_args(argv)


def _check_images(run):
    """The run's own test images where its data is at hand, else random pixels of the model's input
    size (the check compares two runtimes on the same pixels: any pixels do)."""
    import torch

    try:
        return run.datamodule().test_set()[0][:64], "the run's test images"
    except (UserError, OSError):
        size = run.model.hparams.image_size
        pixels = torch.randint(0, 256, (64, 3, size, size), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
        return pixels, "random images (the run's data is not at hand)"


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        from inference import export, trained

        run = trained.load(args.run)
        model = run.model
        out = Path(args.out or f"{run.name}{export.FORMATS[args.format]}")
        images, what = _check_images(run)
        print(f"exporting {model.name} as {args.format} to {out} ...", flush=True)
        path = export.export(model, args.format, out)
        try:
            worst = export.check(model, args.format, path, images)
        except (UserError, KeyboardInterrupt):  # a file is kept only once checked
            path.unlink(missing_ok=True)
            raise
    except UserError as e:
        print(f"export.py: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\nexport.py: stopped (Ctrl-C); no file was kept", file=sys.stderr)
        return 130
    size = model.hparams.image_size
    print(f"{path}: {path.stat().st_size / 1e6:.1f} MB; input images uint8 (N, 3, {size}, {size}), output logits "
          f"(N, {model.hparams.num_classes}); checked with {'onnxruntime' if args.format == 'onnx' else 'torch.jit.load'} "
          f"on batches of {', '.join(map(str, export.CHECK_BATCHES))} of {what}: largest logit difference {worst:.1e} of the largest logit")
    return 0


if __name__ == "__main__":
    sys.exit(main())
