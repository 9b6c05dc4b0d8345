#!/usr/bin/env bash
# The original's scripts/valid_mmnet_dm1.0_256.sh: score every checkpoint of TRAIN_DIR on the test split as training
# writes them (loop), keeping the best per metric; stops when training has finished.
# Usage: scripts/valid_mmnet_dm1.0_256.sh DATASET_PATH [TRAIN_DIR_OR_CHECKPOINT] [more mmnet evaluate flags]
set -euo pipefail
dataset=${1:?usage: $0 DATASET_PATH [TRAIN_DIR_OR_CHECKPOINT] [flags...]}
checkpoint=${2:-runs/mmnet_dm1.0_256}
exec mmnet evaluate --preset mmnet_dm1.0_256 --dataset-path "$dataset" --checkpoint-path "$checkpoint" --dataset-split-name test --batch-size 5 --loop "${@:3}"
