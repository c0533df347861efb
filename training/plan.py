"""A run planned once, before anything is written: the model and its recipe (by owner), the devices
and precision, the data folder (absolute), the seed, the logdir and, for `--resume`, the checkpoint
and the run's record, each read once. `training/run.py` carries a plan out; nothing writes back
into it or into the parsed flags.

    plan = plan_run(["--model", "lenet", "--epochs", "2"])
"""
from __future__ import annotations

import argparse
import copy
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from core import run_folder
from core.errors import UserError
from training.cli import parse_args


@dataclass(frozen=True)
class Resume:
    checkpoint: Path
    run_dir: Path | None  # the run folder it continues; None: a checkpoint from elsewhere, a new folder
    ckpt: dict[str, Any]  # the checkpoint itself (112 MB for resnet18: read once)
    record: dict[str, Any]  # the run's metrics.json cut back to the checkpoint's epochs
    done: int  # the epochs the checkpoint holds


@dataclass(frozen=True)
class RunPlan:
    model: str
    cls: type
    argv: list[str]  # the whole command line (a resume's: the original run's, then this one's)
    groups: dict[str, dict[str, Any]]  # the recipe by owner: model, data, trainer
    devices: dict[str, Any]  # Lightning's accelerator, devices, strategy, num_nodes
    precision: str
    data_dir: Path  # absolute: a run's record and checkpoints find the data from any folder
    dataset: str
    image_size: int | None
    seed: int
    logdir: Path
    num_workers: int = 0
    filter_image: int = 0
    filters_every: int = 0
    compile: bool = False
    deterministic: bool = False
    fast_dev_run: bool = False
    resume: Resume | None = None
    trial: Any = None  # the tune.py trial this run is a seed of (callbacks/optuna_trial.py), if any

    @property
    def command(self) -> str:
        return "python train.py " + shlex.join(self.argv)


def plan_run(argv: Sequence[str]) -> RunPlan:
    """The plan of `python train.py ARGV`; bad input is a UserError, before any folder exists."""
    from callbacks.optuna_trial import from_env
    from core.devices import resolve_devices, resolve_precision
    from lit_modules import get_model_class

    argv = list(argv)
    args = parse_args(argv)
    found = None
    if args.resume:
        args, argv, found = _resumed_args(args, argv)
    devices = resolve_devices(args.gpus, args.cpu_processes, args.num_nodes)
    precision, why = resolve_precision(args.precision, devices)
    print(f"device: {devices['accelerator']} x{devices['devices']}, precision {precision}"
          + (f" ({why})" if why and not why.startswith("warning") else ""))
    if why.startswith("warning"):
        print(why, file=sys.stderr)
    cls = get_model_class(args.model)
    groups = _recipe(args, cls)
    resume = _resume(found, argv) if found else None
    return RunPlan(model=args.model, cls=cls, argv=argv, groups=groups, devices=devices, precision=precision,
                   data_dir=Path(args.data_dir).resolve(), dataset=args.dataset, image_size=args.image_size,
                   seed=args.seed, logdir=Path(args.logdir), num_workers=args.num_workers,
                   filter_image=args.filter_image, filters_every=args.filters_every, compile=args.compile,
                   deterministic=args.deterministic, fast_dev_run=args.fast_dev_run, resume=resume, trial=from_env())


def _resumed_args(args: argparse.Namespace, argv: list[str]):
    """--resume: the checkpoint and run folder, read once, and the original run's arguments (from its
    metrics.json, else from the checkpoint itself), then whatever this command line overrides."""
    from training import checkpoints

    path, run_dir = run_folder.find_resume(args.logdir, args.model, args.resume)
    ckpt = checkpoints.read(path)
    model = args.model or checkpoints.model_name(ckpt)  # --resume PATH alone: the checkpoint's model
    if model is None:
        raise UserError(f"--resume {args.resume}: not a checkpoint of a registered model; pass --model")
    checkpoints.check_model(ckpt, path, model)
    record = run_folder.record_for_resume(run_dir)
    original = _original_argv(record, ckpt, model)
    before, now = parse_args(original), parse_args(original + argv)
    was, will = (_processes(a) for a in (before, now))
    if was != will:
        print(f"note: this run trained with {was} process(es) and resumes with {will}: each process's share of the "
              f"data changes, so its numbers will differ from a run that was never stopped")
    return now, original + argv, (path, run_dir, ckpt, record)


def _processes(args: argparse.Namespace) -> int:
    """How many processes the flags start (GPUs or CPU processes, times the machines)."""
    per_machine = args.gpus if args.gpus and args.gpus > 0 else args.cpu_processes
    return per_machine * args.num_nodes


def _original_argv(record: dict | None, ckpt: dict[str, Any], name: str) -> list[str]:
    """The resumed run's train.py arguments: from its record, else from the checkpoint (its command,
    or in older checkpoints the model's and data module's hyperparameters)."""
    if record is not None:
        argv = shlex.split(record["command"])[2:]
        recorded = (record.get("data") or {}).get("dir")  # absolute: a resume from another folder finds the data
        return argv + (["--data-dir", recorded] if isinstance(recorded, str) and recorded else [])
    if isinstance(ckpt.get("command"), str):  # written by MetricsJSON since the recipe is recorded
        return shlex.split(ckpt["command"])[2:]
    hp = {**ckpt.get("datamodule_hyper_parameters", {}), **ckpt["hyper_parameters"]}  # older checkpoints
    argv = ["--model", name]
    for flag, value in (("--epochs", hp.get("epochs")), ("--batch-size", hp.get("batch_size")),
                        ("--lr", hp.get("lr")), ("--optimizer", hp.get("optimizer")),
                        ("--val-size", hp.get("val_size")), ("--weights", hp.get("weights")),
                        ("--seed", hp.get("seed")), ("--data-dir", hp.get("data_dir"))):
        if value is not None:
            argv += [flag, str(value)]
    return argv + ([] if hp.get("augment", True) else ["--no-augment"])


def _resume(found: tuple, argv: list[str]) -> Resume:
    """The resumed run's record cut back to the epochs its checkpoint holds."""
    from training import checkpoints

    path, run_dir, ckpt, record = found
    done = checkpoints.finished_epochs(ckpt)
    record = copy.deepcopy(record) if record is not None else {"command": "python train.py " + shlex.join(argv),
                                                              "epochs": []}
    later = [e["epoch"] for e in record["epochs"] if e["epoch"] > done]
    if later:
        print(f"note: {path.name} holds {done} epochs, the run recorded {done + len(later)}: epochs "
              f"{later[0]}-{later[-1]} are dropped from metrics.json, and last.ckpt will be overwritten")
    record["epochs"] = [e for e in record["epochs"] if e["epoch"] <= done]
    print(f"resuming {path} after epoch {done}, in {run_dir if run_dir is not None else 'a new run folder'}")
    return Resume(path, run_dir, ckpt, record, done)


def chosen_recipe(args: argparse.Namespace, cls) -> tuple[dict[str, Any], dict[str, Any]]:
    """The recipe train.py's parsed `args` ask of model `cls`: its defaults, then the flags given, then
    --set KEY=VALUE, each value checked (not yet the rules between keys); and the flags given."""
    from core import recipe

    defaults, specs = cls.all_defaults(), cls.all_specs()
    flags = {k: getattr(args, k) for k in _all_flag_keys() if getattr(args, k, None) is not None}
    for k in flags:
        if k not in specs:
            users = [n for n, c in _models().items() if k in c.all_specs()]
            raise UserError(f"{_all_flag_keys()[k]} applies to {', '.join(users)}, not {args.model}; leave it out")
    return recipe.apply_overrides({**defaults, **flags}, specs, args.set or []), flags


def _recipe(args: argparse.Namespace, cls) -> dict[str, dict[str, Any]]:
    """The recipe (`chosen_recipe`), checked as a whole, printed, and split into the groups of their owners
    (model, data, trainer)."""
    from core import recipe

    defaults, specs = cls.all_defaults(), cls.all_specs()
    chosen, flags = chosen_recipe(args, cls)
    recipe.check_together(chosen)
    changed = {k: v for k, v in chosen.items() if v != defaults[k] or k in flags}
    print(f"{args.model} defaults: " + recipe.settings_text(defaults))
    print("this run: " + recipe.settings_text(changed, "the defaults") + f", seed={args.seed}")
    return recipe.split(chosen, specs)


def _models():
    from lit_modules import MODELS

    return MODELS


def _all_flag_keys() -> dict[str, str]:
    """Every recipe key any model gives a flag, with the flag."""
    from core.recipe import flag_keys

    return {k: f for cls in _models().values() for k, f in flag_keys(cls.all_specs()).items()}
