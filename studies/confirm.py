"""tune.py --confirm N: the best trial against the defaults on fresh seeds. A search's best trial is
optimistic by construction (the best of many noisy draws); only runs on seeds the search never saw
say whether it beats the defaults."""
from __future__ import annotations

import statistics
import sys

from studies import space, store
from studies.trial import run_seed
from studies.verdict import welch


def confirm(study, base: list[str], dims, seeds: list[int], n: int) -> int:
    """The best trial and the defaults (the same flags, no searched key set), each over n seeds
    the search never saw, run as a trial's seeds are (studies/trial.run_seed); the verdict on their
    test accuracies (Welch's 95% interval)."""
    best = store.best_trial(study)
    if best is None:
        print("tune.py: no complete trial to confirm", file=sys.stderr)
        return 1
    fresh = list(range(max(seeds) + 1, max(seeds) + 1 + n))
    checked = space.checked_params(best.params, dims)  # a database is not trusted to hold only tune.py's values
    sides = {"best trial": ["--set", *space.set_words(checked)], "defaults": []}
    results: dict[str, list[float]] = {}
    for label, extra in sides.items():
        for seed in fresh:
            print(f"\n=== confirm: {label}, fresh seed {seed} ===", flush=True)
            code, data, _ = run_seed(base + extra, seed)
            if code != 0 or not (data and data.get("final")):
                return code or 1
            results.setdefault(label, []).append(data["final"]["test_acc"])
    print(f"\nconfirmation over fresh seeds {' '.join(map(str, fresh))} (test accuracy, never used to choose):")
    for label, accs in results.items():
        spread = f" ± {100 * statistics.stdev(accs):.2f}" if len(accs) > 1 else ""
        print(f"  {label}: {100 * statistics.mean(accs):.2f}%{spread} ({', '.join(f'{100 * a:.2f}' for a in accs)})")
    verdict = welch(results["best trial"], results["defaults"])
    print("  verdict: " + (f"best trial - defaults = {verdict.text()} (Welch, 95%)" if verdict
                          else "needs --confirm 2 or more for an interval"))
    return 0
