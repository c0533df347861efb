"""The `init` key: how conv and linear weights start (assignment task 2's "Xavier initialization").

"default" leaves PyTorch's own (Kaiming uniform with a=sqrt(5), biases uniform from the fan-in):
what every model trained with before the key existed, untouched so those runs repeat bit for bit.
"""
from __future__ import annotations

from torch import nn

INITS = ("default", "xavier", "kaiming")


def initialise(net: nn.Module, how: str) -> None:
    """Re-draws every Conv2d and Linear weight of `net` (from the global RNG, which the run's seed
    set) and zeroes their biases; BatchNorm keeps weight 1, bias 0."""
    if how == "default":
        return
    if how not in INITS:
        raise ValueError(f"unknown init {how!r}; choose one of {', '.join(INITS)}")
    for m in net.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            if how == "xavier":  # Glorot & Bengio 2010: variance 2 / (fan_in + fan_out)
                nn.init.xavier_uniform_(m.weight)
            else:  # He et al. 2015, for ReLU networks: variance 2 / fan_out, as torchvision's ResNets
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
