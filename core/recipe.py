"""A model's recipe: every default, which object reads it, what it means, and what values it takes.

    python train.py --model vgg_bn --show-defaults
    python train.py --model vgg_bn --set weight_decay=0 label_smoothing=0 aug_flip=none

Each key belongs to one owner, which receives its group whole: "model" (the network and the
LightningModule: optimizer, loss, schedule, TTA, architecture switches), "data" (the data module:
batch size, split, augmentation) and "trainer" (the Lightning Trainer: epochs). `--set KEY=VALUE`
values are parsed to the type of the key's default and checked against its rule. Torch-free, so
`--show-defaults` and bad overrides answer at once.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable

from core.errors import UserError

OWNERS = ("model", "data", "trainer")
_TRUE, _FALSE = ("true", "1", "yes", "on"), ("false", "0", "no", "off")


_REQUIRED = object()  # a Key's default when it has none of its own: a model's `defaults` must give it


@dataclass(frozen=True)
class Key:
    """One recipe key, declared once: everything else (the defaults, --show-defaults, --set's
    checks, the command-line flag, the owner's parameter) is generated from it."""
    owner: str                  # "model", "data" or "trainer"
    help: str                   # one line for --show-defaults
    default: Any = _REQUIRED    # the value every model starts from (a model's `defaults` may change it)
    choices: tuple = ()         # the values allowed, if a fixed set
    low: float | None = None    # the smallest value allowed (inclusive)
    high: float | None = None   # the largest value allowed (inclusive)
    above: float | None = None  # values must be greater than this
    odd: bool = False           # odd integers only (kernel sizes)
    optional: bool = False      # "none" is allowed and means None
    flag: str = ""              # a train.py flag that sets it too (--epochs); a bool's flag sets the opposite


# Test-time augmentation levels: (short name, what it does), for tables, figure titles and details.
TTA_LEVELS = {0: ("none", "none"), 1: ("flip", "horizontal flip"), 2: ("flip+translate", "flip + 1-pixel translations")}


def settings_text(settings: dict[str, Any], none: str = "", sep: str = ", ") -> str:
    """{"lr": 0.02, "batchnorm": False} -> "lr=0.02, batchnorm=False": how a run's changes to its
    defaults (or any keys) read everywhere they are shown; `none` when there are none."""
    return sep.join(f"{k}={v}" for k, v in settings.items()) or none


def tta_name(level: Any) -> str:
    return TTA_LEVELS[level][0] if level in TTA_LEVELS else "?"


# The keys every model has, with the defaults a model starts from; a model adds its own in `specs`.
BASE_SPECS: dict[str, Key] = {
    "epochs": Key("trainer", "training epochs", 10, low=1, flag="--epochs"),
    "batch_size": Key("data", "training batch size (evaluation batches: 4x, at most 500)", 64, low=1,
                      flag="--batch-size"),
    "lr": Key("model", "peak learning rate", 1e-3, above=0, flag="--lr"),
    "optimizer": Key("model", "optimizer (adamw: Adam with decoupled weight decay)", "adam",
                     choices=("adam", "sgd", "adamw"), flag="--optimizer"),
    "weight_decay": Key("model", "weight decay: L2 in the gradient for adam and sgd, decoupled for adamw", 0.0, low=0),
    "momentum": Key("model", "SGD momentum", 0.9, low=0, high=1),
    "nesterov": Key("model", "SGD with Nesterov momentum", False),
    "label_smoothing": Key("model", "label smoothing of the training loss", 0.0, low=0, high=1),
    "schedule": Key("model", "learning-rate schedule per step, each after a linear warmup: linear decay, "
                    "one-cycle (cosine up, cosine down), cosine decay; or none (constant)",
                    None, choices=("warmup_linear", "onecycle", "cosine"), optional=True),
    "warmup": Key("model", "fraction of the steps spent warming up (every schedule)", 0.0, low=0, high=1),
    "start_lr_frac": Key("model", "lr at the first step, as a fraction of lr (every schedule)", 1.0, low=0),
    "end_lr_frac": Key("model", "lr at the last step, as a fraction of lr (every schedule)", 1.0, low=0),
    "init": Key("model", "initialisation of the conv and linear weights (biases zero): PyTorch's default, "
                "Xavier/Glorot uniform, or Kaiming/He normal (fan-out, for ReLU)", "default",
                choices=("default", "xavier", "kaiming")),
    "tta": Key("model", "test-time augmentation of the final evaluation: "
               + ", ".join(f"{k} {v[1]}" for k, v in TTA_LEVELS.items()), 0, choices=tuple(TTA_LEVELS)),
    "augment": Key("data", "training augmentation on or off: the crop and flip of the aug_* keys", True,
                   flag="--no-augment"),
    "aug_padding": Key("data", "pixels of padding before the random 32x32 crop (0: no crop)", 4, low=0, high=16),
    "aug_pad_mode": Key("data", "padding of the crop: zeros or a mirrored border", "constant",
                        choices=("constant", "reflect")),
    "aug_flip": Key("data", "horizontal flips: random per image, airbench's alternating, or none", "random",
                    choices=("random", "alternate", "none")),
    "cutout": Key("data", "Cutout: a square of this many pixels (at 32x32) set to the mean colour in each "
                  "training image (0: off)", 0, low=0, high=32),
    "mixup": Key("data", "MixUp's Beta(alpha, alpha) on training batches (0: off; with cutmix, one of the two a batch)",
                 0.0, low=0, high=10),
    "cutmix": Key("data", "CutMix's Beta(alpha, alpha) on training batches (0: off)", 0.0, low=0, high=10),
    "channels_last": Key("model", "NHWC memory layout for the convolutions (speed only)", False),
    "val_size": Key("data", "training images held out for validation", 5000, low=1, flag="--val-size"),
    "test_every_epoch": Key("data", "score the test set after every epoch (a test curve); else only at the end", True),
    "lookahead": Key("model", "airbench's lookahead: weights pulled to their EMA every 5,120 examples", False),
}


def defaults_of(specs: dict[str, Key], overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """Every key's default, in the order of `specs`, with a model's `overrides`; a key left
    without one is a programming error, said at once."""
    out = {k: s.default for k, s in specs.items()}
    out.update(overrides or {})
    missing = [k for k, v in out.items() if v is _REQUIRED]
    if missing:
        raise TypeError(f"recipe keys without a default: {', '.join(missing)}")
    return out


def with_data_defaults(keys: dict[str, Any]) -> dict[str, Any]:
    """The data owner's keys, each its default unless given; an unknown key is a TypeError."""
    data = {k: s.default for k, s in BASE_SPECS.items() if s.owner == "data"}
    unknown = sorted(set(keys) - set(data))
    if unknown:
        raise TypeError(f"not a data key of the recipe: {', '.join(unknown)}")
    return {**data, **keys}


def flag_keys(specs: dict[str, Key]) -> dict[str, str]:
    """key -> its train.py flag, for the keys that have one."""
    return {k: s.flag for k, s in specs.items() if s.flag}


def parse_value(key: str, text: str, default: Any, spec: Key, flag: str = "") -> Any:
    """`text` as the type of `default`, checked against `spec`; a UserError says what is wrong, in
    --set's words, or in a flag's (`flag`: "--epochs") where the value came from one."""
    if spec.optional and text.lower() == "none":
        return None
    kind = type(default) if default is not None else type(spec.choices[0]) if spec.choices else str
    try:
        if kind is bool:
            if text.lower() not in _TRUE + _FALSE:
                raise ValueError
            value = text.lower() in _TRUE
        else:
            value = kind(text)
    except ValueError:
        want = {bool: "true or false", int: "an integer", float: "a number"}.get(kind, "a string")
        raise UserError(f"takes {want}, got {text!r}" if flag else f"--set {key}={text}: {key} takes {want}") from None
    rule = _broken_rule(value, spec)
    if rule:
        raise UserError(f"must be {rule}, got {text}" if flag else f"--set {key}={text}: {key} must be {rule}")
    return value


def _broken_rule(value: Any, spec: Key) -> str | None:
    if spec.choices and value not in spec.choices:
        return "one of " + ", ".join(map(str, spec.choices + (("none",) if spec.optional else ())))
    if isinstance(value, float) and value != value or value in (float("inf"), float("-inf")):
        return "finite"
    if spec.low is not None and value < spec.low:
        return f"at least {spec.low:g}" + (f" and at most {spec.high:g}" if spec.high is not None else "")
    if spec.high is not None and value > spec.high:
        return f"at most {spec.high:g}" + (f" and at least {spec.low:g}" if spec.low is not None else "")
    if spec.above is not None and not value > spec.above:
        return f"greater than {spec.above:g}"
    if spec.odd and value % 2 == 0:
        return "odd"
    return None


def apply_overrides(defaults: dict[str, Any], specs: dict[str, Key], pairs: Iterable[str]) -> dict[str, Any]:
    """The defaults with `KEY=VALUE` pairs applied; an unknown key names the valid ones."""
    recipe, given = dict(defaults), {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        key = key.strip()
        if not sep:
            raise UserError(f"--set {pair}: write KEY=VALUE, e.g. --set weight_decay=0")
        if key not in defaults:
            raise UserError(f"--set {pair}: unknown key {key!r}; valid keys: {', '.join(sorted(defaults))} "
                            f"(--show-defaults says what each does)")
        if key in given:
            raise UserError(f"--set {key} is given twice ({given[key]} and {pair}); give each key once")
        given[key] = pair
        recipe[key] = parse_value(key, text.strip(), defaults[key], specs[key])
    return recipe


# Settings that are each valid but not together: (does the recipe break it?, what to do instead).
RULES_TOGETHER = (
    (lambda r: r.get("optimizer") == "sgd" and r.get("nesterov") and not r.get("momentum"),
     "nesterov=true needs a momentum above 0 with SGD; set momentum=0.9 or nesterov=false"),
)


def check_together(recipe: dict[str, Any]) -> None:
    """The chosen values as a whole: a pair that cannot work together is a UserError naming both."""
    for broken, message in RULES_TOGETHER:
        if broken(recipe):
            raise UserError(f"--set: {message}")


def split(recipe: dict[str, Any], specs: dict[str, Key]) -> dict[str, dict[str, Any]]:
    """{owner: {key: value}} for the three owners."""
    return {owner: {k: v for k, v in recipe.items() if specs[k].owner == owner} for owner in OWNERS}


def describe(name: str, defaults: dict[str, Any], specs: dict[str, Key]) -> str:
    """--show-defaults: every key by owner, with its default and one line on what it does."""
    lines = [f"{name}: set any of these with --set KEY=VALUE (several at once: --set a=1 b=2)"]
    for owner, keys in split(defaults, specs).items():
        lines.append(f"\n{owner} ({ {'model': 'network and LightningModule', 'data': 'data module', 'trainer': 'Trainer'}[owner] }):")
        width = max(len(k) for k in keys) if keys else 0
        for k, v in keys.items():
            allowed = f" [{' | '.join(map(str, specs[k].choices + (('none',) if specs[k].optional else ())))}]" \
                if specs[k].choices else ""
            lines.append(f"  {k:<{width}}  {v!s:<14} {specs[k].help}{allowed}")
    return "\n".join(lines)
