#!/usr/bin/env bash
# The original's scripts/train_mmnet_dm1.0_256.sh: mmnet_dm1.0_256 with the reference's recipe (Adam, lr 1e-4, batch 32,
# every loss weight 1, weight decay 4e-7, a checkpoint every 500 steps keeping 3, 30000 epochs).
# Usage: scripts/train_mmnet_dm1.0_256.sh DATASET_PATH [TRAIN_DIR] [more mmnet train flags, e.g. --max-steps 300]
set -euo pipefail
dataset=${1:?usage: $0 DATASET_PATH [TRAIN_DIR] [flags...]}
train_dir=${2:-runs/mmnet_dm1.0_256}
exec mmnet train --preset mmnet_dm1.0_256 --dataset-path "$dataset" --train-dir "$train_dir" --dataset-split-name train "${@:3}"
