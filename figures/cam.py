"""Grad-CAM (Selvaraju et al. 2017): where in an image the evidence for one class lies, from the
output of the model's last conv block (`BaseClassifier.feature_block()`: the registry names it per
model, `layer4` for resnet18), weighted by the class score's gradient averaged over its positions.

Written on a forward hook here (as figures/filters.py captures activations), some twenty lines, rather than a library: pytorch-grad-cam pulls in
OpenCV and scikit-learn, and captum pins numpy below what torch 2.x runs with. A model gets Grad-CAM
by having a conv block; a fifth model names its own with `last_block`.
"""
from __future__ import annotations

import torch


def grad_cam(model, images: torch.Tensor, classes):
    """Heatmaps in [0, 1], (N, S, S) at the images' size, of uint8 `images` (N, 3, S, S) for one
    class each (`classes`, (N,)); for a tuple of such tensors, a tuple of heatmaps, from one forward
    pass. Zero where the block's output carries no evidence for the class."""
    several = isinstance(classes, (tuple, list))
    sets = list(classes) if several else [classes]
    block = model.feature_block()
    if block is None:
        raise ValueError(f"{model.name} has no conv layer, so no Grad-CAM")
    _, module = block
    seen: list[torch.Tensor] = []
    hook = module.register_forward_hook(lambda m, i, out: seen.append(out))
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode(False), torch.enable_grad():  # also at a test's end, inside Lightning's inference mode
            # The data module's normalisation, with tensors made here, and clones: tensors made in inference
            # mode (a test's: the cached mean/std, the images, the classes) cannot take part in a backward.
            mean, std = (torch.tensor(v, device=images.device).view(1, 3, 1, 1) * 255
                         for v in (model.hparams.mean, model.hparams.std))
            x = (images.clone().float() - mean) / std
            logits = model(x)
            maps = seen[-1]  # (N, C, h, w): the block's output, part of the graph that made the logits
            grads = [torch.autograd.grad(logits.gather(1, c.clone().view(-1, 1).to(logits.device)).sum(), maps,
                                         retain_graph=j < len(sets) - 1)[0] for j, c in enumerate(sets)]
    finally:
        hook.remove()
        model.train(was_training)
    cams = tuple(_heatmap(g, maps.detach(), images.shape[-2:]) for g in grads)
    return cams if several else cams[0]


def _heatmap(grads: torch.Tensor, maps: torch.Tensor, size) -> torch.Tensor:
    weights = grads.mean((2, 3), keepdim=True)  # per channel: how much the class score rises with it
    cam = torch.relu((weights * maps).sum(1, keepdim=True))
    cam = torch.nn.functional.interpolate(cam, size=size, mode="bilinear", align_corners=False)[:, 0]
    peak = cam.flatten(1).amax(1).clamp_min(1e-12).view(-1, 1, 1)
    return (cam / peak).cpu()
