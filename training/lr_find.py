"""train.py --lr-find: the learning-rate range test (Smith 2015, fastai's `lr_find`) instead of a run.

    python train.py --model vgg_bn --lr-find --data-dir ../cifar10-jpeg
    python train.py --model vgg_bn --lr-find --lr-find-steps 300 --set batch_size=128

Lightning's own `Tuner.lr_find` does the sweep: it swaps the model's schedule for an exponential one
from MIN_LR to MAX_LR, one step per batch, stops when the smoothed loss passes 4x its best, and
restores the weights after. It fits this project's manual training step because that step steps
whatever schedule the trainer holds (`self.lr_schedulers()`): during the sweep, Lightning's.
Everything else is the run's own: the recipe (optimizer, momentum, weight decay, augmentation), the
data, the seed. Writes <logdir>/lr_find/<model>/version_N/: lr_find.png (loss against lr, the
suggestion marked), lr_find.json (the sweep and the suggestion), and TensorBoard events (the figure;
the smoothed loss and the lr at step = sweep step). Prints the suggestion and the command that uses it.
"""
from __future__ import annotations

import json
import shlex
import shutil
import sys
from pathlib import Path

from core.errors import RunInterrupted

MIN_LR, MAX_LR = 1e-6, 10.0
BETA = 0.98  # the smoothing of Lightning's _LRCallback (its default, which Tuner.lr_find keeps)


def lr_find(plan, steps: int) -> dict:
    """The sweep for the planned run's model and data; its record, as written to lr_find.json."""
    import pytorch_lightning as pl
    from pytorch_lightning.tuner import Tuner
    from torch.utils.tensorboard import SummaryWriter

    from callbacks.interrupt import stop_at_once
    from core import run_folder
    from figures.style import save
    from training.run import Run, quiet_lightning

    quiet_lightning(device_lines=True)
    pl.seed_everything(plan.seed, workers=True, verbose=False)
    run = Run(plan)
    dm = run.load_data()
    model = run.build_model(dm)
    out = Path(plan.logdir) / "lr_find" / plan.model
    out = out / run_folder.claim_version(out.parent, plan.model)
    # No callbacks: Tuner.lr_find swaps trainer.callbacks for its own one while it sweeps, so the
    # run's (per-epoch seeding included) would sit idle; the sweep's randomness is seed_everything's.
    trainer = pl.Trainer(max_epochs=10_000, logger=False, enable_checkpointing=False, limit_val_batches=0,
                         num_sanity_val_steps=0, default_root_dir=str(out),
                         enable_progress_bar=sys.stdout.isatty(), enable_model_summary=False,
                         precision=plan.precision, **plan.devices)
    import warnings

    with warnings.catch_warnings():
        # Lightning restores the weights from a checkpoint this process has just written into `out`
        # (and deletes): its full-pickle load of our own file is safe, and its warning only noise.
        warnings.filterwarnings("ignore", ".*weights_only.*")
        try:
            with stop_at_once():  # Ctrl-C: our line and 130, not Lightning's and 1; no half-made folder
                finder = Tuner(trainer).lr_find(model, datamodule=dm, min_lr=MIN_LR, max_lr=MAX_LR,
                                                num_training=steps, early_stop_threshold=4.0, update_attr=False)
        except RunInterrupted:
            shutil.rmtree(out, ignore_errors=True)
            raise
    lrs = finder.results["lr"]
    # Lightning's smoothing divides the loss EMA by 1 - beta**(global_step + 1), and global_step has
    # already counted the batch's step there: one power too many, which halves the first point and
    # bends the curve's first ~50 steps down. Rescaled to the bias correction of k + 1 losses.
    losses = [loss * (1 - BETA ** (k + 2)) / (1 - BETA ** (k + 1)) for k, loss in enumerate(finder.results["loss"])]
    finder.results["loss"] = losses
    suggested = finder.suggestion() if len(lrs) > 12 else None  # it skips the first 10 and the last point
    fig = finder.plot(suggest=suggested is not None)
    fig.axes[0].set_title(f"{plan.model}: learning-rate range test ({len(lrs)} steps, batch "
                          f"{plan.groups['data']['batch_size']})" + (f"\nsuggested lr {suggested:.3g}" if suggested else ""))
    with SummaryWriter(str(out)) as tb:
        for step, (lr, loss) in enumerate(zip(lrs, losses)):
            tb.add_scalar("lr_find/loss (smoothed)", loss, step)
            tb.add_scalar("lr_find/lr", lr, step)
        tb.add_figure("lr_find/loss against lr", fig, close=False)
    save(fig, out / "lr_find.png")
    record = {"model": plan.model, "command": plan.command, "steps": len(lrs), "min_lr": MIN_LR, "max_lr": MAX_LR,
              "suggested_lr": suggested, "lr": lrs, "loss": losses}
    (out / "lr_find.json").write_text(json.dumps(record, indent=1))
    return {**record, "folder": str(out)}


def command_with_lr(argv: list[str], lr: float) -> str:
    """The command line that trains with `lr`: the sweep's own without its flags, its --set pairs
    gathered into one --set whose lr is the suggestion (--set takes each key once; --lr dropped)."""
    keep, pairs, skip, in_set = [], [], False, False
    for arg in argv:
        if skip:
            skip = False
            continue
        if arg.startswith("-"):
            in_set = arg == "--set"
        if arg in ("--lr-find-steps", "--lr"):
            skip = True
        elif in_set and arg != "--set":
            pairs += [] if arg.split("=", 1)[0].strip() == "lr" else [arg]
        elif arg not in ("--lr-find", "--set") and not arg.startswith(("--lr-find-steps=", "--lr=")):
            keep.append(arg)
    return "python train.py " + shlex.join(keep + ["--set", *pairs, f"lr={lr:.3g}"])


def main(plan, steps: int) -> int:
    try:
        found = lr_find(plan, steps)
    except RunInterrupted:
        print("\ntrain.py: the lr range test stopped (Ctrl-C); nothing was kept", file=sys.stderr)
        return 130
    print(f"lr range test: {found['steps']} steps from {MIN_LR:g} to at most {MAX_LR:g}, in {found['folder']}")
    print(f"  plot: {found['folder']}/lr_find.png (and in TensorBoard: tensorboard --logdir {plan.logdir})")
    if found["suggested_lr"] is None:
        print("  no suggestion: the sweep stopped too early to have one; try more --lr-find-steps")
        return 0
    print(f"  suggested lr: {found['suggested_lr']:.3g} (the steepest fall of the smoothed loss; a value up "
          f"to 10x below the loss minimum is the usual pick)")
    print(f"  train with it: {command_with_lr(plan.argv, found['suggested_lr'])}")
    return 0
