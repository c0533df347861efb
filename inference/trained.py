"""A trained run, from what it left on disk: its best checkpoint (or a named .ckpt) as a model in
eval mode, its record, its class names and, when asked, its data module. The one place that turns
a run folder back into something to use: predict.py, export.py and the report's checkpoint figures
all start here.

The checkpoint is read once, weights-only (training/checkpoints.py); the data module is built at
most once, from the data folder the record names (absolute: this works from any folder).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core import run_folder
from core.errors import UserError
from figures.style import file_name
from training import checkpoints


@dataclass
class Trained:
    model: Any
    ckpt: dict
    path: Path
    record: dict | None
    _dm: Any = field(default=None, repr=False)

    @property
    def run_dir(self) -> Path | None:
        return run_folder.run_folder_of(self.path)

    @property
    def name(self) -> str:
        """lenet-version_3: the model and its run folder, so that two runs' figures never share a file."""
        where = self.run_dir.name if self.run_dir is not None else self.path.stem
        return file_name(f"{self.model.name}-{where}")

    def classes(self) -> tuple[list[str], str]:
        """The class names and a note ("" when they are known). Checkpoints since predict.py hold them;
        an older one's come from its run's metrics.json, else they are the indices, said in the note."""
        n = self.model.hparams.num_classes
        for names in (self.ckpt.get("classes"), ((self.record or {}).get("data") or {}).get("classes")):
            if isinstance(names, list) and len(names) == n and all(isinstance(c, str) for c in names):
                return names, ""
        return [str(i) for i in range(n)], (f"{self.path} does not name its classes (nor does its run's metrics.json): "
                                            f"they are shown as indices 0-{n - 1}")

    def datamodule(self):
        """The data the checkpoint was trained on: the same folder, split and seed."""
        if self._dm is None:
            from datamodules.images import ImageDataModule

            hp = self.ckpt.get("datamodule_hyper_parameters", {})
            recorded = ((self.record or {}).get("data") or {}).get("dir")  # absolute since the record has it
            self._dm = ImageDataModule(recorded or hp.get("data_dir", "data"), val_size=hp.get("val_size", 5000),
                                       seed=hp.get("seed", 0), dataset=hp.get("dataset", "cifar10"),
                                       resize_to=hp.get("resize_to"))
            self._dm.setup("fit")
        return self._dm


def load(target: str | Path, record: dict | None = None) -> Trained:
    """RUN_DIR (its best checkpoint) or a .ckpt; `record`: its run's metrics.json if already read."""
    model, ckpt, path = checkpoints.load_model(target)
    run_dir = run_folder.run_folder_of(path)
    if record is None and run_dir is not None:
        try:
            record = run_folder.read_record(run_dir)
        except UserError:  # a broken record: the checkpoint alone still names its data
            record = None
    return Trained(model, ckpt, path, record)
