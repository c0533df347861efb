"""Train one model on CIFAR-10 and write lightning_logs/<model>/version_N/.

    python train.py --model lenet                      # the model's own defaults, GPU if there is one
    python train.py --model lenet --gpus 0 --epochs 2 --data-dir ../cifar10-jpeg

Each run directory holds TensorBoard events, hparams.yaml, checkpoints/ (best by val acc, and last)
and metrics.json (rewritten every epoch). Bad input exits with code 2 and a one-line message.
"""
from __future__ import annotations

import argparse
import errno
import logging
import shlex
import sys
import time
import warnings
from pathlib import Path
from typing import Any, Sequence

from errors import UserError

PRECISIONS = ("32", "bf16-mixed", "16-mixed")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, not the usage block
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def _positive(kind):
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if not value > 0:
            raise argparse.ArgumentTypeError(f"must be positive, got {text}")
        return value
    return parse


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
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
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data-dir", default="data",
                   help="CIFAR-10 in torchvision's layout (downloaded here if missing) or a class-folder tree")
    p.add_argument("--logdir", default="lightning_logs")
    p.add_argument("--num-workers", type=int, default=0,
                   help="DataLoader workers; 0 is fastest here, batches are slices of in-memory tensors")
    p.add_argument("--precision", choices=PRECISIONS, help="default: bf16-mixed on a GPU, 32 on the CPU")
    p.add_argument("--compile", action="store_true", help="torch.compile the network (pays off on a GPU)")
    p.add_argument("--num-nodes", type=_positive(int), default=1, help="machines for multi-node DDP")
    p.add_argument("--cpu-processes", type=_positive(int), default=1,
                   help="with --gpus 0: DDP over N CPU processes (tests the multi-GPU path without GPUs)")
    p.add_argument("--val-size", type=_positive(int), help="training images held out for validation (default: the model's)")
    p.add_argument("--no-augment", dest="augment", action="store_false", help="turn off crop+flip")
    p.add_argument("--filter-image", type=int, default=0, metavar="N",
                   help="validation image whose filter activations are logged to TensorBoard")
    p.add_argument("--filters-every", type=int, default=0, metavar="N",
                   help="also log them every N epochs (default: only at the end)")
    p.add_argument("--resume", nargs="?", const="last", metavar="last|PATH",
                   help="continue a run from its last.ckpt: 'last' (the newest run of --model), a run dir or a .ckpt")
    p.add_argument("--deterministic", action="store_true", help="PyTorch's deterministic algorithms (GPU runs)")
    p.add_argument("--fast-dev-run", action="store_true", help="one batch of each stage, no logs: a smoke test")
    return p.parse_args(argv)


def resolve_devices(gpus: int | None, cpu_processes: int = 1, num_nodes: int = 1) -> dict[str, Any]:
    """Our --gpus N (the assignment's flag) -> Lightning 2.x accelerator/devices/strategy."""
    import torch

    available = torch.cuda.device_count()
    if gpus is None:
        gpus = 1 if available else 0
    if gpus < 0:
        raise UserError(f"--gpus {gpus} is negative; use 0 for the CPU or the number of GPUs")
    if gpus > available:
        raise UserError(f"--gpus {gpus} asks for {gpus} GPU(s) but this machine has {available}; "
                        f"use --gpus {available}" + (" to train on the CPU" if not available else ""))
    if gpus == 0:
        n = cpu_processes
        return {"accelerator": "cpu", "devices": n, "strategy": "ddp" if n > 1 or num_nodes > 1 else "auto",
                "num_nodes": num_nodes}
    return {"accelerator": "gpu", "devices": gpus, "strategy": "ddp" if gpus > 1 or num_nodes > 1 else "auto",
            "num_nodes": num_nodes}


class _NoAdverts(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "Tip:" not in record.getMessage()


def _checkpoint_epoch(path: Path, model_class: str) -> int:
    """The number of finished epochs in a checkpoint, after checking it belongs to `model_class`."""
    import torch

    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as e:
        raise UserError(f"cannot read checkpoint {path} ({type(e).__name__}); pass another one to --resume")
    saved = ckpt.get("hyper_parameters", {}).get("model")
    if saved != model_class:
        raise UserError(f"checkpoint {path} holds a {saved} model, not {model_class}; match --model to it")
    return int(ckpt["epoch"]) + 1


def run(args: argparse.Namespace, argv: Sequence[str], resume: tuple[Path, Path] | None = None) -> dict[str, Any]:
    import pytorch_lightning as pl
    import torch
    from pytorch_lightning.callbacks import ModelCheckpoint, TQDMProgressBar
    from pytorch_lightning.loggers import TensorBoardLogger

    import runs
    from callbacks.checkpoint_io import AtomicCheckpointIO
    from callbacks.filters import FilterActivations
    from callbacks.guard import RunGuard
    from callbacks.metrics_json import MetricsJSON
    from datamodules.cifar10 import CIFAR10DataModule
    from lit_modules import get_model_class

    logging.getLogger("pytorch_lightning.utilities.rank_zero").addFilter(_NoAdverts())
    warnings.filterwarnings("ignore", ".*LeafSpec.*")  # torch-internal deprecation raised via Lightning
    devices = resolve_devices(args.gpus, args.cpu_processes, args.num_nodes)
    on_gpu = devices["accelerator"] == "gpu"
    args.precision = args.precision or ("bf16-mixed" if on_gpu else "32")
    if args.precision == "16-mixed" and not on_gpu:
        raise UserError("--precision 16-mixed needs a GPU; on the CPU use --precision 32 or bf16-mixed")
    cls = get_model_class(args.model)
    defaults = cls.all_defaults()
    if args.weights is not None and "weights" not in defaults:
        raise UserError(f"--weights applies to pretrained models (resnet18), not {args.model}; leave it out")
    hp = {k: getattr(args, k) if getattr(args, k) is not None else defaults[k]
          for k in ("epochs", "batch_size", "lr", "optimizer", "weights", "val_size") if k in defaults}
    print(f"{args.model} defaults: " + ", ".join(f"{k}={v}" for k, v in defaults.items()))
    print(f"this run: " + ", ".join(f"{k}={v}" for k, v in hp.items()) + f", seed={args.seed}")

    resumed = None
    if resume:
        ckpt_path, run_dir = resume
        done = _checkpoint_epoch(ckpt_path, cls.__name__)
        resumed = runs.read_metrics(run_dir) or {"command": "python train.py " + shlex.join(argv), "epochs": []}
        resumed["epochs"] = [e for e in resumed["epochs"] if e["epoch"] <= done]
        print(f"resuming {run_dir} from {ckpt_path.name} after epoch {done}")

    pl.seed_everything(args.seed, workers=True, verbose=False)
    dm = CIFAR10DataModule(args.data_dir, batch_size=hp["batch_size"], num_workers=args.num_workers,
                           val_size=hp["val_size"], seed=args.seed, augment=args.augment,
                           test_every_epoch=defaults["test_every_epoch"],
                           pad=defaults["aug_padding"], pad_mode=defaults["aug_pad_mode"], flip=defaults["aug_flip"],
                           eval_batch_size=min(500, 4 * hp["batch_size"]), on_device=on_gpu)
    dm.prepare_data()
    dm.setup("fit")  # fail fast on bad data, before any run directory exists
    if not 0 <= args.filter_image < dm.sizes["val"]:
        raise UserError(f"--filter-image {args.filter_image} is not a validation image index (0 to {dm.sizes['val'] - 1})")
    model = cls(**hp)
    if args.compile:
        model.net.compile()  # in place: state_dict keys, and so checkpoints, stay the same

    if resume:
        logger = TensorBoardLogger(run_dir.parent.parent, name=run_dir.parent.name, version=run_dir.name,
                                   default_hp_metric=False)
    else:
        logger = TensorBoardLogger(args.logdir, name=args.model, default_hp_metric=False)
    run_dir = Path(logger.log_dir)
    info = {"model": args.model, "command": "python train.py " + shlex.join(argv), "seed": args.seed,
            "device": runs.device_name(devices["accelerator"], devices["devices"]), "precision": args.precision,
            "data": {"source": dm.arrays.source, "dir": str(Path(args.data_dir).resolve()), **dm.sizes}, "params": model.param_counts(),
            "hparams": {k: v for k, v in model.hparams.items() if k != "model"},
            "environment": runs.environment()}
    if not args.fast_dev_run:
        logger.log_hyperparams({k: info[k] for k in ("command", "device", "data", "environment")})
    interactive = sys.stdout.isatty()
    # fast_dev_run is a smoke test: Lightning writes no logs for it, and neither do we.
    metrics_cb = MetricsJSON(None if args.fast_dev_run else run_dir / "metrics.json", info,
                             print_epochs=not interactive, resumed=resumed)
    ckpt = ModelCheckpoint(dirpath=run_dir / "checkpoints", filename="best-epoch{epoch:02d}-val_acc{val/acc:.4f}",
                           monitor="val/acc", mode="max", save_last=True, auto_insert_metric_name=False,
                           save_on_train_epoch_end=True)  # after the epoch is complete: a clean resume point
    trainer = pl.Trainer(
        max_epochs=hp["epochs"], precision=args.precision, logger=logger, fast_dev_run=args.fast_dev_run,
        callbacks=[ckpt, metrics_cb, RunGuard(args.seed), FilterActivations(args.filter_image, args.filters_every)]
        + ([TQDMProgressBar(refresh_rate=20)] if interactive else []),
        enable_progress_bar=interactive, plugins=[AtomicCheckpointIO()], deterministic=args.deterministic,
        benchmark=on_gpu and not args.deterministic,  # cuDNN picks the fastest conv kernels: shapes are fixed
        use_distributed_sampler=False,  # the datamodule's sampler shards by rank itself
        log_every_n_steps=50, num_sanity_val_steps=0, enable_model_summary=interactive, **devices)
    if on_gpu:
        torch.set_float32_matmul_precision("high")

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", ".*does not have many workers.*")
        trainer.fit(model, datamodule=dm, ckpt_path=str(resume[0]) if resume else None)
        # The best checkpoint, scored again on val and test (with the model's TTA, if it has one).
        best = None if args.fast_dev_run else "best"
        result = trainer.validate(model, datamodule=dm, ckpt_path=best, verbose=False)[0]
        result.update(trainer.test(model, datamodule=dm, ckpt_path=best, verbose=False)[0])

    best_epoch = _checkpoint_epoch(Path(ckpt.best_model_path), cls.__name__) if ckpt.best_model_path else None
    if not trainer.is_global_zero:
        return metrics_cb.data
    final = metrics_cb.finish(best_epoch, result)
    if not args.fast_dev_run:
        _print_summary(metrics_cb.data, final, run_dir, args.logdir)
    return metrics_cb.data


def _print_summary(data: dict, final: dict, run_dir: Path, logdir: str) -> None:
    p = data["params"]
    pct = lambda k: f"{100 * final[k]:.2f}%" if final.get(k) is not None else "n/a"
    print(f"\n{data['model']}: {p['total']:,} parameters ({p['trainable']:,} trainable), "
          f"{len(data['epochs'])} epochs in {data['seconds']:.0f} s on {data['device']}")
    print(f"best checkpoint (epoch {final.get('epoch')}, by val acc): train loss {final.get('train_loss', 0):.4f} "
          f"acc {pct('train_acc')} | val loss {final.get('val_loss', 0):.4f} acc {pct('val_acc')} | "
          f"test loss {final.get('test_loss', 0):.4f} acc {pct('test_acc')}")
    print(f"logs, checkpoints and metrics.json: {run_dir}")
    print(f"curves: tensorboard --logdir {logdir}")


def main(argv: Sequence[str] | None = None) -> int:
    import cpu_alloc

    cpu_alloc.keep_freed_memory()  # first, before torch starts its threads: see cpu_alloc.py
    from callbacks.guard import NonFiniteLoss, RunInterrupted

    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    start = time.time()
    resume = None
    try:
        if args.resume:
            import runs

            resume = runs.find_resume(args.logdir, args.model, args.resume)
            old = runs.read_metrics(resume[1])
            if old:  # the original run's arguments, then whatever this command line overrides
                argv = shlex.split(old["command"])[2:] + argv
                args = parse_args(argv)
        run(args, argv, resume)
    except UserError as e:
        print(f"train.py: error: {e}", file=sys.stderr)
        return 2
    except (RunInterrupted, KeyboardInterrupt, SystemExit) as e:
        if isinstance(e, SystemExit) and type(e).__name__ != "SIGTERMException":
            raise
        print(f"\nstopped: the unfinished epoch is dropped; logs and the last finished epoch's checkpoint "
              f"are kept. Continue with: python train.py --model {args.model} --logdir {args.logdir} --resume last",
              file=sys.stderr)
        return 130
    except NonFiniteLoss as e:
        print(f"train.py: error: {e}", file=sys.stderr)
        return 1
    except OSError as e:
        if e.errno != errno.ENOSPC:
            raise
        print(f"train.py: error: {e.strerror or e} while writing {e.filename or 'the run'}; "
              f"free some space and continue with --resume last (the last good checkpoint is kept)",
              file=sys.stderr)
        return 1
    print(f"done in {time.time() - start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
