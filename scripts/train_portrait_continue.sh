#!/usr/bin/env bash
# The second round of the shipped mmnet-1.0 models (docs/models.md): from a finished 256² model, 128² again
# for longer with fewer composites, then 256² from those weights, then briefly 128² from the new 256² model.
# Usage: scripts/train_portrait_continue.sh DATASET_PATH BACKGROUNDS RUN_DIR FROM [model flags]
# FROM: the finished model (a checkpoint, its run folder, or mmnet/weights/mmnet-1.0-256.pt). The new models are
# RUN_DIR/2-portrait_256_continue and RUN_DIR/3-portrait_128_from_256 (see scripts/train_chain.sh). FIRST_PRESET
# names the first stage's preset (default portrait_128_continue; the third round used portrait_128_aspect).
set -euo pipefail
usage="usage: $0 DATASET_PATH BACKGROUNDS RUN_DIR FROM [flags...]"
exec "$(dirname "$0")/train_chain.sh" "${1:?$usage}" "${2:?$usage}" "${3:?$usage}" "${4:?$usage}" \
    "${FIRST_PRESET:-portrait_128_continue}" portrait_256_continue portrait_128_from_256 -- "${@:5}"
