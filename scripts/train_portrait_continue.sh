#!/usr/bin/env bash
# The second round of the shipped mmnet-1.0 models (docs/models.md): from a finished 256² model, 128² again
# for longer with fewer composites, then 256² from those weights, then briefly 128² from the new 256² model.
# Usage: scripts/train_portrait_continue.sh DATASET_PATH BACKGROUNDS RUN_DIR FROM [model flags]
# FROM: the finished model (a checkpoint, its run folder, or mmnet/weights/mmnet-1.0-256.pt). RUN_DIR/256 and
# RUN_DIR/128-from-256 are the two new models. Each stage resumes where it stopped. FIRST_PRESET names the
# first stage's preset (default portrait_128_continue; the third round used portrait_128_aspect).
set -euo pipefail
dataset=${1:?usage: $0 DATASET_PATH BACKGROUNDS RUN_DIR FROM [flags...]}
backgrounds=${2:?usage: $0 DATASET_PATH BACKGROUNDS RUN_DIR FROM [flags...]}
run=${3:?usage: $0 DATASET_PATH BACKGROUNDS RUN_DIR FROM [flags...]}
from=${4:?usage: $0 DATASET_PATH BACKGROUNDS RUN_DIR FROM [flags...]}
common=(--dataset-path "$dataset" --backgrounds "$backgrounds" "${@:5}")
mmnet train --preset "${FIRST_PRESET:-portrait_128_continue}" --train-dir "$run/128" --init-from "$from" "${common[@]}"
mmnet train --preset "${SECOND_PRESET:-portrait_256_continue}" --train-dir "$run/256" --init-from "$run/128" "${common[@]}"
mmnet train --preset "${THIRD_PRESET:-portrait_128_from_256}" --train-dir "$run/128-from-256" --init-from "$run/256" "${common[@]}"
