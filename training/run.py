"""One training run as its steps: the recipe, the data, the model, the run folder, fit, the final
evaluation of the best checkpoint, the summary. train.py is the command line around it.
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
import warnings
from pathlib import Path
from typing import Any, Sequence

from core.errors import UserError


class _NoAdverts(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "Tip:" not in record.getMessage()


def _quiet_lightning() -> None:
    logging.getLogger("pytorch_lightning.utilities.rank_zero").addFilter(_NoAdverts())
    warnings.filterwarnings("ignore", ".*LeafSpec.*")  # torch-internal deprecation raised via Lightning
    warnings.filterwarnings("ignore", ".*does not have many workers.*")  # batches are in-memory slices


RUN_VERSION = "CIFAR_LIGHTNING_RUN_VERSION"  # the run folder's name, for the run's other processes

# The flags that set a recipe key (the same as --set KEY=VALUE), by key.
FLAG_KEYS = {"epochs": "--epochs", "batch_size": "--batch-size", "lr": "--lr", "optimizer": "--optimizer",
             "weights": "--weights", "val_size": "--val-size", "augment": "--no-augment"}


def _recipe(args: argparse.Namespace, cls) -> dict[str, dict[str, Any]]:
    """The model's defaults, then the flags given, then --set KEY=VALUE: checked, printed, and split
    into the groups of their owners (model, data, trainer)."""
    from core import recipe

    defaults, specs = cls.all_defaults(), cls.all_specs()
    if args.weights is not None and "weights" not in defaults:
        raise UserError(f"--weights applies to pretrained models (resnet18), not {args.model}; leave it out")
    flags = {k: getattr(args, k) for k in FLAG_KEYS if getattr(args, k) is not None}
    for k, v in flags.items():
        recipe.check(k, v, specs[k], FLAG_KEYS[k])
    chosen = recipe.apply_overrides({**defaults, **flags}, specs, args.set or [])
    recipe.check_together(chosen)
    changed = {k: v for k, v in chosen.items() if v != defaults[k] or k in flags}
    print(f"{args.model} defaults: " + ", ".join(f"{k}={v}" for k, v in defaults.items()))
    print("this run: " + (", ".join(f"{k}={v}" for k, v in changed.items()) or "the defaults") + f", seed={args.seed}")
    return recipe.split(chosen, specs)


def _load_data(args: argparse.Namespace, data: dict[str, Any], on_device: bool):
    from datamodules.cifar10 import CIFAR10DataModule

    dm = CIFAR10DataModule(args.data_dir, **data, num_workers=args.num_workers, seed=args.seed,
                           eval_batch_size=min(500, 4 * data["batch_size"]), on_device=on_device,
                           dataset=args.dataset, resize_to=args.image_size)
    dm.prepare_data()
    dm.setup("fit")  # fail fast on bad data, before any run directory exists
    dm.test_image(args.filter_image)  # --filter-image must name a test image
    return dm


def _model(cls, keys: dict[str, Any], inputs: dict[str, Any]):
    """The model, and once its optimizer, before any run folder exists: a recipe that cannot build
    them (settings no rule foresaw) is bad input, said in one line, not a traceback mid-run."""
    import torch

    from lit_modules.optim import make_optimizer

    try:
        model = cls(**keys, **inputs)
        make_optimizer(model.param_groups(), model.hparams, torch.device("cpu"))
    except UserError:
        raise
    except (ValueError, TypeError, RuntimeError) as e:
        raise UserError(f"these settings do not work together ({str(e).splitlines()[0]}); "
                        f"change the --set values (--show-defaults lists them)") from None
    return model


def _logger(args: argparse.Namespace, resumed_dir: Path | None):
    """TensorBoard's logger, which owns the run directory: a new version_N, or the resumed run's."""
    from callbacks.tensorboard import StagedLogger as TensorBoardLogger
    from core.devices import first_process
    from training import run_dirs

    if resumed_dir:  # the same run directory, so the curves continue
        return TensorBoardLogger(resumed_dir.parent.parent, name=resumed_dir.parent.name,
                                 version=resumed_dir.name, default_hp_metric=False)
    if args.fast_dev_run:  # Lightning swaps in a logger that writes nothing: claim no folder
        return TensorBoardLogger(args.logdir, name=args.model, default_hp_metric=False)
    if not first_process():  # rank 0 claims the folder and alone writes into it (checkpoints: its path, broadcast)
        version = os.environ.get(RUN_VERSION, "version_of_rank_0")  # set for the processes Lightning starts
        return TensorBoardLogger(args.logdir, name=args.model, version=version, default_hp_metric=False)
    version = run_dirs.claim_version(Path(args.logdir), args.model)
    os.environ[RUN_VERSION] = version  # inherited by the processes Lightning starts for this run
    return TensorBoardLogger(args.logdir, name=args.model, version=version, default_hp_metric=False)


def _trainer(args, trainer_keys: dict[str, Any], devices: dict[str, Any], precision: str, logger, record, text: str):
    """The Trainer with the project's callbacks: checkpoints (best by val acc, and last, written
    after each finished epoch: a clean resume point), metrics.json, Ctrl-C, NaN, seeding, filters."""
    import pytorch_lightning as pl
    import torch

    from callbacks.checkpoint import EpochCheckpoints
    from callbacks.epoch_seed import SeedEachEpoch
    from callbacks.filters import FilterActivations
    from callbacks.interrupt import StopOnCtrlC
    from callbacks.nonfinite import StopOnNonFiniteLoss
    from callbacks.progress import LossBar
    from callbacks.tensorboard import EpochScalars
    from training.checkpoint_io import AtomicCheckpointIO

    from core.devices import is_cuda

    interactive = sys.stdout.isatty()
    on_gpu = is_cuda(devices)  # cuDNN's benchmark and TF32 are CUDA's alone
    ckpt = EpochCheckpoints(Path(logger.log_dir))
    callbacks = [ckpt, record, StopOnCtrlC(), StopOnNonFiniteLoss(), SeedEachEpoch(args.seed),
                 EpochScalars(every_n_steps=50, text=text), FilterActivations(args.filter_image, args.filters_every)]
    if getattr(args, "trial", None) is not None:
        callbacks.append(args.trial)
    if on_gpu:
        torch.set_float32_matmul_precision("high")
    return pl.Trainer(
        max_epochs=trainer_keys["epochs"], precision=precision, logger=logger, fast_dev_run=args.fast_dev_run,
        callbacks=callbacks + ([LossBar(refresh_rate=20)] if interactive else []),
        enable_progress_bar=interactive, plugins=[AtomicCheckpointIO()], deterministic=args.deterministic,
        benchmark=on_gpu and not args.deterministic,  # cuDNN picks the fastest conv kernels: shapes are fixed
        use_distributed_sampler=False,  # the datamodule's sampler shards by rank itself
        log_every_n_steps=50, num_sanity_val_steps=0, enable_model_summary=interactive, **devices)


def run(args: argparse.Namespace, argv: Sequence[str], resume: tuple[Path, Path] | None = None) -> dict[str, Any]:
    """One run, as its steps: settings, data, model, run directory, fit, final evaluation, summary."""
    import pytorch_lightning as pl

    from callbacks.metrics_json import MetricsJSON
    from callbacks.tensorboard import run_text
    from core.devices import first_process, on_accelerator, resolve_devices, resolve_precision
    from core.records import FINAL_PREFIX
    from lit_modules import get_model_class
    from training import checkpoints, run_dirs

    from callbacks.optuna_trial import from_env

    _quiet_lightning()
    args.trial = from_env()
    devices = resolve_devices(args.gpus, args.cpu_processes, args.num_nodes)
    precision, why = resolve_precision(args.precision, devices)
    print(f"device: {devices['accelerator']} x{devices['devices']}, precision {precision}"
          + (f" ({why})" if why and not why.startswith("warning") else ""))
    if why.startswith("warning"):
        print(why, file=sys.stderr)
    cls = get_model_class(args.model)
    groups = _recipe(args, cls)
    ckpt = checkpoints.read_model(resume[0], args.model) if resume else None  # read once: 112 MB for resnet18
    resumed, done = run_dirs.resumed_record(resume, ckpt, argv) if resume else (None, 0)

    pl.seed_everything(args.seed, workers=True, verbose=False)
    dm = _load_data(args, groups["data"], on_accelerator(devices))
    dm.resume_at(done)
    model = _model(cls, groups["model"], dm.model_inputs)
    if resume:  # before the run folder is touched: a checkpoint that does not fit is bad input
        checkpoints.check_fits(model, ckpt, resume[0])
    if args.compile:
        model.net.compile()  # in place: state_dict keys, and so checkpoints, stay the same

    logger = _logger(args, resume[1] if resume else None)
    run_dir = Path(logger.log_dir)
    if not args.fast_dev_run and first_process():  # --resume last passes over a run being written
        args.lock = run_dirs.hold(run_dir)
    args.run_dir = run_dir
    args.new_run = not (resume and resume[1])
    info = run_dirs.run_info(args, argv, devices, precision, dm, model, groups)
    if args.trial is not None:  # one seed of a tune.py trial: its study, number and state in the record
        info["study"] = args.trial.info
        if args.new_run and first_process():
            args.trial.started(run_dir)
    if not args.fast_dev_run:
        logger.log_hyperparams({k: info[k] for k in ("command", "recipe", "device", "data", "environment")})
    # fast_dev_run is a smoke test: Lightning writes no logs for it, and neither do we.
    record = MetricsJSON(None if args.fast_dev_run else run_dir / "metrics.json", info,
                         print_epochs=not sys.stdout.isatty(), resumed=resumed)
    trainer = _trainer(args, groups["trainer"], devices, precision, logger, record, run_text(info))

    trainer.fit(model, datamodule=dm, ckpt_path=str(resume[0]) if resume else None)
    # The final evaluation: the best checkpoint scored on [val, test] with the model's TTA.
    trainer.test(model, datamodule=dm, ckpt_path=None if args.fast_dev_run else "best", verbose=False)
    # From callback_metrics: test() returns only what goes to Lightning's logger, and nothing does.
    result = {k: v for k, v in trainer.callback_metrics.items() if k.startswith(FINAL_PREFIX)}

    best = trainer.checkpoint_callback.best_model_path
    best_epoch = checkpoints.epochs_of(Path(best), args.model) if best else None
    if not trainer.is_global_zero:
        return record.data
    final = record.finish(best_epoch, result)
    if not args.fast_dev_run:
        _log_final(trainer, model, dm, info, final, best_epoch, args.filter_image)
        print(record.summary(final, run_dir, args.logdir))
    return record.data


def _log_final(trainer, model, dm, info: dict[str, Any], final: dict[str, Any], best_epoch: int | None,
               image_index: int) -> None:
    """TensorBoard's final entries, from the best checkpoint (the model holds it after the test)."""
    from callbacks.confusion import confusion_figure
    from callbacks.filters import filter_images
    from callbacks.tensorboard import log_final

    if best_epoch is not None:
        images, caption = filter_images(model, *dm.test_image(image_index), image_index, dm.classes)
        cm = model.test_confusion
        figure = None if cm is None else confusion_figure(cm, dm.classes, info["model"], model.hparams.tta)
        log_final(trainer, info, final, best_epoch, images, caption, figure)
