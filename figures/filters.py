"""What the network sees: the first conv layer's and the last conv block's activations and the first
conv's weights for one image.

`capture()` finds the first nn.Conv2d of any model by itself and takes the last conv block from
the model (`feature_block()`: resnet18's `layer4`, after BatchNorm, shortcut and ReLU, as the
assignment's 3f asks), else the last nn.Conv2d; it returns None for a network without a conv layer; `filter_images` makes TensorBoard's
images of it (callbacks/filters.py every N epochs if asked, callbacks/tensorboard.py for the best
checkpoint at the end); the report draws the same captures as PNG figures.
"""
from __future__ import annotations

import math

import torch
from torch import nn
from torchvision.utils import make_grid

NO_CONV = "the network has no convolutional layer, so there are no filters to show"


def conv_layers(model: nn.Module) -> tuple[tuple[str, nn.Conv2d], tuple[str, nn.Conv2d]] | None:
    """The first and last nn.Conv2d (name, module), or None for a network without one."""
    convs = [(n, m) for n, m in model.named_modules() if isinstance(m, nn.Conv2d)]
    return (convs[0], convs[-1]) if convs else None


@torch.no_grad()
def capture(model: nn.Module, image: torch.Tensor) -> dict[str, torch.Tensor | str] | None:
    """Run one uint8 image (3, S, S) through `model` in eval mode; return the first conv layer's and
    the last conv block's outputs (C, H, W), the first conv's weights and the layers' names (None:
    no conv layer)."""
    layers = conv_layers(model)
    if layers is None:
        return None
    (first_name, first), (last_name, last) = layers
    block = model.feature_block() if hasattr(model, "feature_block") else None
    if block is not None:  # the block's output, after its normalisation, activation, pooling or shortcut
        last_name, last = block
    out: dict[str, torch.Tensor | str] = {"first_name": first_name, "last_name": last_name}
    hooks = [first.register_forward_hook(lambda m, i, o: out.__setitem__("first", o[0].float().cpu())),
             last.register_forward_hook(lambda m, i, o: out.__setitem__("last", o[0].float().cpu()))]
    was_training = model.training
    model.eval()
    try:
        device = next(model.parameters()).device
        out["logits"] = model(model.normalize(image[None].to(device)))[0].float().cpu()
    finally:
        model.train(was_training)
        for h in hooks:
            h.remove()
    out["weights"] = first.weight.detach().float().cpu()
    out["image"] = image.float() / 255
    return out


def most_active(maps: torch.Tensor, k: int) -> torch.Tensor:
    """The k channels with the highest mean activation, most active first."""
    order = maps.mean(dim=(1, 2)).argsort(descending=True)
    return maps[order[:k]]


def activation_grid(maps: torch.Tensor, k: int = 64, min_tile: int = 1) -> torch.Tensor:
    """Up to k maps (C, H, W), each scaled to [0, 1], as one grey (3, H', W') grid image; maps
    smaller than `min_tile` pixels are enlarged (nearest) so that 8x8 maps stay readable."""
    maps = most_active(maps, k)
    lo = maps.amin(dim=(1, 2), keepdim=True)
    hi = maps.amax(dim=(1, 2), keepdim=True)
    maps = (maps - lo) / (hi - lo).clamp_min(1e-8)
    if maps.shape[-1] < min_tile:
        maps = nn.functional.interpolate(maps[None], scale_factor=math.ceil(min_tile / maps.shape[-1]), mode="nearest")[0]
    return make_grid(maps[:, None], nrow=math.ceil(math.sqrt(len(maps))), padding=1, pad_value=1.0)


def weight_grid(weights: torch.Tensor, min_size: int = 16) -> torch.Tensor:
    """First-conv filters (out, 3, k, k) as RGB tiles, each scaled to [0, 1] on its own."""
    w = weights[:, :3] if weights.shape[1] >= 3 else weights[:, :1].expand(-1, 3, -1, -1)
    lo = w.amin(dim=(1, 2, 3), keepdim=True)
    hi = w.amax(dim=(1, 2, 3), keepdim=True)
    w = (w - lo) / (hi - lo).clamp_min(1e-8)
    if w.shape[-1] < min_size:  # a 2x2 or 5x5 filter is unreadable at its own size
        w = nn.functional.interpolate(w, scale_factor=math.ceil(min_size / w.shape[-1]), mode="nearest")
    return make_grid(w, nrow=math.ceil(math.sqrt(len(w))), padding=1, pad_value=1.0)


def filter_images(model: nn.Module, image: torch.Tensor, label: int, index: int,
                  classes: tuple[str, ...]) -> tuple[dict[str, torch.Tensor], str]:
    """TensorBoard's images for test image `index`: the image, the first and last conv
    layers' output maps (before their activation; the 64 most active; each map scaled to [0, 1] on
    its own) and the first conv's weights. Tags name the layer and sizes; the caption adds the
    model's prediction, which changes from epoch to epoch."""
    cap = capture(model, image)
    if cap is None:
        return {}, f"test image {index}: {NO_CONV}."
    first, last, w = cap["first"], cap["last"], cap["weights"]
    truth, guess = classes[label], classes[int(cap["logits"].argmax())]
    size = lambda m: f"{m.shape[1]}x{m.shape[2]}"
    images = {
        f"filters/1 test image {index} ({truth})": cap["image"],
        f"filters/2 first conv {cap['first_name']}: {len(first)} maps {size(first)}": activation_grid(first, min_tile=32),
        f"filters/3 last conv block {cap['last_name']}: {min(64, len(last))} most active of {len(last)} maps {size(last)}":
            activation_grid(last, min_tile=32),
        f"filters/4 first conv {cap['first_name']} weights: {len(w)} filters {w.shape[2]}x{w.shape[3]}": weight_grid(w),
    }
    caption = (f"test image {index}: true class {truth}, predicted {guess}. First-conv maps are before the "
               f"activation, the last block's after it; each map scaled to [0, 1] on its own; weights per filter.")
    return images, caption
