#!/usr/bin/env bash
# Train on a GPU from a `mmnet pack` folder: the real-photos recipe (the gpu_real_* presets; RECIPE=scenes for the
# everyday-composites recipe of rounds 7-9, the gpu_scenes_* presets).
# Usage: [RECIPE=real|scenes] scripts/train_gpu.sh PACK OUT_DIR [FROM] [-- flags for every stage]
# PACK: made by `mmnet pack` (its first set is --dataset-path, the others --add-dataset, and its backgrounds/).
# FROM: the weights the first stage starts from (default: the shipped mmnet/weights/mmnet-1.0-256.pt; - for none).
# Chains, most wanted first, so that a run cut short still leaves whole models. RECIPE=real (the default):
#   OUT_DIR/a: 1-gpu_real_256                                               (mmnet-1.0-256: a/1)
#   OUT_DIR/b: from a/1, 1-gpu_real_128_from_256                            (mmnet-1.0-128: b/1)
# RECIPE=scenes:
#   OUT_DIR/a: 1-gpu_scenes_128 -> 2-gpu_scenes_256                        (mmnet-1.0-256: a/2)
#   OUT_DIR/b: from a/2, 1-gpu_scenes_128_from_256 -> 2-gpu_scenes_128_freeze_bn   (mmnet-1.0-128: b/2)
#   OUT_DIR/c: from a/2, 1-gpu_scenes_256_freeze_bn                       (a candidate for mmnet-1.0-256)
# Each stage resumes where it stopped, so the script can be run again.
# On a CPU, shrink it: -- --max-steps 2 --batch-size 4 --device cpu
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
chain() {  # RUN_DIR FROM PRESET...
    "$here/train_chain.sh" "$pack/${sets[0]}" "$pack/backgrounds" "$@" -- "${more[@]}" "${flags[@]}"
    echo "train_gpu.sh: $1 done after $(( $(date +%s) - started )) s"
}
flags=("$@")
started=$(date +%s)
case ${RECIPE:-real} in
  real)
    chain "$out/a" "$from" gpu_real_256
    chain "$out/b" "$out/a/1-gpu_real_256" gpu_real_128_from_256
    echo "train_gpu.sh: mmnet-1.0-256: $out/a/1-gpu_real_256, mmnet-1.0-128: $out/b/1-gpu_real_128_from_256" ;;
  scenes)
    chain "$out/a" "$from" gpu_scenes_128 gpu_scenes_256
    chain "$out/b" "$out/a/2-gpu_scenes_256" gpu_scenes_128_from_256 gpu_scenes_128_freeze_bn
    chain "$out/c" "$out/a/2-gpu_scenes_256" gpu_scenes_256_freeze_bn
    echo "train_gpu.sh: mmnet-1.0-256: $out/a/2-gpu_scenes_256 (or $out/c/1-gpu_scenes_256_freeze_bn)," \
        "mmnet-1.0-128: $out/b/2-gpu_scenes_128_freeze_bn" ;;
  *) echo "$0: RECIPE must be real or scenes, got ${RECIPE}" >&2; exit 2 ;;
esac
