"""What the ablation measures: one row per suggestion of the assignment's task 2, each the flags
that change vgg_bn's defaults to it (experiments/ablation.py runs them, ablation_table.py tabulates).
A row added here is run by the next `python experiments/ablation.py` and is a row of its table."""

MODEL = "vgg_bn"
# (row, the assignment's suggestion it answers, train.py flags). The defaults are SGD + Nesterov at
# lr 0.2, weight decay 5e-4, label smoothing 0.1, warmup + linear decay, crop + flip, BatchNorm,
# four blocks of two 3x3 convs (32-256 wide) with max pooling, global max pool, one linear layer.
ROWS = [
    ("full", "the defaults", []),
    ("kernel_size5", "filter size: 5x5 instead of 3x3", ["--set", "kernel_size=5"]),
    ("width0.5", "number of filters: half (16-128)", ["--set", "width=0.5"]),
    ("stride", "strided convolutions instead of max pooling", ["--set", "downsample=stride"]),
    ("no_batchnorm", "no batch normalization", ["--set", "batchnorm=false"]),
    ("no_batchnorm_lr0.02", "no batch normalization, lr retuned to 0.02", ["--set", "batchnorm=false", "lr=0.02"]),
    ("one_conv", "(conv-relu-pool)xN: one conv per block", ["--set", "convs_per_block=1"]),
    ("three_blocks", "three blocks instead of four", ["--set", "blocks=3"]),
    ("dense2", "(affine)xM after the convs: two hidden layers of 512", ["--set", "dense_layers=2"]),
    ("pre_activation", "(batchnorm-relu-conv)xN", ["--set", "order=bn_relu_conv"]),
    ("no_weight_decay", "no L2 weight decay", ["--set", "weight_decay=0"]),
    ("dropout0.3", "dropout 0.3 before the classifier", ["--set", "dropout=0.3"]),
    ("block_dropout0.1", "dropout 0.1 after every block", ["--set", "block_dropout=0.1"]),
    ("xavier", "Xavier initialization", ["--set", "init=xavier"]),
    ("kaiming", "Kaiming initialization", ["--set", "init=kaiming"]),
    ("adam", "Adam (lr 1e-3) instead of SGD + Nesterov", ["--set", "optimizer=adam", "lr=0.001"]),
    ("adamw", "AdamW (lr 1e-3, decoupled weight decay 0.05)", ["--set", "optimizer=adamw", "lr=0.001", "weight_decay=0.05"]),
    ("no_schedule", "no schedule: a constant lr", ["--set", "schedule=none"]),
    ("onecycle", "one-cycle schedule", ["--set", "schedule=onecycle"]),
    ("cosine", "cosine schedule", ["--set", "schedule=cosine"]),
    ("no_label_smoothing", "no label smoothing", ["--set", "label_smoothing=0"]),
    ("no_augmentation", "no crop and flip", ["--no-augment"]),
    ("cutout16", "Cutout, 16 px", ["--set", "cutout=16"]),
    ("mixup0.2", "MixUp, alpha 0.2", ["--set", "mixup=0.2"]),
    ("cutmix1", "CutMix, alpha 1", ["--set", "cutmix=1"]),
]
NAMES = [name for name, _, _ in ROWS]
