"""A search space over a model's recipe keys, from tune.py's `--search` and `--grid` words.

    lr=0.02:0.5:log      a range, sampled on a log scale (`low:high` alone: uniform)
    batch_size=64:512    a range of an integer key: integers
    optimizer=sgd,adam   a choice among values
    optimizer            a choice key (or a bool) alone: all its values

Every value is checked against the key's type and rule exactly as `--set` checks it
(core/recipe.py), so a search never proposes a value train.py would refuse. Torch-free and
Optuna-free: parsing answers at once, and a bad spec is a one-line error before any study exists.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Sequence

from core.errors import UserError
from core.recipe import Key, parse_value


@dataclass(frozen=True)
class Dimension:
    """One searched key: `choices` (a list of values), or a range [low, high] of `kind` (int or
    float), on a log scale if `log`."""
    key: str
    choices: tuple = ()
    low: float | None = None
    high: float | None = None
    kind: type = float
    log: bool = False

    def spec(self) -> str:
        """The word that makes this dimension: what a study records to recognise its space."""
        if self.choices:
            return f"{self.key}={','.join(map(_text, self.choices))}"
        return f"{self.key}={_text(self.low)}:{_text(self.high)}" + (":log" if self.log else "")


def _text(value: Any) -> str:
    return "none" if value is None else str(value).lower() if isinstance(value, bool) else str(value)


def _all_values(key: str, default: Any, spec: Key) -> tuple:
    if spec.choices:
        return tuple(spec.choices) + ((None,) if spec.optional else ())
    if isinstance(default, bool):
        return (False, True)
    raise UserError(f"--search {key}: {key} is not a choice key; give values (KEY=a,b) or a range (KEY=low:high)")


def parse(words: Sequence[str], defaults: dict[str, Any], specs: dict[str, Key], flag: str = "--search") -> list[Dimension]:
    """The dimensions of `words`; a UserError names the word and what is wrong with it."""
    dims, seen = [], set()
    for word in words:
        key, sep, text = word.partition("=")
        key = key.strip()
        if key not in defaults:
            raise UserError(f"{flag} {word}: unknown key {key!r}; valid keys: {', '.join(sorted(defaults))}")
        if key in seen:
            raise UserError(f"{flag} {key} is given twice; give each key once")
        seen.add(key)
        default, spec = defaults[key], specs[key]
        if not sep:
            dims.append(Dimension(key, choices=_all_values(key, default, spec)))
        elif ":" in text:
            dims.append(_range(word, key, text, default, spec, flag))
        else:
            values = [v.strip() for v in text.split(",") if v.strip()]
            if not values:
                raise UserError(f"{flag} {word}: an empty list of values; write {key}=a,b,c")
            choices = tuple(dict.fromkeys(_checked(word, key, v, default, spec, flag) for v in values))
            dims.append(Dimension(key, choices=choices))
    return dims


def _checked(word: str, key: str, text: str, default: Any, spec: Key, flag: str) -> Any:
    try:
        return parse_value(key, text, default, spec)
    except UserError as e:
        raise UserError(f"{flag} {word}: {str(e).split(': ', 1)[1]}") from None


def _range(word: str, key: str, text: str, default: Any, spec: Key, flag: str) -> Dimension:
    parts = text.split(":")
    log = parts[-1].strip().lower() == "log"
    bounds = parts[:-1] if log else parts
    if len(bounds) != 2:
        raise UserError(f"{flag} {word}: a range is low:high or low:high:log")
    if spec.choices or isinstance(default, bool) or not isinstance(default, (int, float)):
        raise UserError(f"{flag} {word}: {key} is a choice key, not a number; give its values ({key}=a,b) instead")
    low, high = (_checked(word, key, b.strip(), default, spec, flag) for b in bounds)
    if low > high:
        raise UserError(f"{flag} {word}: low {low} is above high {high}")
    if log and low <= 0:
        raise UserError(f"{flag} {word}: a log range needs low > 0 (log of {low} is undefined)")
    return Dimension(key, low=low, high=high, kind=type(default), log=log)


def grid_values(dims: Sequence[Dimension]) -> dict[str, list]:
    """Every dimension's values, for Optuna's GridSampler: choices only (a grid cannot enumerate a
    range). `None` (an optional key's "none") travels as the string "none"."""
    ranged = [d.key for d in dims if not d.choices]
    if ranged:
        raise UserError(f"--grid {ranged[0]}: a grid enumerates values; give them ({ranged[0]}=a,b,c), not a range")
    return {d.key: [_text(v) if v is None else v for v in d.choices] for d in dims}


def grid_size(dims: Sequence[Dimension]) -> int:
    return math.prod(len(d.choices) for d in dims)


def suggest(trial, dims: Sequence[Dimension]) -> dict[str, Any]:
    """The trial's values (Optuna's suggest_* calls), as `--set` would hold them."""
    values = {}
    for d in dims:
        if d.choices:
            v = trial.suggest_categorical(d.key, [_text(c) if c is None else c for c in d.choices])
            values[d.key] = None if v == "none" and None in d.choices else v
        elif d.kind is int:
            values[d.key] = trial.suggest_int(d.key, int(d.low), int(d.high), log=d.log)
        else:
            values[d.key] = trial.suggest_float(d.key, d.low, d.high, log=d.log)
    return values


def set_words(values: dict[str, Any]) -> list[str]:
    """`--set` words for `values`: lr=0.1 optimizer=adam schedule=none."""
    return [f"{k}={_text(v)}" for k, v in values.items()]


def checked_params(params: dict[str, Any], dims: Sequence[Dimension]) -> dict[str, Any]:
    """A trial's values read back from a study database, each within its declared dimension (a
    choice among the choices, a number inside the range, of the key's type); a database written by
    anything but tune.py cannot smuggle a value into a command. A UserError names the first that is not."""
    by_key = {d.key: d for d in dims}
    out = {}
    for key, value in params.items():
        d = by_key.get(key)
        if d is None:
            raise UserError(f"the study's trial sets {key!r}, which its search space does not hold")
        stored = [_text(c) if c is None else c for c in d.choices]
        if d.choices and value in stored:
            out[key] = None if value == "none" and None in d.choices else value
        elif not d.choices and isinstance(value, (int, float)) and not isinstance(value, bool) \
                and d.low <= value <= d.high and (d.kind is float or float(value).is_integer()):
            out[key] = d.kind(value)
        else:
            raise UserError(f"the study's trial sets {key}={value!r}, outside its search space {d.spec()}")
    return out


def check_combinations(dims: Sequence[Dimension], defaults: dict[str, Any], specs: dict[str, Key],
                       fixed: Sequence[str] = ()) -> None:
    """Every combination of a grid's values (with the `--set` words `fixed`) against the rules
    between keys, before any trial trains; a UserError names the first that breaks one."""
    import itertools

    from core.recipe import apply_overrides, check_together

    for combo in itertools.product(*(d.choices for d in dims)):
        words = set_words(dict(zip((d.key for d in dims), combo)))
        try:
            check_together(apply_overrides(defaults, specs, [*fixed, *words]))
        except UserError as e:
            raise UserError(f"--grid: the combination {' '.join(words)} {str(e).removeprefix('--set: ')}; "
                            f"leave a value out of the grid") from None
