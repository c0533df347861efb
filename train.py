"""Train one model on CIFAR-10 and write lightning_logs/<model>/version_N/.

    python train.py --model lenet                      # the model's own defaults, GPU if there is one
    python train.py --model lenet --gpus 0 --epochs 2 --data-dir ../cifar10-jpeg

Each run directory holds TensorBoard events, hparams.yaml, checkpoints/ (best by val acc, and last)
and metrics.json (rewritten every epoch). Bad input exits with code 2 and a one-line message.
"""
from __future__ import annotations

import argparse
import logging
import math
import shlex
import sys
import time
import warnings
from pathlib import Path
from typing import Any, Sequence

from errors import UserError

class _Parser(argparse.ArgumentParser):
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


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    from devices import PRECISIONS
    from lit_modules import MODELS
    from lit_modules.base import OPTIMIZERS

    p = _Parser(prog="train.py", description="Train a CIFAR-10 classifier with PyTorch Lightning.")
    p.add_argument("--model", required=True, choices=list(MODELS), help="which network to train")
    p.add_argument("--gpus", type=int, default=None,
                   help="number of GPUs, 0 for CPU (default: one GPU if there is one, else CPU)")
    p.add_argument("--epochs", type=_positive(int), help="default: the model's")
    p.add_argument("--batch-size", type=_positive(int), help="default: the model's")
    p.add_argument("--lr", type=_positive(float), help="default: the model's")
    p.add_argument("--optimizer", choices=OPTIMIZERS, help="default: the model's")
    p.add_argument("--weights", metavar="imagenet|none|PATH",
                   help="resnet18's start: torchvision's ImageNet weights (default), random, or a state-dict file")
    p.add_argument("--seed", type=_bounded(int, 0, 2**32 - 1), default=0, help="0 to 2**32 - 1")
    p.add_argument("--data-dir", type=_nonempty, default="data",
                   help="CIFAR-10 in torchvision's layout (downloaded here if missing) or a class-folder tree")
    p.add_argument("--logdir", type=_nonempty, default="lightning_logs")
    p.add_argument("--num-workers", type=_bounded(int, 0), default=0,
                   help="DataLoader workers; 0 is fastest here, batches are slices of in-memory tensors")
    p.add_argument("--precision", choices=PRECISIONS, help="default: bf16-mixed on a GPU, 32 on the CPU")
    p.add_argument("--compile", action="store_true", help="torch.compile the network (pays off on a GPU)")
    p.add_argument("--num-nodes", type=_positive(int), default=1, help="machines for multi-node DDP")
    p.add_argument("--cpu-processes", type=_positive(int), default=1,
                   help="with --gpus 0: DDP over N CPU processes (tests the multi-GPU path without GPUs)")
    p.add_argument("--val-size", type=_positive(int), help="training images held out for validation (default: the model's)")
    p.add_argument("--no-augment", dest="augment", action="store_false", help="turn off crop+flip")
    p.add_argument("--filter-image", type=_bounded(int, 0), default=0, metavar="N",
                   help="validation image whose filter activations are logged to TensorBoard")
    p.add_argument("--filters-every", type=_bounded(int, 0), default=0, metavar="N",
                   help="also log them every N epochs (default: only at the end)")
    p.add_argument("--resume", nargs="?", const="last", metavar="last|PATH",
                   help="continue a run from its last.ckpt: 'last' (the newest run of --model), a run dir or a .ckpt")
    p.add_argument("--deterministic", action="store_true", help="PyTorch's deterministic algorithms (GPU runs)")
    p.add_argument("--fast-dev-run", action="store_true", help="one batch of each stage, no logs: a smoke test")
    return p.parse_args(argv)


class _NoAdverts(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "Tip:" not in record.getMessage()


def _quiet_lightning() -> None:
    logging.getLogger("pytorch_lightning.utilities.rank_zero").addFilter(_NoAdverts())
    warnings.filterwarnings("ignore", ".*LeafSpec.*")  # torch-internal deprecation raised via Lightning
    warnings.filterwarnings("ignore", ".*does not have many workers.*")  # batches are in-memory slices


def _hyperparameters(args: argparse.Namespace, cls) -> dict[str, Any]:
    """The model's defaults, overridden by the flags given on the command line."""
    defaults = cls.all_defaults()
    if args.weights is not None and "weights" not in defaults:
        raise UserError(f"--weights applies to pretrained models (resnet18), not {args.model}; leave it out")
    hp = {k: getattr(args, k) if getattr(args, k) is not None else defaults[k]
          for k in ("epochs", "batch_size", "lr", "optimizer", "weights", "val_size") if k in defaults}
    print(f"{args.model} defaults: " + ", ".join(f"{k}={v}" for k, v in defaults.items()))
    print("this run: " + ", ".join(f"{k}={v}" for k, v in hp.items()) + f", seed={args.seed}")
    return {**defaults, **hp}


def _load_data(args: argparse.Namespace, hp: dict[str, Any], on_gpu: bool):
    from datamodules.cifar10 import CIFAR10DataModule

    dm = CIFAR10DataModule(args.data_dir, batch_size=hp["batch_size"], num_workers=args.num_workers,
                           val_size=hp["val_size"], seed=args.seed, augment=args.augment,
                           test_every_epoch=hp["test_every_epoch"], pad=hp["aug_padding"],
                           pad_mode=hp["aug_pad_mode"], flip=hp["aug_flip"],
                           eval_batch_size=min(500, 4 * hp["batch_size"]), on_device=on_gpu)
    dm.prepare_data()
    dm.setup("fit")  # fail fast on bad data, before any run directory exists
    dm.val_image(args.filter_image)  # --filter-image must name a validation image
    return dm


def _logger(args: argparse.Namespace, resumed_dir: Path | None):
    """TensorBoard's logger, which owns the run directory: a new version_N, or the resumed run's."""
    from pytorch_lightning.loggers import TensorBoardLogger

    import runs

    if resumed_dir:  # the same run directory, so the curves continue
        return TensorBoardLogger(resumed_dir.parent.parent, name=resumed_dir.parent.name,
                                 version=resumed_dir.name, default_hp_metric=False)
    if args.fast_dev_run:  # Lightning swaps in a logger that writes nothing: claim no folder
        return TensorBoardLogger(args.logdir, name=args.model, default_hp_metric=False)
    version = runs.claim_version(Path(args.logdir), args.model)
    return TensorBoardLogger(args.logdir, name=args.model, version=version, default_hp_metric=False)


def _trainer(args, hp: dict[str, Any], devices: dict[str, Any], precision: str, logger, record):
    """The Trainer with the project's callbacks: checkpoints (best by val acc, and last, written
    after each finished epoch: a clean resume point), metrics.json, Ctrl-C, NaN, seeding, filters."""
    import pytorch_lightning as pl
    import torch
    from pytorch_lightning.callbacks import ModelCheckpoint, TQDMProgressBar

    from callbacks.epoch_seed import SeedEachEpoch
    from callbacks.filters import FilterActivations
    from callbacks.interrupt import StopOnCtrlC
    from callbacks.nonfinite import StopOnNonFiniteLoss
    from plugins.atomic_checkpoint_io import AtomicCheckpointIO

    interactive = sys.stdout.isatty()
    on_gpu = devices["accelerator"] == "gpu"
    ckpt = ModelCheckpoint(dirpath=Path(logger.log_dir) / "checkpoints", monitor="val/acc", mode="max",
                           filename="best-epoch{epoch:02d}-val_acc{val/acc:.4f}", auto_insert_metric_name=False,
                           save_last=True, save_on_train_epoch_end=True)
    callbacks = [ckpt, record, StopOnCtrlC(), StopOnNonFiniteLoss(), SeedEachEpoch(args.seed),
                 FilterActivations(args.filter_image, args.filters_every)]
    if on_gpu:
        torch.set_float32_matmul_precision("high")
    return pl.Trainer(
        max_epochs=hp["epochs"], precision=precision, logger=logger, fast_dev_run=args.fast_dev_run,
        callbacks=callbacks + ([TQDMProgressBar(refresh_rate=20)] if interactive else []),
        enable_progress_bar=interactive, plugins=[AtomicCheckpointIO()], deterministic=args.deterministic,
        benchmark=on_gpu and not args.deterministic,  # cuDNN picks the fastest conv kernels: shapes are fixed
        use_distributed_sampler=False,  # the datamodule's sampler shards by rank itself
        log_every_n_steps=50, num_sanity_val_steps=0, enable_model_summary=interactive, **devices)


def run(args: argparse.Namespace, argv: Sequence[str], resume: tuple[Path, Path] | None = None) -> dict[str, Any]:
    """One run, as its steps: settings, data, model, run directory, fit, final evaluation, summary."""
    import pytorch_lightning as pl

    import checkpoints
    import runs
    from callbacks.metrics_json import MetricsJSON
    from devices import resolve_devices, resolve_precision
    from lit_modules import get_model_class

    _quiet_lightning()
    devices = resolve_devices(args.gpus, args.cpu_processes, args.num_nodes)
    on_gpu = devices["accelerator"] == "gpu"
    precision = resolve_precision(args.precision, on_gpu)
    cls = get_model_class(args.model)
    hp = _hyperparameters(args, cls)
    resumed, done = runs.resumed_record(resume, args.model, argv) if resume else (None, 0)

    pl.seed_everything(args.seed, workers=True, verbose=False)
    dm = _load_data(args, hp, on_gpu)
    dm.resume_at(done)
    model = cls(**hp)
    if args.compile:
        model.net.compile()  # in place: state_dict keys, and so checkpoints, stay the same

    logger = _logger(args, resume[1] if resume else None)
    run_dir = args.run_dir = Path(logger.log_dir)
    args.new_run = not (resume and resume[1])
    info = runs.run_info(args, argv, devices, precision, dm, model)
    if not args.fast_dev_run:
        logger.log_hyperparams({k: info[k] for k in ("command", "device", "data", "environment")})
    # fast_dev_run is a smoke test: Lightning writes no logs for it, and neither do we.
    record = MetricsJSON(None if args.fast_dev_run else run_dir / "metrics.json", info,
                         print_epochs=not sys.stdout.isatty(), resumed=resumed)
    trainer = _trainer(args, hp, devices, precision, logger, record)

    trainer.fit(model, datamodule=dm, ckpt_path=str(resume[0]) if resume else None)
    # The final evaluation: the best checkpoint scored on [val, test] with the model's TTA.
    scores = trainer.test(model, datamodule=dm, ckpt_path=None if args.fast_dev_run else "best", verbose=False)
    result = {k: v for per_loader in scores for k, v in per_loader.items()}

    best = trainer.checkpoint_callback.best_model_path
    best_epoch = checkpoints.epochs_of(Path(best), args.model) if best else None
    if not trainer.is_global_zero:
        return record.data
    final = record.finish(best_epoch, result)
    if not args.fast_dev_run:
        print(record.summary(final, run_dir, args.logdir))
    return record.data


def _after_stop(args: argparse.Namespace) -> str:
    """What the user can do after a stop: continue this run (named by its folder), or start again."""
    run_dir = getattr(args, "run_dir", None)
    if run_dir is not None and (run_dir / "checkpoints" / "last.ckpt").exists():
        return (f"logs and the last finished epoch's checkpoint are kept. Continue this run with: "
                f"python train.py --model {args.model} --resume {shlex.quote(str(run_dir))}")
    if run_dir is not None and getattr(args, "new_run", False):
        import shutil

        shutil.rmtree(run_dir, ignore_errors=True)  # nothing was trained: no half-made run folder stays
    return "no epoch had finished, so there is nothing to resume; run the same command again"


def _resume_args(args: argparse.Namespace, argv: list[str]):
    """--resume: the checkpoint and run folder, and the original run's arguments (from its
    metrics.json, else from the checkpoint itself), then whatever this command line overrides."""
    import runs

    resume = runs.find_resume(args.logdir, args.model, args.resume)
    original = runs.original_argv(*resume, args.model)
    argv = original + argv
    return parse_args(argv), argv, resume


def main(argv: Sequence[str] | None = None) -> int:
    import signal

    import cpu_alloc

    cpu_alloc.keep_freed_memory()  # first, before torch starts its threads: see cpu_alloc.py
    from pytorch_lightning.utilities.exceptions import SIGTERMException

    from callbacks.interrupt import sigterm_outside_fit
    from errors import NonFiniteLoss, RunInterrupted

    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    start = time.time()
    old_sigterm = signal.signal(signal.SIGTERM, sigterm_outside_fit)
    try:
        resume = None
        if args.resume:
            args, argv, resume = _resume_args(args, argv)
        run(args, argv, resume)
    except UserError as e:
        print(f"train.py: error: {e}", file=sys.stderr)
        _after_stop(args)
        return 2
    except (RunInterrupted, KeyboardInterrupt, SIGTERMException):
        print(f"\nstopped: the unfinished epoch is dropped; {_after_stop(args)}", file=sys.stderr)
        return 130
    except NonFiniteLoss as e:
        print(f"train.py: error: {e}", file=sys.stderr)
        return 1
    except OSError as e:  # a full or failing disk, most likely while writing a checkpoint
        where = f" while writing {e.filename}" if e.filename else ""
        print(f"train.py: error: {e.strerror or e}{where}; free some space or pass another --logdir. "
              f"The last good checkpoint is kept: {_after_stop(args)}", file=sys.stderr)
        return 1
    finally:
        signal.signal(signal.SIGTERM, old_sigterm)
    print(f"done in {time.time() - start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
