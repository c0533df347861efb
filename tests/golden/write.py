"""The golden runs: commit 2803c54's tiny_runs (its tests/conftest.py) at THREADS torch threads, with
the keys of TEMPLATE (an existing golden file), written to OUT. Run in a checkout of 2803c54:

    git worktree add /tmp/old 2803c54 && cd /tmp/old && python /path/to/tests/golden/write.py 1 \
        /path/to/tests/golden/tiny_runs_2803c54.json /path/to/tests/golden/tiny_runs_2803c54_1thread.json

resnet18 runs at 64x64 (2803c54's UPSAMPLED constant set to 64; today's conftest gives it `--set upsample=64`):
its default 256 costs 20 s more a run and proves nothing the 64 run does not, but for the side, which
tests/test_resnet18.py checks. lenet's, vgg_bn's and resnet9's entries were rewritten to the last bit
(checked 2026-12-06, at 1 and 2 threads)."""
import json
import sys
import tempfile
from pathlib import Path
import torch
threads, template, out = int(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
torch.set_num_threads(threads)
sys.path.insert(0, "tests")
sys.path.insert(0, ".")
import conftest  # noqa: E402
import train  # noqa: E402
from lit_modules import MODELS  # noqa: E402
tmp = Path(tempfile.mkdtemp())
data = conftest.write_folder_tree(tmp / "data")
logdir = tmp / "runs"
old = json.loads(template.read_text())["runs"]
keys = {name: list(run["epochs"][0]) for name, run in old.items()}
import lit_modules.resnet18  # noqa: E402

lit_modules.resnet18.UPSAMPLED = 64  # read when the network is built
runs, device = {}, None
for name in MODELS:
    assert train.main(["--model", name, "--gpus", "0", "--epochs", "2", "--batch-size", "50", "--val-size", "20",
                       "--data-dir", str(data), "--logdir", str(logdir), *conftest.offline_args(name)]) == 0
    rec = json.loads((logdir / name / "version_0" / "metrics.json").read_text())
    device = rec["device"]
    runs[name] = {"epochs": [{k: e[k] for k in keys[name]} for e in rec["epochs"]],
                  "final": {k: rec["final"][k] for k in old[name]["final"]}}
out.write_text(json.dumps({"runs": runs, "device": device, "torch": torch.__version__}, indent=1))
print(device, list(runs))
