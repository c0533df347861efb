"""predict.py's throughput against the final evaluation's own forward passes, over a data set's test
images, and what train.py's new end-of-run TensorBoard entries and the report's figures cost. Goal (#37): predict.py's
forward passes at 0.9x or more of the final evaluation's.

    python benchmarks/predict.py --data-dir ../cifar10-jpeg [--model lenet] [--batch-size 500]

Both sides score the same 10,000 uint8 test images in batches of 500 on this machine's CPU (or GPU
with --gpus 1): the final evaluation as train.py's `trainer.test` does (the data module's loader,
normalised on the way in, the model's test step), predict.py as it does (`Trainer.predict` over
the decoded files, the model's predict_step). Reading the files (JPEG decoding) is timed apart: it
is predict.py's own cost, the data module reads its decoded cache. Untrained weights: throughput does
not depend on them. Each side runs twice; the second is timed.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-dir", required=True, help="a class-folder copy with test/<class>/*")
    p.add_argument("--model", default="lenet")
    p.add_argument("--batch-size", type=int, default=500)
    p.add_argument("--gpus", type=int, default=0)
    args = p.parse_args(argv)

    import pytorch_lightning as pl
    import torch
    from torch.utils.tensorboard import SummaryWriter

    from core.devices import resolve_devices
    from datamodules.images import ImageDataModule
    from callbacks.tensorboard import _mistakes
    from figures.mistakes import mistake_figures
    from figures.style import save
    from inference import images, predict
    from lit_modules import MODELS

    dm = ImageDataModule(args.data_dir, eval_batch_size=args.batch_size)
    dm.setup("fit")
    cls = MODELS[args.model]
    model = cls(**({"weights": "none"} if "weights" in cls.all_defaults() else {}), **dm.model_inputs).eval()
    files = images.find_images([Path(args.data_dir) / "test"])

    start = time.perf_counter()
    pixels, kept = images.decode(files, model.hparams.image_size)
    decode_s = time.perf_counter() - start

    devices = resolve_devices(args.gpus)
    tester = pl.Trainer(accelerator=devices["accelerator"], devices=1, logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False)
    timings = {}  # what -> (seconds, images)
    evaluated = dm.sizes["val"] + dm.sizes["test"]  # the final evaluation scores [val, test]
    for _ in range(2):
        start = time.perf_counter()
        tester.test(model, datamodule=dm, verbose=False)
        timings["final evaluation (trainer.test over val and test)"] = (time.perf_counter() - start, evaluated)
        start = time.perf_counter()
        probs = predict.probabilities(model, pixels, args.batch_size, args.gpus, tta=model.hparams.tta, progress=False)
        timings["predict.py (Trainer.predict over test)"] = (time.perf_counter() - start, len(kept))
    model.test_probs = probs  # as the final test leaves them
    with tempfile.TemporaryDirectory() as tmp:  # drawn and written, as the callback and the report do
        tb = SummaryWriter(tmp)
        start = time.perf_counter()
        wrong, texts, figures = _mistakes(model, dm)
        for tag, image in wrong.items():
            tb.add_image(tag, image, 0)
        for tag, text in texts.items():
            tb.add_text(tag, text, 0)
        for tag, fig in figures.items():
            tb.add_figure(tag, fig, 0)
        tb.flush()
        tb_s = time.perf_counter() - start
        start = time.perf_counter()
        drawn = mistake_figures(model, pixels, dm.test_set()[1], probs, list(dm.classes), model.name)
        for what in ("mistakes", "per class", "reliability"):
            save(drawn[what], Path(tmp) / f"{what}.png")
        figures_s = time.perf_counter() - start

    n = len(kept)
    print(f"{n:,} test images of {args.data_dir}, {args.model}, batches of {args.batch_size}, "
          f"{devices['accelerator']}, torch {torch.__version__}, {torch.get_num_threads()} threads\n")
    print("| what | seconds | images/s |\n|---|---|---|")
    rates = {}
    for what, (s, count) in timings.items():
        rates[what] = count / s
        print(f"| {what} | {s:.2f} | {rates[what]:,.0f} |")
    ratio = rates["predict.py (Trainer.predict over test)"] / rates["final evaluation (trainer.test over val and test)"]
    print(f"| predict.py's throughput / the final evaluation's | {ratio:.2f}x (goal: 0.9x or more) | |")
    print(f"| predict.py reading the files (JPEG decode, resize) | {decode_s:.2f} | {n / decode_s:,.0f} |")
    print(f"| train.py's end: TensorBoard's mistakes tiles, per-class table and bars, calibration error, "
          f"reliability diagram (drawn, written) | {tb_s:.2f} | |")
    print(f"| the report's mistakes with Grad-CAM, per-class bars, reliability diagram (drawn, saved as PNG) "
          f"| {figures_s:.2f} | |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
