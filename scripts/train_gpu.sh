#!/usr/bin/env bash
# Train the full everyday-photos recipe (the gpu_scenes_* chain) on a GPU from a `mmnet pack` folder.
# Usage: scripts/train_gpu.sh PACK OUT_DIR [FROM] [-- flags for every stage]
# PACK: made by `mmnet pack` (its first set is --dataset-path, the others --add-dataset, and its backgrounds/).
# FROM: the weights the first stage starts from (default: the shipped mmnet/weights/mmnet-1.0-256.pt; - for none).
# Checkpoints: OUT_DIR/K-gpu_scenes_*; mmnet-1.0-256 is stage 3's, mmnet-1.0-128 stage 5's. Each stage resumes
# where it stopped, so the script can be run again. On a CPU, shrink it: -- --max-steps 2 --batch-size 4 --device cpu
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
usage="usage: $0 PACK OUT_DIR [FROM|-] [-- flags...]"
pack=${1:?$usage} out=${2:?$usage}
shift 2
from="$here/../mmnet/weights/mmnet-1.0-256.pt"
if [ $# -gt 0 ] && [ "$1" != "--" ]; then from=$1; shift; fi
[ $# -gt 0 ] && { [ "$1" = "--" ] || { echo "$usage" >&2; exit 2; }; shift; }
[ -f "$pack/pack.json" ] || { echo "$pack: not a pack (no pack.json; make one with mmnet pack)" >&2; exit 2; }
mapfile -t sets < <(python3 -c 'import json, sys; [print(s["name"]) for s in json.load(open(sys.argv[1]))["sets"]]' \
    "$pack/pack.json")
more=(); for name in "${sets[@]:1}"; do more+=(--add-dataset "$pack/$name"); done
started=$(date +%s)
"$here/train_chain.sh" "$pack/${sets[0]}" "$pack/backgrounds" "$out" "$from" \
    gpu_scenes_128 gpu_scenes_256 gpu_scenes_256_freeze_bn gpu_scenes_128_from_256 gpu_scenes_128_freeze_bn \
    -- "${more[@]}" "$@"
echo "train_gpu.sh: the chain took $(( $(date +%s) - started )) s; mmnet-1.0-256: $out/3-gpu_scenes_256_freeze_bn," \
    "mmnet-1.0-128: $out/5-gpu_scenes_128_freeze_bn"
