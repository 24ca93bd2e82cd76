#!/bin/bash
# The runs behind benchmarks/results/gpu-h200-2026-12-04, made in one call on an NVIDIA H200
# (`bash benchmarks/results/gpu-h200-2026-12-04/run.sh 560` from the repository root): the
# model suite's two networks the 2026-11-30 lease never reached, with auto, then a fresh
# draw of held-out layers timed with every strategy forward (data to check rules for `gpu`
# on layers none were fitted on). Each step is a bench run cut short with SIGINT when its
# share of the time is up (it still writes the records it measured); everything lands in
# $OUT/h200.tgz after every step.
set -u
limit=${1:-560}  # seconds for the whole call
export PYTHONPATH=src PYTHONUNBUFFERED=1
R=/tmp/res
mkdir -p "$R"
start=$(date +%s)
step() {  # step NAME SECONDS BENCH-ARGS...
  local name=$1 want=$2 left
  shift 2
  left=$((start + limit - $(date +%s) - 20))
  ((left < 20)) && { echo "== $name: skipped, ${left}s left"; return; }
  ((want > left)) && want=$left
  echo "== $name (${want}s) at $(($(date +%s) - start))s"
  timeout -s INT -k 15 "$want" python3 -m jaxconv bench "$@" --devices gpu --out "$R/$name" \
    >"$R/$name.log" 2>&1
  echo "   rc=$? at $(($(date +%s) - start))s"
  grep -E "^auto:|^matmul peak|^interrupted|\] models|VERIFICATION|Error" "$R/$name.log" | head -8
  tar czf "$OUT/h200.tgz" -C "$R" .
}
nvidia-smi -L
python3 -c "import jax, flax; print('jax', jax.__version__, 'flax', flax.__version__, jax.devices())"
step models-auto-f32 210 --suite models --match 'mobilenetv2|unet' --dtype float32 --reps 10
step heldout-5001-fwd 600 --suite random-heldout --seed 5001 --strategy all --direction fwd \
  --dtype float32 --layout NHWC,NCHW --reps 5 --budget 0.2
echo "== done at $(($(date +%s) - start))s"
# The second call, at once after the first (the machine still warm), ran in the same way:
#   bench --suite models --dtype bfloat16 --reps 10                          (130 s: models-auto-bf16)
#   bench --suite models --match 'mobilenetv2|unet' --strategy tune --reps 10  (170 s: models-tune-f32)
