"""Lightning's progress bar, with the latest training loss beside it."""
from __future__ import annotations

from pytorch_lightning.callbacks import TQDMProgressBar

from core import devices


class LossBar(TQDMProgressBar):
    """Reads the step's loss only when the bar redraws (every `refresh_rate` steps), and only on the
    CPU: a self.log(prog_bar=True) would be read by Lightning after every step, and on a GPU any read
    makes the host wait for the GPU."""

    def __init__(self, refresh_rate: int = 20):
        super().__init__(refresh_rate=refresh_rate)
        self._loss = None

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx: int) -> None:
        loss = outputs.get("loss") if isinstance(outputs, dict) else outputs
        self._loss = loss if loss is not None and not devices.reading_waits(loss) else None
        super().on_train_batch_end(trainer, pl_module, outputs, batch, batch_idx)

    def get_metrics(self, trainer, pl_module) -> dict:
        metrics = super().get_metrics(trainer, pl_module)
        if self._loss is not None:
            metrics["loss"] = f"{float(self._loss):.3g}"
        return metrics
