"""airbench94 itself (its own fp16 recipe and CUDA-event timing) on the images airbench_data.py wrote:
its warm-up run on random labels, then N runs. Run from the folder holding cifar10/.

    python benchmarks/gpu/airbench_runs.py DIR_WITH_airbench94.py N
"""
import sys

import torch

sys.path.insert(0, sys.argv[1])
import airbench94 as ab  # noqa: E402

print(torch.cuda.get_device_name(), torch.__version__)
ab.print_columns(ab.logging_columns_list, is_head=True)
ab.main("warmup")
for run in range(int(sys.argv[2])):
    ab.main(run)  # prints its table; the 'eval' row holds tta_val_acc and total_time_seconds
