"""How large each `init` makes an untrained network's weights and logits: a clue to the ablation's
init rows (results/ablation.md), not a verdict. Kaiming's fan_out mode also re-draws the last
Linear, whose fan_out is the 10 classes: its weights come out about 12x the default's.

    python benchmarks/init_scale.py [--model vgg_bn] [--batch 256]

One batch of made-up N(0, 1) images (seed 0), the network in eval mode (BatchNorm's starting
statistics, mean 0 and variance 1), the same seed before each network is built.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main(argv=None) -> int:
    import torch
    from torch import nn

    from lit_modules import get_model_class
    from lit_modules.init import INITS

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="vgg_bn")
    p.add_argument("--batch", type=int, default=256)
    args = p.parse_args(argv)
    cls = get_model_class(args.model)
    if "init" not in cls.all_defaults():
        p.error(f"--model {args.model} has no init key; try vgg_bn or lenet")
    torch.manual_seed(0)
    x = torch.randn(args.batch, 3, 32, 32)
    print(f"| {args.model}, init | first conv weight std | last Linear weight std | logit std |\n|---|---|---|---|")
    for init in INITS:
        torch.manual_seed(0)
        model = cls(**{**cls.all_defaults(), "init": init}).eval()
        convs = [m for m in model.modules() if isinstance(m, nn.Conv2d) and m.weight.requires_grad]
        last = [m for m in model.modules() if isinstance(m, nn.Linear)][-1]
        with torch.no_grad():
            logits = model(x)
        print(f"| {init} | {convs[0].weight.std():.4f} | {last.weight.std():.4f} | {logits.std():.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
