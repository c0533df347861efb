"""Grad-CAM (Selvaraju et al. 2017): where in an image the evidence for one class lies, from the
output of the model's last conv block (`BaseClassifier.feature_block()`: the registry names it per
model, `layer4` for resnet18), weighted by the class score's gradient averaged over its positions.

Written on a forward hook here, some twenty lines, rather than a library: pytorch-grad-cam pulls in
OpenCV and scikit-learn, and captum pins numpy below what torch 2.x runs with. A model gets Grad-CAM
by having a conv block; a fifth model names its own with `last_block`.
"""
from __future__ import annotations

import torch


def grad_cam(model, images: torch.Tensor, classes: torch.Tensor) -> torch.Tensor:
    """Heatmaps in [0, 1], (N, S, S) at the images' size, of uint8 `images` (N, 3, S, S) for one
    class each (`classes`, (N,)). Zero where the block's output carries no evidence for the class."""
    block = model.feature_block()
    if block is None:
        raise ValueError(f"{model.name} has no conv layer, so no Grad-CAM")
    _, module = block
    seen: list[torch.Tensor] = []
    hook = module.register_forward_hook(lambda m, i, out: seen.append(out))
    was_training = model.training
    model.eval()
    try:
        with torch.enable_grad():
            x = model.normalize(images)
            logits = model(x)
            maps = seen[-1]  # (N, C, h, w): the block's output, part of the graph that made the logits
            score = logits.gather(1, classes.view(-1, 1).to(logits.device)).sum()
            grads, = torch.autograd.grad(score, maps)
    finally:
        hook.remove()
        model.train(was_training)
    weights = grads.mean((2, 3), keepdim=True)  # per channel: how much the class score rises with it
    cam = torch.relu((weights * maps).sum(1, keepdim=True)).detach()
    cam = torch.nn.functional.interpolate(cam, size=images.shape[-2:], mode="bilinear", align_corners=False)[:, 0]
    peak = cam.flatten(1).amax(1).clamp_min(1e-12).view(-1, 1, 1)
    return (cam / peak).cpu()
