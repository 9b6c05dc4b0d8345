#!/usr/bin/env bash
# Our CPU recipe for the shipped models (docs/models.md): 128² with composites, then 256² from those weights.
# Usage: scripts/train_portrait.sh DATASET_PATH BACKGROUNDS RUN_DIR [model flags, e.g. --width-multiplier 0.5]
# RUN_DIR/128 is the 128-input model, RUN_DIR/256 the 256-input one. Each stage resumes where it stopped.
set -euo pipefail
dataset=${1:?usage: $0 DATASET_PATH BACKGROUNDS RUN_DIR [flags...]}
backgrounds=${2:?usage: $0 DATASET_PATH BACKGROUNDS RUN_DIR [flags...]}
run=${3:?usage: $0 DATASET_PATH BACKGROUNDS RUN_DIR [flags...]}
common=(--dataset-path "$dataset" --backgrounds "$backgrounds" "${@:4}")
mmnet train --preset portrait_128 --train-dir "$run/128" "${common[@]}"
mmnet train --preset portrait_256 --train-dir "$run/256" --init-from "$run/128" "${common[@]}"
