"""Each architecture as the assignment's Table 1 shows it: layer, output shape, activation and
parameters, read off the network itself by forward hooks on one image."""
from __future__ import annotations


def architecture_table(model) -> str:
    """Layer, output shape, activation, parameters: one row per weight or pooling layer, for one
    input image of the size the model was built for. An activation is folded into the row of the
    layer whose output it takes, untouched; one that takes a sum (a residual block's add) gets a row
    of its own. A resize inside forward() (resnet18's upsampling) shows as a row before the first
    layer; frozen parameters (not trained) are marked."""
    size = model.hparams.image_size
    rows = _layer_rows(model, size)
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    lines = ["| layer | output shape | activation | parameters |", "|---|---|---|---|",
             f"| input | 3x{size}x{size} | | |"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    lines.append(f"| **total** | | | **{total:,}**" + (f" ({trainable:,} trained)" if trainable != total else "") + " |")
    return "\n".join(lines)


def _layer_rows(model, size: int) -> list[list[str]]:
    """[layer, output shape, activation, parameters] per leaf module that runs, from forward hooks
    on one zero image of `size`."""
    import torch
    from torch import nn

    activations = (nn.ReLU, nn.GELU, nn.Sigmoid, nn.Tanh)
    rows: list[list[str]] = []
    last: dict = {}  # the previous row's output tensor and its version counter (in-place adds bump it)

    def shape(t) -> str:
        return "x".join(map(str, t.shape[1:])) if isinstance(t, torch.Tensor) else "?"

    folds: dict[str, bool] = {}

    def before(name: str):  # before the layer runs: an in-place activation bumps its input's version
        def fn(module, inputs):
            x = inputs[0] if inputs else None
            folds[name] = bool(rows) and x is last.get("out") and x._version == last.get("version")
        return fn

    def hook(name: str):
        def fn(module, inputs, output):
            x = inputs[0] if inputs else None
            if not rows and isinstance(x, torch.Tensor) and x.dim() == 4 and tuple(x.shape[-2:]) != (size, size):
                rows.append(["input resized in forward() (no layer)", shape(x), "", "0"])
            act = isinstance(module, activations)
            if act and folds.get(name):
                rows[-1][2] = type(module).__name__
            else:
                params = list(module.parameters(recurse=False))
                count = f"{sum(q.numel() for q in params):,}"
                frozen = sum(q.numel() for q in params if not q.requires_grad)
                if frozen:
                    count += " (frozen)" if frozen == sum(q.numel() for q in params) else f" ({frozen:,} frozen)"
                label = f"{name} ({type(module).__name__})" + (", after a sum" if act else "")
                rows.append([label, shape(output), type(module).__name__ if act else "", count])
            if isinstance(output, torch.Tensor):
                last.update(out=output, version=output._version)
        return fn

    leaves = [(n, m) for n, m in model.named_modules() if not list(m.children()) and n]
    handles = [m.register_forward_hook(hook(n)) for n, m in leaves]
    handles += [m.register_forward_pre_hook(before(n)) for n, m in leaves]
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            model(torch.zeros(1, 3, size, size, device=next(model.parameters()).device))
    finally:
        model.train(was_training)
        for h in handles:
            h.remove()
    return rows
