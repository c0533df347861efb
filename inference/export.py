"""A trained network as one file another runtime runs: ONNX (onnxruntime, TensorRT, ...) or TorchScript.

The exported graph takes what a decoded image is, not what the network trains on:

    input  "images": uint8, (N, 3, S, S), RGB, values 0-255, N any (a dynamic batch dimension)
    output "logits": float32, (N, classes); softmax them for probabilities

The normalisation with the training data's mean/std is inside the graph (and so is resnet18's
upsampling, which is part of its network), so a runtime needs nothing but the pixels. No TTA:
one forward pass per image.

ONNX goes through torch.onnx's dynamo exporter (`dynamo=True`, the one torch maintains; it needs
the onnx and onnxscript packages), or on torch 2.4, which has none, its TorchScript-based exporter
(`dynamic_axes`); the TorchScript file is torch.jit.trace's. Each export is checked
before it is kept: the file, loaded back by onnxruntime (or torch.jit.load), gives PyTorch's logits
for batches of 1, 7 and 64 test images within `TOL`.
"""
from __future__ import annotations

import inspect
import os
import warnings
from pathlib import Path

import torch
from torch import nn

from core.errors import UserError

FORMATS = {"onnx": ".onnx", "torchscript": ".pt"}
CHECK_BATCHES = (1, 7, 64)
# float32 logits of one network through two runtimes: their kernels sum in different orders, so
# they differ in the last digits, relative to the logits' size (resnet9's reach thousands). The
# tolerance: |difference| <= TOL * max(1, largest |logit| of the batch). Measured over every
# registered model after 2 tiny epochs: below 1e-5 (onnxruntime), 0 (TorchScript).
TOL = 1e-4


class Deployable(nn.Module):
    """uint8 images -> logits: the data module's normalisation, then the trained network."""

    def __init__(self, model):
        super().__init__()
        self.net = model.net
        self.register_buffer("mean", torch.tensor(model.hparams.mean, dtype=torch.float32).view(1, 3, 1, 1) * 255)
        self.register_buffer("std", torch.tensor(model.hparams.std, dtype=torch.float32).view(1, 3, 1, 1) * 255)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.net((images.float() - self.mean) / self.std)


def dynamo_exporter() -> bool:
    """torch.onnx.export(dynamo=True, dynamic_shapes=...) exists (torch 2.5 and later; the default from
    2.9, where the TorchScript-based exporter is deprecated). torch 2.4's export takes `dynamo` but not
    `dynamic_shapes` (seen in .ci/oldest's venv). Both exporters' files are checked the same way."""
    return "dynamic_shapes" in inspect.signature(torch.onnx.export).parameters


def export(model, fmt: str, out: Path) -> Path:
    """Writes `out` (through a temporary file: a failed export or check leaves nothing half-written)."""
    wrapper = Deployable(model).eval()
    size = model.hparams.image_size
    example = torch.randint(0, 256, (2, 3, size, size), dtype=torch.uint8)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_name(out.name + ".tmp")
        tmp.touch()
    except OSError as e:
        raise UserError(f"--out {out}: cannot write there ({e.strerror}); pass a path in a writable folder") from None
    try:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the exporters' deprecation and tracer notes: not the user's to act on
            if fmt == "onnx" and dynamo_exporter():
                batch = torch.export.Dim("batch", min=1)
                torch.onnx.export(wrapper, (example,), str(tmp), dynamo=True, input_names=["images"],
                                  output_names=["logits"], dynamic_shapes={"images": {0: batch}},
                                  external_data=False, verbose=False, optimize=True)
            elif fmt == "onnx":  # torch 2.4, which requirements.txt admits: the TorchScript-based exporter
                torch.onnx.export(wrapper, (example,), str(tmp), input_names=["images"], output_names=["logits"],
                                  dynamic_axes={"images": {0: "batch"}, "logits": {0: "batch"}}, opset_version=17)
            else:
                torch.jit.trace(wrapper, example).save(str(tmp))
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return out


def runtime(fmt: str, path: Path):
    """The exported file, loaded by its runtime: uint8 numpy (N, 3, S, S) -> logits numpy."""
    if fmt == "onnx":
        import onnxruntime as ort

        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        return lambda images: session.run(["logits"], {"images": images})[0]
    loaded = torch.jit.load(str(path), map_location="cpu").eval()

    def run(images):
        with torch.no_grad():
            return loaded(torch.from_numpy(images)).numpy()
    return run


def check(model, fmt: str, path: Path, images: torch.Tensor) -> float:
    """The largest |logit difference| between the file's runtime and the model in PyTorch (normalising
    as its data module did), relative as TOL says, over batches of CHECK_BATCHES images (uint8, from
    `images`, repeated if there are fewer); over TOL a UserError."""
    run = runtime(fmt, path)
    worst = 0.0
    for n in CHECK_BATCHES:
        batch = images[torch.arange(n) % len(images)].contiguous()
        with torch.no_grad():  # the model's own path, its normalisation outside the file: what training ran
            want = model(model.normalize(batch)).numpy()
        got = run(batch.numpy())
        if got.shape != want.shape:
            raise UserError(f"the exported {fmt} file gives shape {got.shape} for a batch of {n}, PyTorch {want.shape}")
        worst = max(worst, float(abs(got - want).max()) / max(1.0, float(abs(want).max())))
    if worst > TOL:
        raise UserError(f"the exported {fmt} file's logits differ from PyTorch's by {worst:.2e} of the largest logit "
                        f"(more than {TOL}); it was not kept")
    return worst
