"""Hyperparameter search with Optuna, each trial an ordinary train.py run.

Every trial has its own run folder, metrics.json and TensorBoard entry; the objective is the best
checkpoint's validation accuracy averaged over --seeds, and the test set is never used to choose.

    python tune.py --model vgg_bn --search lr=0.02:0.5:log weight_decay=0:0.002 optimizer --trials 30
    python tune.py --model vgg_bn --grid batchnorm=true,false dropout=0,0.3 --seeds 0 1   # every combination
    python tune.py --model lenet --search lr=0.0003:0.003:log --trials 8 --confirm 3 --epochs 3
    python tune.py ... --storage postgresql://user:pass@host/db --workers 2   # one study, many machines

Every other train.py flag (--epochs, --set, --data-dir, --dataset, --gpus, --logdir ...) passes
through to each run. The same command again continues the study; `python visualize.py study`
shows it. Bad input: a one-line error and exit code 2, before any run folder exists.
"""
from __future__ import annotations

import argparse
import sys
from typing import Sequence

from core.errors import UserError
from studies.objective import BadTrialInput, objective
from training.cli import OneLineParser, parse_args as parse_train


def parse_args(argv: Sequence[str] | None = None) -> tuple[argparse.Namespace, list[str]]:
    """tune.py's own flags, and the rest (train.py's flags, checked by train.py's parser)."""
    p = OneLineParser(prog="tune.py", description=__doc__.splitlines()[0], allow_abbrev=False,
                      epilog="Every other flag is train.py's (--epochs, --set, --data-dir, --gpus, --logdir ...) "
                             "and passes through to each trial's runs.")
    p.add_argument("--model", required=True, help="the model to tune (train.py's --model)")
    p.add_argument("--search", nargs="+", default=[], metavar="KEY[=SPEC]",
                   help="ranges (lr=0.01:0.5:log, batch_size=64:512) and choices (optimizer=sgd,adam; a choice key alone: all)")
    p.add_argument("--grid", nargs="+", default=[], metavar="KEY[=a,b]", help="every combination, once each")
    p.add_argument("--trials", type=int, help="trials the study should have in all (default 20; not with --grid)")
    p.add_argument("--seeds", nargs="+", type=int, default=[0], metavar="N", help="seeds per trial (the objective is their mean)")
    p.add_argument("--prune", choices=("median", "none"), default="median", help="stop hopeless trials early")
    p.add_argument("--study", metavar="NAME", help="default: <model>-search or <model>-grid")
    p.add_argument("--storage", metavar="URL", help="a SQLAlchemy URL; default: sqlite in the logdir")
    p.add_argument("--workers", type=int, default=1,
                   help="trials at a time on this machine (threads of this process, each waiting for its runs); where "
                        "there are GPUs (and no --gpus 0), each worker's runs get their own")
    p.add_argument("--confirm", type=int, default=0, metavar="N",
                   help="then rerun the best trial and the defaults over N fresh seeds and give the verdict")
    args, rest = p.parse_known_args(argv)
    for flag, value in (("--trials", args.trials), ("--workers", args.workers)):
        if value is not None and value < 1:
            p.error(f"{flag} {value}: must be at least 1")
    if args.grid and args.search:
        p.error("--grid and --search: give one (a grid enumerates values, a search samples them)")
    if args.grid and args.trials:
        p.error("--grid runs every combination once; leave out --trials")
    if not (args.grid or args.search):
        p.error("say what to search: --search KEY=SPEC ... or --grid KEY=a,b ...")
    if len(set(args.seeds)) < len(args.seeds) or min(args.seeds) < 0:
        p.error("--seeds: give distinct seeds of 0 or more")
    if args.confirm < 0:
        p.error("--confirm N: N must be 0 or more")
    return args, rest


def _plan(args: argparse.Namespace, rest: list[str]):
    """Checks everything before any run: train.py's flags, the space, the keys --set also gives."""
    from lit_modules import get_model_class
    from studies import space
    from training.plan import chosen_recipe

    for flag in ("--seed", "--seeds", "--resume"):
        if any(a == flag or a.startswith(flag + "=") for a in rest):
            raise UserError(f"{flag}: tune.py sets each run's seed from its own --seeds; leave {flag} out")
    base = ["--model", args.model, *rest]
    targs = parse_train(base)
    cls = get_model_class(args.model)
    dims = space.parse(args.grid or args.search, cls.all_defaults(), cls.all_specs(), "--grid" if args.grid else "--search")
    fixed = {w.partition("=")[0] for w in (targs.set or [])}
    clash = fixed & {d.key for d in dims}
    if clash:
        raise UserError(f"--set {sorted(clash)[0]} and the search both set {sorted(clash)[0]}; leave it out of one")
    chosen, _ = chosen_recipe(targs, cls)  # a bad --set, or a flag of another model, fails now
    if args.grid:  # every combination, before the first trial trains: a rule between keys may break in one
        space.check_combinations(dims, cls.all_defaults(), cls.all_specs(), targs.set or [])
    measured = {**{k: v for k, v in chosen.items() if k not in {d.key for d in dims}},
                "dataset": targs.dataset, "image_size": targs.image_size, "seeds": sorted(args.seeds)}
    return base, targs, dims, measured


def _interrupt(signum, frame):
    raise KeyboardInterrupt  # SIGTERM (a kill, a dying parent) stops like Ctrl-C: the trial is marked failed


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    import signal

    old_sigterm = signal.signal(signal.SIGTERM, _interrupt)
    try:
        return _main(argv)
    finally:
        signal.signal(signal.SIGTERM, old_sigterm)


def _main(argv: list[str]) -> int:
    args, rest = parse_args(argv)
    study = url = None
    try:
        from studies import launch, recover, space, store, workers

        launch.warm()  # the trials' fork server imports torch while this process checks its input
        base, targs, dims, measured = _plan(args, rest)
        recover.quiet_heartbeat()
        grid = space.grid_values(dims) if args.grid else None
        name = args.study or f"{args.model}-{'grid' if grid else 'search'}"
        url = args.storage or store.default_url(targs.logdir)
        study = store.open_study(url, name, args.model, [d.spec() for d in dims], grid, args.prune, seed=args.seeds[0],
                                 flags=rest, measured=measured)
        for n in recover.recover(study, args.seeds, url):
            print(f"trial {n}: its runs finished after the study lost track of it; their results are now in the study")
        target = space.grid_size(dims) if grid else (args.trials or 20)
        done = store.counts(study)
        finished = done.get("COMPLETE", 0) + done.get("PRUNED", 0)
        remaining = max(0, target - finished)
        print(f"study {name} ({store.where(url)}): {store.count_line(done)}; {remaining} of {target} trials to run")

        def work(share: int, env: dict[str, str]) -> None:  # one worker's share of the trials
            own = study if args.workers == 1 else store.open_study(
                url, name, args.model, [d.spec() for d in dims], grid, args.prune, seed=args.seeds[0], flags=rest,
                measured=measured)
            store.run_trials(own, objective(base, dims, args.seeds, args.prune, url, env), target, share,
                             catch=(RuntimeError,))
        if remaining and args.workers == 1:
            work(remaining, {})
        elif remaining:
            workers.run_workers(args.workers, remaining, targs.gpus, work)
    except (UserError, BadTrialInput) as e:
        print(f"tune.py: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        state = f" ({recover.after_stop(study, url)})" if study is not None else ""
        running = "trials are" if args.workers > 1 else "trial is"
        print(f"\nstopped; the running {running} marked failed. The same command continues the study{state}.",
              file=sys.stderr)
        return 130
    except Exception as e:
        from studies.recover import lost_message

        if lost_message(e, url) is None:
            raise
        print(lost_message(e, url), file=sys.stderr)
        return 1
    from report.study import summary

    print(summary(study, args.model))
    if args.confirm:
        try:
            from studies.confirm import confirm

            return confirm(study, base, dims, args.seeds, args.confirm)
        except UserError as e:
            print(f"tune.py: error: --confirm: {e}", file=sys.stderr)
            return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
