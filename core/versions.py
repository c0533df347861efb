"""The installed versions against requirements.txt's floors, so that an environment with an older
Lightning (say) gets a one-line message at start, not a TypeError in the middle of a run."""
from __future__ import annotations

import re
from importlib import metadata
from pathlib import Path

from core.errors import UserError

REQUIREMENTS = Path(__file__).resolve().parents[1] / "requirements.txt"
CHECKED = ("torch", "torchvision", "pytorch-lightning", "torchmetrics")


def floors(text: str) -> dict[str, str]:
    """{package: lowest version} from requirement lines such as `torch>=2.4,<=2.14.1`."""
    found = {}
    for line in text.splitlines():
        m = re.match(r"\s*([A-Za-z0-9_.-]+)\s*>=\s*([0-9][^,;\s]*)", line)
        if m:
            found[m.group(1).lower()] = m.group(2)
    return found


def check(requirements: Path = REQUIREMENTS) -> None:
    """A UserError naming the first checked package older than its floor."""
    from packaging.version import Version

    if not requirements.is_file():  # a copy of the code without its requirements: nothing to check against
        return
    for name, floor in floors(requirements.read_text()).items():
        if name not in CHECKED:
            continue
        try:
            installed = metadata.version(name)
        except metadata.PackageNotFoundError:
            raise UserError(f"{name} is not installed; run: pip install -r {requirements}") from None
        if Version(installed.split("+")[0]) < Version(floor):
            raise UserError(f"{name} {installed} is older than {floor}, the oldest this project runs with; "
                            f"run: pip install -r {requirements}")
