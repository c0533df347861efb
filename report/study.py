"""A study's results: the trials table (values, validation accuracy over seeds, state, run
folders), the command that repeats the best trial, and Optuna's own figures as PNG.

    python visualize.py study [LOGDIR] [--storage URL] [--study NAME] [--out DIR]
"""
from __future__ import annotations

import statistics
from pathlib import Path

from core.errors import UserError
from figures.style import file_name, plt, save
from studies.store import best_trial, run_dirs


def trials_table(study) -> str:
    """One row per trial. With two or more seeds per trial, a last column gives each trial's
    difference to the best trial (validation accuracy, Welch's 95% interval): trials "within seed
    noise" of the best are as good as far as the search can tell."""
    from studies.verdict import welch

    keys = sorted({k for t in study.trials for k in t.params})
    best = best_trial(study)
    best_accs = (best.user_attrs.get("val_accs") or []) if best is not None else []
    verdicts = len(best_accs) > 1
    head = ("| trial | " + " | ".join(keys) + " | val acc (mean over seeds) | seeds | state | run folders |"
            + (" vs best (95% CI) |" if verdicts else ""))
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for t in study.trials:
        accs = t.user_attrs.get("val_accs") or []
        acc = f"{100 * t.value:.2f}%" if t.value is not None else "n/a"
        if t.state.name == "PRUNED" and t.intermediate_values:  # Optuna keeps the last reported epoch's
            acc += f" (epoch {max(t.intermediate_values)}, when pruned)"
        if len(accs) > 1:
            acc += f" ± {100 * statistics.stdev(accs):.2f}"
        is_best = best is not None and t.number == best.number
        dirs = ", ".join(f"`{Path(d).parent.name}/{Path(d).name}`" for d in run_dirs(t))
        cells = [str(t.params.get(k, "")) if not isinstance(t.params.get(k), float) else f"{t.params[k]:.4g}" for k in keys]
        line = (f"| {t.number}{' (best)' if is_best else ''} | " + " | ".join(cells) + f" | {acc} | {len(accs) or ''} | "
                f"{t.state.name.lower()} | {dirs} |")
        if verdicts:
            v = None if is_best else welch(accs, best_accs)
            line += " best |" if is_best else f" {v.text() if v else ''} |"
        lines.append(line)
    return "\n".join(lines)


REFUSED = ("--seed", "--seeds", "--resume")  # flags tune.py never passes through to a trial


def best_command(study, model: str) -> str | None:
    """The command that repeats the best trial, built from checked values only, never copied from a
    file: the registered model, the flags the study was created with as train.py's parser reads
    them, and the trial's values within the study's declared space, each word shell-quoted. A study
    database that holds anything else gets a one-line refusal instead of a command."""
    import shlex

    from lit_modules import MODELS
    from studies import space
    from training.cli import parse_args as parse_train

    best = best_trial(study)
    if best is None:
        return None
    try:
        if model not in MODELS:
            raise UserError(f"its model {model!r} is not a registered one")
        cls = MODELS[model]
        dims = space.parse(study.user_attrs.get("space") or [], cls.all_defaults(), cls.all_specs())
        params = space.checked_params(best.params, dims)
        flags = study.user_attrs.get("flags") or []
        if not (isinstance(flags, list) and all(isinstance(f, str) for f in flags)) \
                or any(f.split("=")[0] in REFUSED for f in flags):
            raise UserError("its stored flags are not train.py flags")
        try:
            parse_train(["--model", model, *flags])
        except SystemExit:
            raise UserError("its stored flags are not train.py flags") from None
    except UserError as e:
        return f"(none: this study's database does not hold a trial tune.py wrote: {e})"
    return shlex.join(["python", "train.py", "--model", model, *flags, "--set", *space.set_words(params)])


def summary(study, model: str) -> str:
    best = best_trial(study)
    lines = [f"\nstudy {study.study_name}: {len(study.trials)} trials\n", trials_table(study)]
    if best is not None:  # each after a blank line: Markdown would read a line under a table as a row
        lines += ["", f"best: trial {best.number}, val acc {100 * best.value:.2f}% (optimistic: the best of "
                  f"{len(study.trials)} by construction; --confirm N reruns it on fresh seeds)",
                  "", f"repeat it: {best_command(study, model)}"]
    return "\n".join(lines)


def figures(study, out: Path) -> list[Path]:
    """Optuna's optimization history and, with two or more searched keys, the parameter importances."""
    import optuna.visualization.matplotlib as ovm
    from optuna.trial import TrialState

    out.mkdir(parents=True, exist_ok=True)
    paths = []
    if not any(t.state == TrialState.COMPLETE for t in study.trials):
        return paths
    name = file_name(study.study_name)
    ax = ovm.plot_optimization_history(study, target_name="val accuracy")
    paths.append(save(ax.figure, out / f"{name}_history.png"))
    keys = {k for t in study.trials for k in t.params}
    if len(keys) >= 2 and sum(t.state == TrialState.COMPLETE for t in study.trials) >= 2:
        # Named, not Optuna's default: that is fANOVA in Optuna 4.0, requirements.txt's floor, which needs
        # scikit-learn (not a dependency: visualize.py study failed there), and PED-ANOVA in 5.1 (checked
        # both, 2026-12-06). The same evaluator everywhere, and the caption can say which.
        from optuna.importance import PedAnovaImportanceEvaluator

        ax = ovm.plot_param_importances(study, evaluator=PedAnovaImportanceEvaluator(), target_name="val accuracy")
        paths.append(save(ax.figure, out / f"{name}_importances.png"))
    plt.close("all")
    return paths


def report_section(r, logdir: Path) -> None:
    """report.md's section (`r`: report/page.py's Page) for the tune.py studies in the logdir's
    optuna.db: each study's trials, its best trial, and Optuna's figures."""
    from studies import store

    r.add("## Hyperparameter studies (`tune.py`)")
    for study in store.load_all(store.default_url(logdir)):
        name = study.study_name
        r.add(f"### {name}", summary(study, study.user_attrs.get("model", "?")).strip())
        for fig in figures(study, r.figures):
            what = "best validation accuracy so far, trial by trial" if fig.stem.endswith("history") else \
                "how much each searched key mattered (Optuna's PED-ANOVA importances)"
            r.figure(fig, f"Study {name}: {what}.")
