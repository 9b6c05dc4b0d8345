#!/usr/bin/env bash
# On a lent GPU machine that has PyTorch and OpenCV but not this project's other dependencies: train the
# chains of scripts/train_gpu.sh (RECIPE, default real) within LIMIT seconds, then copy what they made to OUT.
# Usage: OUT=DIR scripts/train_gpu_remote.sh CARRY LIMIT [-- flags for every stage]
# CARRY: a folder with pack.tgz (`tar czf` of a `mmnet pack` folder named pack: one file travels better than
# thousands) and whl/ (wheels of what the machine lacks, e.g. pymatting). Run it again on the same machine to
# resume (RUN, default /tmp/run, keeps the stages). OUT gets each stage's last checkpoint, as
# <chain><stage>-<step>.pt, the stages' logs (logs.tgz) and train.log.
set -uo pipefail
usage="usage: OUT=DIR $0 CARRY LIMIT [-- flags...]"
carry=${1:?$usage} limit=${2:?$usage}; shift 2
out=${OUT:?$usage}; run=${RUN:-/tmp/run}
mkdir -p "$out" && out=$(cd "$out" && pwd)  # absolute: logs.tgz is written from inside $run
root=$(cd "$(dirname "$0")/.." && pwd)
tools=$run/.tools  # the wheels installed and an `mmnet` command that runs this checkout
shopt -s nullglob; wheels=("$carry"/whl/*.whl); shopt -u nullglob
[ ${#wheels[@]} -eq 0 ] || python3 -m pip install -q --no-index --no-deps --no-compile --target "$tools" "${wheels[@]}"
export PYTHONPATH=$tools:$root PYTHONUNBUFFERED=1 PATH=$tools/bin:$PATH
mkdir -p "$tools/bin" && printf '#!/bin/sh\nexec python3 -m mmnet.cli "$@"\n' >"$tools/bin/mmnet" && chmod +x "$tools/bin/mmnet"
[ -d "$carry/pack" ] || tar xzf "$carry/pack.tgz" -C "$carry"
{
  date; nproc; nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>/dev/null
  python3 -c 'import torch, cv2, numpy; print(torch.__version__, torch.cuda.is_available(), cv2.__version__, numpy.__version__)'
  timeout "$limit" "$root/scripts/train_gpu.sh" "$carry/pack" "$run" "$@"
  echo "train_gpu.sh exit $?"; date
} 2>&1 | tee "$out/train.log"
for stage in "$run"/*/*-gpu_*; do
  last=$(ls "$stage"/checkpoint-*.pt 2>/dev/null | tail -1)
  [ -n "$last" ] && cp "$last" "$out/$(basename "$(dirname "$stage")")$(basename "$stage" | cut -d- -f1)-$(basename "$last" .pt | cut -d- -f2).pt"
done
(cd "$run" && tar czf "$out/logs.tgz" */*/log.csv */*/finished 2>/dev/null)
ls -la "$out"
