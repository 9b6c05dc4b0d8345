#!/usr/bin/env bash
# Train a chain of presets, each stage from the one before's weights (docs/models.md: the shipped models' rounds).
# Usage: scripts/train_chain.sh DATASET_PATH BACKGROUNDS RUN_DIR FROM PRESET [PRESET ...] [-- flags for every stage]
# FROM: the weights the first stage starts from (a checkpoint, a run folder, mmnet/weights/NAME.pt), or - for none.
# Stage K trains in RUN_DIR/K-PRESET; each stage resumes where it stopped, so the chain can be run again.
set -euo pipefail
usage="usage: $0 DATASET_PATH BACKGROUNDS RUN_DIR FROM|- PRESET [PRESET ...] [-- flags...]"
dataset=${1:?$usage} backgrounds=${2:?$usage} run=${3:?$usage} from=${4:?$usage}
shift 4
presets=()
while [ $# -gt 0 ] && [ "$1" != "--" ]; do presets+=("$1"); shift; done
[ $# -gt 0 ] && shift  # the --
[ ${#presets[@]} -gt 0 ] || { echo "$usage" >&2; exit 2; }
previous=$from
for k in "${!presets[@]}"; do
    stage="$run/$((k + 1))-${presets[$k]}"
    init=(); [ "$previous" != "-" ] && init=(--init-from "$previous")
    mmnet train --preset "${presets[$k]}" --train-dir "$stage" "${init[@]}" \
        --dataset-path "$dataset" --backgrounds "$backgrounds" "$@"
    previous=$stage
done
