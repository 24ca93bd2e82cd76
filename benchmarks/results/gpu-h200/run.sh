#!/bin/bash
# The runs behind benchmarks/results/gpu-h200, made in one lease of an NVIDIA H200 with
# 15 minutes of device time in all: `bash run.sh 1`, then at once `bash run.sh 2`. Each
# step is a bench run cut short (SIGINT: it still writes what it measured) when its time
# is up, so that the call as a whole ends inside its limit. Everything lands in
# $OUT/h200.tgz (results.json, summary.md, results.png and a log per step, and the tuning
# cache) after every step.
set -u
part=${1:-1}
limit=${2:-570}  # seconds for this call, setup included
export PYTHONPATH=src PYTHONUNBUFFERED=1
export JAXCONV_CACHE_DIR=/tmp/jaxconv-cache  # the tune cache, kept between the two calls
export JAX_COMPILATION_CACHE_DIR=/tmp/jax-cache JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS=0
R=/tmp/res
mkdir -p "$R"
start=$(date +%s)
pack() { cp -r "$JAXCONV_CACHE_DIR" "$R/tune-cache" 2>/dev/null; tar czf "$OUT/h200.tgz" -C "$R" .; }
step() {  # step NAME SECONDS BENCH-ARGS...
  local name=$1 want=$2 left
  shift 2
  left=$((start + limit - $(date +%s) - 25))
  ((left < 20)) && { echo "== $name: skipped, ${left}s left"; return; }
  ((want > left)) && want=$left
  echo "== $name (${want}s) at $(($(date +%s) - start))s"
  timeout -s INT -k 20 "$want" python3 -m jaxconv bench "$@" --devices "${DEV:-gpu}" --out "$R/$name" \
    >"$R/$name.log" 2>&1
  echo "   rc=$? at $(($(date +%s) - start))s"
  grep -E "^auto:|^matmul peak|^interrupted|VERIFICATION|Error" "$R/$name.log" | head -5
  pack
}
if [ "$part" = 1 ]; then
  nvidia-smi -L
  python3 -c "import jax, flax; print('jax', jax.__version__, 'flax', flax.__version__, jax.devices())"
  step full-auto-f32 160 --suite full --dtype float32 --layout NHWC --reps 5 --budget 0.3
  step models-auto-f32 60 --suite models --dtype float32 --reps 10
  step models-tune-f32 80 --suite models --dtype float32 --reps 10 --strategy tune --layout NHWC
  step sweep-fwd 140 --suite random --strategy all --direction fwd --dtype float32 --reps 5 --budget 0.2
  step full-auto-bf16 80 --suite full --dtype bfloat16 --layout NHWC --reps 5 --budget 0.3
  step large 40 --suite large --dtype float32
else
  step full-tune-f32 90 --suite full --dtype float32 --layout NHWC --reps 5 --budget 0.3 --strategy tune
  step sweep-fwd-2 100 --suite random --strategy all --direction fwd --dtype float32 --reps 5 --budget 0.2 --slice 262:672
  step models-auto-bf16 50 --suite models --dtype bfloat16 --reps 10
fi
echo "== done at $(($(date +%s) - start))s"
