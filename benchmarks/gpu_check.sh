#!/usr/bin/env bash
# The first machine with a GPU proves the GPU paths in one command (minutes, not hours):
#
#   bash benchmarks/gpu_check.sh [SHARED_DIR]        # default ../shared
#
# Runs, each printing PASS/FAIL with its figures (test metric, samples/s, precision, processes):
#   1. one GPU, bf16: news and toxic (accelerate_configs/single_gpu.yaml)
#   2. every GPU, DDP, bf16: news and toxic (multi_gpu.yaml), when there are 2+ GPUs
#   3. FSDP2 with a full state dict: news (fsdp.yaml), then pipeline() on the saved model
#   4. DeepSpeed ZeRO-2: news (deepspeed_zero2.yaml), when deepspeed is installed
#   5. the throughput benchmark's GPU rows (ours vs the best plain Trainer; peaks of the native dtypes)
# Outputs go to ${GPU_CHECK_OUT:-outputs/gpu-check}; the summary is the last lines printed.
# Exit code: 0 when every check that could run passed, 1 when one failed, 2 when there is no GPU.
set -uo pipefail
cd "$(dirname "$0")/.."
SHARED="${1:-../shared}"
OUT="${GPU_CHECK_OUT:-outputs/gpu-check}"
MODEL="$SHARED/models/all-MiniLM-L6-v2"
NEWS="$SHARED/data/news/uci-news-aggregator.csv.gz"
TOXIC=("$SHARED/data/toxic/thesis_val.csv.gz" "$SHARED/data/toxic/thesis_test.csv.gz")

GPUS=$(python -c "import torch; print(torch.cuda.device_count() if torch.cuda.is_available() else 0)")
if [ "$GPUS" -eq 0 ]; then
  echo "gpu_check: no CUDA GPU visible to torch (torch.cuda.is_available() is False); nothing to check here" >&2
  exit 2
fi
mkdir -p "$OUT"
SUMMARY=()
FAILED=0

budget=(--model_name_or_path "$MODEL" --max_train_samples 8000 --max_eval_samples 2000 --max_predict_samples 5000
        --num_train_epochs 1 --learning_rate 1e-4 --per_device_train_batch_size 32 --per_device_eval_batch_size 128
        --save_strategy no --report_to none --disable_tqdm true --bf16 true --overwrite_output_dir true)

figures() {  # the figures of one run folder, from its results.json
  python - "$1" <<'EOF'
import json, sys
r = json.load(open(f"{sys.argv[1]}/results.json"))
primary = r["primary_metric"]
t = r["training"]
runtime = t.get("train_runtime") or float("nan")
rows = r["data"]["train_size"] * float(t["num_train_epochs"])
print(f"test {primary} {r['test_metrics'].get('test_' + primary, float('nan')):.4f}, "
      f"{rows / runtime:.0f} samples/s, bf16={t.get('bf16')}, processes={r.get('world_size')}")
EOF
}

check() {  # NAME CONFIG NUM_PROCESSES TASK DATA... : one launch, PASS/FAIL with figures
  local name=$1 config=$2 processes=$3 task=$4; shift 4
  local folder="$OUT/$name" log="$OUT/$name.log"
  if accelerate launch --config_file "accelerate_configs/$config" --num_processes "$processes" train.py \
      --task "$task" --data_files "$@" --output_dir "$folder" "${budget[@]}" >"$log" 2>&1 \
      && python -c "from transformers import pipeline; pipeline('text-classification', model='$folder')('a test')" \
      >>"$log" 2>&1; then
    SUMMARY+=("PASS $name: $(figures "$folder")")
  else
    SUMMARY+=("FAIL $name: see $log (last line: $(tail -n 1 "$log"))")
    FAILED=1
  fi
  echo "${SUMMARY[-1]}"
}

check single-gpu-news single_gpu.yaml 1 news "$NEWS" --split story
check single-gpu-toxic single_gpu.yaml 1 toxic "${TOXIC[@]}"
if [ "$GPUS" -ge 2 ]; then
  check ddp-news multi_gpu.yaml "$GPUS" news "$NEWS" --split story
  check ddp-toxic multi_gpu.yaml "$GPUS" toxic "${TOXIC[@]}"
  check fsdp-news fsdp.yaml "$GPUS" news "$NEWS" --split story
  if python -c "import deepspeed" 2>/dev/null; then
    check deepspeed-news deepspeed_zero2.yaml "$GPUS" news "$NEWS" --split story
  else
    SUMMARY+=("SKIP deepspeed-news: deepspeed is not installed (pip install deepspeed)")
  fi
else
  SUMMARY+=("SKIP ddp/fsdp/deepspeed: one GPU only")
fi

if python benchmarks/throughput.py --shared "$SHARED" --tasks news toxic --sections train infer \
    --configs plain-group ours --steps 10 --warmup 3 --repeats 3 >"$OUT/throughput.log" 2>&1; then
  SUMMARY+=("PASS throughput: $(grep -m1 -i 'x best Trainer' -A6 "$OUT/throughput.log" | tail -n +3 | tr '\n' ' ' | cut -c1-300)")
else
  SUMMARY+=("FAIL throughput: see $OUT/throughput.log")
  FAILED=1
fi

echo
echo "gpu_check on $(python -c "import torch; print(torch.cuda.get_device_name(0))") x $GPUS:"
printf '  %s\n' "${SUMMARY[@]}"
exit "$FAILED"
