"""What a trial of tune.py's study is: one train.py run per seed, in its own process and folder."""
from __future__ import annotations

import statistics

from studies import space
from studies import trial as trial_run


class BadTrialInput(Exception):
    """A trial's train.py exited with 2: the study stops (Optuna marks the trial failed)."""


def objective(base: list[str], dims, seeds: list[int], prune: str, url: str, env: dict[str, str] | None = None):
    """Optuna's objective for a study over `dims`: each seed's run of the trial's values, as a child
    train.py (studies/trial.py) with `env` added to its environment; the mean of their
    best-checkpoint validation accuracies."""
    import optuna

    def run(trial) -> float:
        values = space.suggest(trial, dims)
        accs, done = [], []
        for i, seed in enumerate(seeds):
            print(f"\n=== trial {trial.number}, seed {seed}: {' '.join(space.set_words(values))} ===", flush=True)
            argv = base + ["--set", *space.set_words(values)]
            link = trial_run.trial_spec(trial, url, prune, report=prune != "none" and i == 0)
            code, data, run_dir = trial_run.run_seed(argv, seed, link, env)
            if code != 0 or not (data and data.get("final")):
                trial_run.mark(run_dir, "failed" if code != 130 else "failed (stopped)")
                for d in done:  # the trial fails as a whole: its finished seeds' records say so too
                    trial_run.mark(d, f"failed (seed {seed} of the trial failed)")
                if code == 130:
                    raise KeyboardInterrupt
                if code == 2:  # bad input (a data folder, say) fails every trial alike: stop the study
                    raise BadTrialInput(f"trial {trial.number}: train.py refused its input (its error is above); "
                                        f"fix it, then run the same command again")
                raise RuntimeError(f"trial {trial.number}: train.py exited with {code}")
            if str((data.get("study") or {}).get("state", "")).startswith("pruned"):
                raise optuna.TrialPruned()
            accs.append(data["final"]["val_acc"])
            done.append(run_dir)
        trial.set_user_attr("val_accs", accs)
        return statistics.mean(accs)

    return run
