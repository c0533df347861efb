"""Train one model on CIFAR-10 (or CIFAR-100, or a folder of images) and write lightning_logs/<model>/version_N/.

    python train.py --model lenet                      # the model's own defaults, GPU if there is one
    python train.py --model lenet --gpus 0 --epochs 2 --data-dir ../cifar10-jpeg
    python train.py --model vgg_bn --set weight_decay=0 label_smoothing=0 --seeds 0 1 2
    python train.py --model vgg_bn --show-defaults     # every key --set takes, with what it does
    python train.py --model vgg_bn --lr-find           # the lr range test: a plot and a suggested --lr
    python train.py --model vgg_bn --dataset cifar100  # the same recipe on CIFAR-100 (downloaded)
    python train.py --model lenet --dataset folder --data-dir my_images --image-size 32

Each run directory holds TensorBoard events, hparams.yaml, checkpoints/ (best by val acc, and last)
and metrics.json (rewritten every epoch). Bad input exits with code 2 and a one-line message.
"""
from __future__ import annotations

import argparse
import sys
import time
from typing import Any, Sequence

from core.errors import UserError
from training.cli import parse_args  # the command's parser, shared with tune.py


def _train_once(argv: list[str]) -> tuple[int, dict[str, Any] | None]:
    """One run from its command line: (exit code, its metrics record if it finished)."""
    import signal

    from pytorch_lightning.utilities.exceptions import SIGTERMException

    from callbacks.interrupt import sigterm_outside_fit
    from core.errors import NonFiniteLoss, RunInterrupted
    from training import peers
    from training.stops import after_stop, sentence

    model = parse_args(argv).model  # for the stop's message until the plan knows (--resume PATH)
    start, run = time.time(), None
    old_sigterm = signal.signal(signal.SIGTERM, sigterm_outside_fit)
    stop = lambda: after_stop(run.plan.model if run else model, run.run_dir if run else None, bool(run and run.new_run))
    peers.install(stop)  # a lost process of a several-process run: this process's own message first
    try:
        from training.plan import plan_run
        from training.run import Run

        run = Run(plan_run(argv))
        outcome = run.execute()
    except UserError as e:
        print(f"train.py: error: {e}", file=sys.stderr)
        stop()
        return 2, None
    except (RunInterrupted, KeyboardInterrupt, SIGTERMException):
        started = run is not None and run.run_dir is not None
        where = (" in the final evaluation (every epoch is trained; resuming only scores the best checkpoint)"
                 if run is not None and run.evaluating else
                 ": the unfinished epoch is dropped" if started else " before training started")
        print(f"\nstopped{where}; {stop()}", file=sys.stderr)
        return 130, None
    except NonFiniteLoss as e:
        print(f"train.py: error: {e}", file=sys.stderr)
        return 1, None
    except RuntimeError as e:  # torch.distributed's errors (DistBackendError among them) are RuntimeErrors
        processes = run.plan.devices["devices"] * run.plan.devices.get("num_nodes", 1) if run else 1
        if processes < 2 or not _lost_peer(e):
            raise
        import re

        line = re.sub(r"^\[[^\]]*\]\s*", "", (str(e).strip().splitlines() or [type(e).__name__])[0])[:160]
        after = stop()
        print(f"train.py: error: a process of this {processes}-process run was lost ({line}). "
              f"{sentence(after)}", file=sys.stderr)
        return 1, None
    except OSError as e:  # a full or failing disk, most likely while writing a checkpoint
        where = f" while writing {e.filename}" if e.filename else ""
        after = stop()
        print(f"train.py: error: {e.strerror or e}{where}; free some space or pass another --logdir. "
              f"{sentence(after)}", file=sys.stderr)
        return 1, None
    finally:
        signal.signal(signal.SIGTERM, old_sigterm)
    print(f"done in {time.time() - start:.0f} s")
    return 0, outcome.record


def _lost_peer(e: BaseException) -> bool:
    """Whether a multi-process run's error says another process went away (killed, its machine lost)."""
    text = str(e).lower()
    return any(w in text for w in ("gloo", "nccl", "connection", "peer", "broken pipe", "timed out", "timeout"))


def _without_seeds(argv: list[str]) -> list[str]:
    """argv minus --seeds and its values (--seeds 0 1 2 or --seeds=0)."""
    out, skipping = [], False
    for token in argv:
        if token == "--seeds" or token.startswith("--seeds="):
            skipping = token == "--seeds"
        elif skipping and not token.startswith("-"):
            continue
        else:
            skipping = False
            out.append(token)
    return out


def _train_seeds(args: argparse.Namespace, argv: list[str]) -> int:
    """--seeds: one run per seed, each with its own folder and its own --seed command line, then
    the mean and standard deviation of their final val and test accuracy."""
    import statistics

    if args.resume:
        raise UserError("--seeds starts new runs; resume each run with --resume RUN_DIR instead")
    finals, base = [], _without_seeds(argv)
    for i, seed in enumerate(args.seeds):
        print(f"\n=== seed {seed} ({i + 1} of {len(args.seeds)}) ===", flush=True)
        code, data = _train_once(base + ["--seed", str(seed)])
        if code != 0:
            rest = args.seeds[i + 1:]
            if rest:
                print(f"--seeds: stopped at seed {seed}; seed{'s' * (len(rest) > 1)} {' '.join(map(str, rest))} "
                      f"{'were' if len(rest) > 1 else 'was'} not run", file=sys.stderr)
            return code
        if data and data.get("final"):
            finals.append(data["final"])
    print(f"\n{args.model} over seeds {' '.join(map(str, args.seeds))}:")
    for key in ("val_acc", "test_acc"):
        values = [100 * f[key] for f in finals if f.get(key) is not None]
        if values:
            spread = statistics.stdev(values) if len(values) > 1 else 0.0
            print(f"  {key.replace('_acc', '')} accuracy: {statistics.mean(values):.2f}% +- {spread:.2f} "
                  f"(n={len(values)}: {', '.join(f'{v:.2f}' for v in values)})")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    from training import cpu_alloc

    cpu_alloc.keep_freed_memory()  # first, before torch starts its threads: see training/cpu_alloc.py
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    try:
        from core import versions

        versions.check()
        if args.show_defaults:
            from core import recipe
            from lit_modules import get_model_class

            cls = get_model_class(args.model)
            print(recipe.describe(args.model, cls.all_defaults(), cls.all_specs()))
            return 0
        if args.lr_find:
            from training import lr_find
            from training.plan import plan_run

            return lr_find.main(plan_run(argv), args.lr_find_steps)
        if args.seeds:
            return _train_seeds(args, argv)
    except UserError as e:
        print(f"train.py: error: {e}", file=sys.stderr)
        return 2
    return _train_once(argv)[0]


if __name__ == "__main__":
    sys.exit(main())
