"""train.py's command line: its flags and their checks, one place for train.py and for tune.py,
which passes every train.py flag through to its trials and checks them before the first one."""
from __future__ import annotations

import argparse
import math
from typing import Sequence

from core.errors import UserError


class OneLineParser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, not the usage block
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def _bounded(kind, low, high=None, strict_low: bool = False):
    """An argparse type: a finite `kind` from `low` (excluded if strict_low) to `high` (included)."""
    if strict_low and low == 0:
        rule = "must be positive" + (" and finite" if kind is float else "")
    else:
        rule = f"must be from {low} to {high}" if high is not None else f"must be {low} or more"

    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {'an integer' if kind is int else 'a number'}") from None
        if not math.isfinite(value) or value < low or (strict_low and value == low) or (high is not None and value > high):
            raise argparse.ArgumentTypeError(f"{rule}, got {text}")
        return value
    return parse


def _positive(kind):
    return _bounded(kind, 0, strict_low=True)


def _nonempty(text: str) -> str:
    if not text.strip():
        raise argparse.ArgumentTypeError("must not be empty")
    return text


def _key_flags(p: argparse.ArgumentParser) -> None:
    """The recipe keys that have a flag (core/recipe.py's `flag`), each parsed and checked by its
    key's own rule: a flag and `--set` can never disagree on what a value means."""
    from core import recipe
    from lit_modules import MODELS

    owners: dict[str, list[str]] = {}
    specs: dict[str, tuple[recipe.Key, object]] = {}
    for name, cls in MODELS.items():
        defaults = cls.all_defaults()
        for key, spec in cls.all_specs().items():
            if spec.flag:
                owners.setdefault(key, []).append(name)
                specs.setdefault(key, (spec, defaults[key]))
    for key, (spec, default) in specs.items():
        only = "" if len(owners[key]) == len(MODELS) else f" ({', '.join(owners[key])} only)"
        if isinstance(default, bool):  # a switch: the flag sets the other value
            p.add_argument(spec.flag, dest=key, action="store_const", const=not default,
                           help=f"the same as --set {key}={str(not default).lower()}: {spec.help}{only}")
            continue

        def parse(text: str, key=key, spec=spec, default=default):
            try:
                return recipe.parse_value(key, text, default, spec, flag=spec.flag)
            except UserError as e:
                raise argparse.ArgumentTypeError(str(e)) from None
        p.add_argument(spec.flag, dest=key, type=parse, metavar="|".join(map(str, spec.choices)) or None,
                       help=f"{spec.help}{only} (default: the model's; the same as --set {key}=...)")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    from core.devices import PRECISIONS
    from datamodules.sources import DATASETS
    from lit_modules import MODELS

    p = OneLineParser(prog="train.py", description="Train an image classifier (CIFAR-10 by default) with PyTorch Lightning.")
    p.add_argument("--model", choices=list(MODELS), help="which network to train (with --resume PATH: the checkpoint's)")
    p.add_argument("--gpus", type=int, default=None,
                   help="number of GPUs, 0 for CPU (default: one GPU if there is one, else CPU)")
    _key_flags(p)
    p.add_argument("--seed", type=_bounded(int, 0, 2**32 - 1), default=0, help="0 to 2**32 - 1")
    p.add_argument("--dataset", choices=list(DATASETS), default="cifar10",
                   help="; ".join(f"{k}: {s.accepts}" for k, s in DATASETS.items())
                   + " (cifar10 and cifar100 are downloaded into --data-dir when missing)")
    p.add_argument("--data-dir", type=_nonempty, default="data", help="the folder that holds --dataset")
    p.add_argument("--image-size", type=_positive(int), metavar="N",
                   help="with --dataset folder: resize every image to NxN (default: keep their one size)")
    p.add_argument("--logdir", type=_nonempty, default="lightning_logs")
    p.add_argument("--num-workers", type=_bounded(int, 0), default=0,
                   help="DataLoader workers; 0 is fastest here, batches are slices of in-memory tensors")
    p.add_argument("--precision", choices=PRECISIONS, help="default: what the device does natively: bf16-mixed on CUDA from compute capability 8.0, "
                        "16-mixed on 7.x, else 32")
    p.add_argument("--compile", action="store_true", help="torch.compile the network (pays off on a GPU)")
    p.add_argument("--num-nodes", type=_positive(int), default=1, help="machines for multi-node DDP")
    p.add_argument("--cpu-processes", type=_positive(int), default=1,
                   help="with --gpus 0: DDP over N CPU processes (tests the multi-GPU path without GPUs)")
    p.add_argument("--set", nargs="+", action="extend", metavar="KEY=VALUE",
                   help="any of the model's defaults, e.g. --set weight_decay=0 aug_flip=none (see --show-defaults)")
    p.add_argument("--show-defaults", action="store_true", help="print every key of --model's recipe and exit")
    p.add_argument("--seeds", nargs="+", type=_bounded(int, 0, 2**32 - 1), metavar="N",
                   help="train once per seed (one run folder each), then print mean and spread")
    p.add_argument("--filter-image", type=_bounded(int, 0), default=0, metavar="N",
                   help="test image whose filter activations are logged to TensorBoard")
    p.add_argument("--filters-every", type=_bounded(int, 0), default=0, metavar="N",
                   help="also log them every N epochs (default: only at the end)")
    p.add_argument("--resume", nargs="?", const="last", metavar="last|PATH",
                   help="continue a run from its last.ckpt: 'last' (the newest run of --model), a run dir or a .ckpt")
    p.add_argument("--deterministic", action="store_true", help="PyTorch's deterministic algorithms (GPU runs)")
    p.add_argument("--fast-dev-run", action="store_true", help="one batch of each stage, no logs: a smoke test")
    p.add_argument("--lr-find", action="store_true",
                   help="instead of training: sweep the lr over --lr-find-steps steps, plot loss against lr "
                        "(<logdir>/lr_find/, TensorBoard) and print the suggested lr and its command")
    p.add_argument("--lr-find-steps", type=_bounded(int, 20), default=200, metavar="N",
                   help="steps of the --lr-find sweep (default 200)")
    args = p.parse_args(argv)
    if args.model is None and args.resume in (None, "last"):
        p.error("the following arguments are required: --model")
    if args.lr_find and (args.seeds or args.resume or args.fast_dev_run):
        p.error("--lr-find is a sweep before training: give it without --seeds, --resume and --fast-dev-run")
    if args.seeds and len(set(args.seeds)) < len(args.seeds):
        twice = next(s for s in args.seeds if args.seeds.count(s) > 1)
        p.error(f"--seeds gives seed {twice} more than once; the same seed is the same run, give each once")
    return args
