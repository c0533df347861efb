"""One planned run (training/plan.py) carried out: the data, the model, the run folder, fit, the
final evaluation of the best checkpoint, the summary. train.py is the command line around it.

    outcome = Run(plan_run(argv)).execute()
"""
from __future__ import annotations

import logging
import os
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core import run_folder
from core.errors import UserError

RUN_VERSION = "CIFAR_LIGHTNING_RUN_VERSION"  # the run folder's name, for the run's other processes

# Callbacks every Trainer gets besides the project's own: a public hook for tests and tools that
# want to watch a run from inside (a probe that counts host reads, say).
extra_callbacks: list = []


class _Drop(logging.Filter):
    def __init__(self, *phrases: str):
        super().__init__()
        self.phrases = phrases

    def filter(self, record: logging.LogRecord) -> bool:
        return not any(p in record.getMessage() for p in self.phrases)


_ADVERTS = _Drop("Tip:")
_DEVICE_LINES = _Drop("GPU available: ", "TPU available: ")  # a run's first lines say its device anyway


def quiet_lightning(device_lines: bool = False) -> None:
    """Lightning's adverts and torch-internal warnings off; `device_lines`: also its "GPU available"
    lines (for the Trainers that only score: predict, the report's mistakes, the lr finder)."""
    logger = logging.getLogger("pytorch_lightning.utilities.rank_zero")
    logger.addFilter(_ADVERTS)  # the same object twice is one filter
    if device_lines:
        logger.addFilter(_DEVICE_LINES)
    warnings.filterwarnings("ignore", ".*LeafSpec.*")  # torch-internal deprecation raised via Lightning
    warnings.filterwarnings("ignore", ".*does not have many workers.*")  # batches are in-memory slices


@dataclass(frozen=True)
class Outcome:
    run_dir: Path
    record: dict[str, Any]  # metrics.json as written (without `final` on the other DDP processes)
    new_run: bool  # False when the run continued an existing folder


class Run:
    """A plan carried out. `run_dir` and `new_run` are known once the run has a folder: what a stop
    (Ctrl-C, a failure) reports on, and which folder it may remove when nothing was trained."""

    def __init__(self, plan):
        self.plan = plan
        self.run_dir: Path | None = None
        self.new_run = False
        self.evaluating = False  # in the final evaluation: training is done

    def load_data(self):
        """The data module, loaded and split: bad data fails here, before any run folder exists."""
        from core.devices import on_accelerator
        from datamodules.images import ImageDataModule

        plan, data = self.plan, self.plan.groups["data"]
        dm = ImageDataModule(plan.data_dir, **data, num_workers=plan.num_workers, seed=plan.seed,
                             eval_batch_size=min(500, 4 * data["batch_size"]), on_device=on_accelerator(plan.devices),
                             dataset=plan.dataset, resize_to=plan.image_size)
        dm.prepare_data()
        dm.setup("fit")
        dm.test_image(plan.filter_image)  # --filter-image must name a test image
        dm.resume_at(plan.resume.done if plan.resume else 0)
        return dm

    def build_model(self, dm):
        """The model, and once its optimizer, before any run folder exists: a recipe that cannot build
        them (settings no rule foresaw) is bad input, said in one line, not a traceback mid-run."""
        import torch

        from lit_modules.optim import make_optimizer
        from training import checkpoints

        try:
            model = self.plan.cls(**self.plan.groups["model"], **dm.model_inputs)
            make_optimizer(model.param_groups(), model.hparams, torch.device("cpu"))
        except UserError:
            raise
        except (ValueError, TypeError, RuntimeError) as e:
            raise UserError(f"these settings do not work together ({str(e).splitlines()[0]}); "
                            f"change the --set values (--show-defaults lists them)") from None
        if self.plan.resume:  # before the run folder is touched: a checkpoint that does not fit is bad input
            checkpoints.check_fits(model, self.plan.resume.ckpt, self.plan.resume.checkpoint)
        if self.plan.compile:
            model.net.compile()  # in place: state_dict keys, and so checkpoints, stay the same
        return model

    def logger(self):
        """TensorBoard's logger, which owns the run folder: a new version_N, or the resumed run's."""
        from callbacks.tensorboard import StagedLogger
        from core.devices import first_process

        plan = self.plan
        resumed = plan.resume.run_dir if plan.resume else None
        if resumed:  # the same run folder, so the curves continue
            return StagedLogger(resumed.parent.parent, name=resumed.parent.name, version=resumed.name,
                                default_hp_metric=False)
        if plan.fast_dev_run:  # Lightning swaps in a logger that writes nothing: claim no folder
            return StagedLogger(plan.logdir, name=plan.model, default_hp_metric=False)
        if not first_process():  # rank 0 claims the folder and alone writes into it (checkpoints: its path, broadcast)
            version = os.environ.get(RUN_VERSION, "version_of_rank_0")  # set for the processes Lightning starts
            return StagedLogger(plan.logdir, name=plan.model, version=version, default_hp_metric=False)
        version = run_folder.claim_version(plan.logdir, plan.model)
        os.environ[RUN_VERSION] = version  # inherited by the processes Lightning starts for this run
        return StagedLogger(plan.logdir, name=plan.model, version=version, default_hp_metric=False)

    def trainer(self, logger, record, info: dict[str, Any]):
        """The Trainer with the project's callbacks: checkpoints (best by val acc, and last, written
        after each finished epoch: a clean resume point), metrics.json, TensorBoard, Ctrl-C, NaN,
        seeding, filter images; a tune.py trial's link; then `extra_callbacks`."""
        import pytorch_lightning as pl
        import torch

        from callbacks.epoch_checkpoints import EpochCheckpoints
        from callbacks.epoch_seed import SeedEachEpoch
        from callbacks.filters import FilterActivations
        from callbacks.interrupt import StopOnCtrlC
        from callbacks.nonfinite import StopOnNonFiniteLoss
        from callbacks.progress import LossBar
        from callbacks.tensorboard import EpochScalars
        from core.devices import is_cuda
        from training.checkpoints import atomic_io

        plan, interactive = self.plan, sys.stdout.isatty()
        on_gpu = is_cuda(plan.devices)  # cuDNN's benchmark and TF32 are CUDA's alone
        self.ctrl_c = StopOnCtrlC()  # armed around trainer.fit in execute
        callbacks = [EpochCheckpoints(Path(logger.log_dir)), record, self.ctrl_c, StopOnNonFiniteLoss(),
                     SeedEachEpoch(plan.seed), EpochScalars(every_n_steps=50, info=info, image_index=plan.filter_image),
                     FilterActivations(plan.filter_image, plan.filters_every)]
        callbacks += ([plan.trial] if plan.trial is not None else []) + list(extra_callbacks)
        if on_gpu:
            torch.set_float32_matmul_precision("high")
        return pl.Trainer(
            max_epochs=plan.groups["trainer"]["epochs"], precision=plan.precision, logger=logger,
            fast_dev_run=plan.fast_dev_run, callbacks=callbacks + ([LossBar(refresh_rate=20)] if interactive else []),
            enable_progress_bar=interactive, plugins=[atomic_io()], deterministic=plan.deterministic,
            benchmark=on_gpu and not plan.deterministic,  # cuDNN picks the fastest conv kernels: shapes are fixed
            use_distributed_sampler=False,  # the datamodule's sampler shards by rank itself
            log_every_n_steps=50, num_sanity_val_steps=0, enable_model_summary=interactive, **plan.devices)

    def execute(self) -> Outcome:
        """Data, model, run folder, fit, the final evaluation of the best checkpoint (on [val, test],
        with the model's TTA: metrics.json's `final` and TensorBoard's final entries, both written by
        their callbacks when the test ends), the summary."""
        import pytorch_lightning as pl

        from callbacks.metrics_json import MetricsJSON
        from core.devices import first_process
        from training.describe import run_info

        quiet_lightning()
        plan = self.plan
        pl.seed_everything(plan.seed, workers=True, verbose=False)
        dm = self.load_data()
        model = self.build_model(dm)
        logger = self.logger()
        self.run_dir, self.new_run = Path(logger.log_dir), not (plan.resume and plan.resume.run_dir)
        writer = first_process() and not plan.fast_dev_run
        with run_folder.writing(self.run_dir if writer else None):  # --resume last passes over it
            info = run_info(plan, dm, model)
            if plan.trial is not None:  # one seed of a tune.py trial: its study, number and state in the record
                info.update(plan.trial.record_entry())
                if self.new_run and first_process():
                    plan.trial.started(self.run_dir)
            if not plan.fast_dev_run:
                logger.log_hyperparams({k: info[k] for k in ("command", "recipe", "device", "data", "environment")})
            # fast_dev_run is a smoke test: Lightning writes no logs for it, and neither do we.
            record = MetricsJSON(None if plan.fast_dev_run else self.run_dir, info,
                                 print_epochs=not sys.stdout.isatty(), resumed=plan.resume.record if plan.resume else None)
            trainer = self.trainer(logger, record, info)
            with self.ctrl_c.armed():
                trainer.fit(model, datamodule=dm, ckpt_path=str(plan.resume.checkpoint) if plan.resume else None)
            self.evaluating = True  # a stop from here on leaves every epoch trained: train.py says so
            with self.ctrl_c.armed():
                trainer.test(model, datamodule=dm, ckpt_path=None if plan.fast_dev_run else "best", verbose=False)
        if trainer.is_global_zero and not plan.fast_dev_run:
            print(record.summary(self.run_dir, plan.logdir))
        return Outcome(self.run_dir, record.data, self.new_run)
