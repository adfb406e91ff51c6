#!/usr/bin/env bash
# The GPU checks of issue 4, prepared here and run on a GPU host in one call.
#
#   bash scripts/gpu-check.sh pack     # here (needs npm install done, esbuild installed): builds .gpu/
#   bash scripts/gpu-check.sh host     # on the GPU host, from the project root, with .gpu/ carried
#
# pack: two single-file bundles made by ../shared/tools/pack-for-gpu-host (each entry is ONE esbuild
# bundle, so bench:gpu runs its variants by re-running its own bundle, and the CLI's launcher by
# re-running the CLI bundle): .gpu/ = bench:gpu (`bash .gpu/run.sh [bench args]`), .gpu/cli/ = the
# ringtune CLI (`bash .gpu/cli/run.sh launch ...`), sharing node and the Vulkan loader by symlink;
# plus .gpu/data, a small MNIST image folder. .gpu/ is git-ignored (see .gitignore).
#
# host: numerics (one step's gradients on webgpu vs the cpu backend, ringtune and stock kernels,
# judged by Note [gradient agreement]), the audit (threads, FLOPs and bytes per kernel of one step;
# dispatches, read-backs and uploads per step; stock vs ringtune), bench:gpu (small CNN and
# mobilenet_v2, stock vs ringtune, PyTorch on the same GPU), then a
# 2-worker fine_tune with both workers on GPU 0's adapter (`launch --gpus 0,0 --backend webgpu`).
# Logs and a summary go to $OUT (or ./gpu-check-out); GPU_CHECK_BENCH_ARGS adds bench:gpu flags
# (e.g. smaller nets for a dry run on Dawn's null device: RINGTUNE_DAWN_FLAGS=backend=null). With the device tool:
#   run(command: "bash scripts/gpu-check.sh host", carry: [".gpu"], timeout_s: 600)
set -uo pipefail
mode=${1:-}
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

pack() {
  set -e
  # The packing tool sits in a shared/tools folder beside the checkout (or a worktree's parent); PACK_TOOL overrides.
  local tool=${PACK_TOOL:-}
  for d in "$root/.." "$root/../.."; do [ -n "$tool" ] || [ ! -f "$d/shared/tools/pack-for-gpu-host" ] || tool="$d/shared/tools/pack-for-gpu-host"; done
  [ -n "$tool" ] && [ -f "$tool" ] || { echo "gpu-check: pack-for-gpu-host not found in ../shared/tools or ../../shared/tools (set PACK_TOOL)" >&2; exit 2; }
  npx tsc -p . >/dev/null || true # dist/ for prepare-data; bundles are built from the sources
  bash "$tool" scripts/bench-gpu.ts .gpu
  bash "$tool" cli/main.ts .gpu/cli
  # One run-time lookup a single bundle cannot satisfy by itself: the worker's heartbeat thread
  # require()s msgpackr by path (the bundle inlines it: put the package beside the bundle).
  local tmp; tmp=$(mktemp -d)
  tar -C "$tmp" -xJf .gpu/cli/app.tar.xz
  cp -r node_modules/msgpackr "$tmp/app/node_modules/"
  XZ_OPT=-6T0 tar -C "$tmp" -cJf .gpu/cli/app.tar.xz app
  rm -rf "$tmp"
  # One copy of node and of the Vulkan loader debs.
  rm -rf .gpu/cli/node.xz .gpu/cli/gl
  ln -s ../node.xz .gpu/cli/node.xz
  ln -s ../gl .gpu/cli/gl
  node dist/scripts/prepare-data.js --dataset mnist --out .gpu/data --limit 60 >/dev/null
  echo "gpu-check: packed $(du -sLm .gpu | cut -f1) MiB under .gpu (carry: [\".gpu\"]); on the GPU host: bash scripts/gpu-check.sh host"
}

host() {
  local out=${OUT:-$root/gpu-check-out}
  mkdir -p "$out"
  [ -f .gpu/run.sh ] && [ -f .gpu/cli/run.sh ] || { echo "gpu-check: .gpu/ is missing: run 'bash scripts/gpu-check.sh pack' here and carry .gpu" >&2; exit 2; }
  mkdir -p /tmp/rt-bench /tmp/rt-cli # each run.sh unpacks node and its app under its own TMPDIR
  local summary=$out/summary.txt
  : > "$summary"
  note() { echo "$*" | tee -a "$summary"; }
  note "gpu-check $(date -u +%FT%TZ) on $(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader 2>/dev/null | head -1)"

  TMPDIR=/tmp/rt-bench timeout 180 bash .gpu/run.sh --check > "$out/numerics.log" 2>&1
  note "numerics (exit $?):"; grep -E '^(numerics|no GPU)' "$out/numerics.log" | tee -a "$summary"

  TMPDIR=/tmp/rt-bench timeout 90 bash .gpu/run.sh --audit --warmup 1 > "$out/audit.log" 2>&1
  note "audit (exit $?):"; grep -E '^(\||goal|one training|no GPU)|batch [0-9]+ \(' "$out/audit.log" | tee -a "$summary"

  TMPDIR=/tmp/rt-bench timeout 210 bash .gpu/run.sh --steps 6 --warmup 2 --json "$out/bench-gpu.json" ${GPU_CHECK_BENCH_ARGS:-} > "$out/bench-gpu.log" 2>&1
  note "bench:gpu (exit $?):"; grep -vE '^(Warning|    at |$)' "$out/bench-gpu.log" | grep -E '^\||^[a-z].*(batch|img/s)|^- |^PyTorch|^no GPU|failed|^where' | tee -a "$summary"

  local data=$root/.gpu/data run=/tmp/rt-run
  rm -rf "$run"
  TMPDIR=/tmp/rt-cli timeout 100 bash .gpu/cli/run.sh launch --gpus 0,0 --backend webgpu --data "$data" --size 32 --bs 32 \
    --freeze-epochs 1 --epochs 1 --arch resnet-small --no-pretrained --no-flip --out "$run" > "$out/fine-tune.log" 2>&1
  local code=$?
  note "fine_tune, 2 workers on GPU 0 (launch --gpus 0,0 --backend webgpu), exit $code:"
  grep -E 'backend|worker\(s\)|^[0-9]+ |epoch|fine_tune|diverged|error|Error' "$out/fine-tune.log" | head -30 | tee -a "$summary"
  [ -f "$run/metrics.jsonl" ] && cp "$run/metrics.jsonl" "$out/"
  if [ $code -ne 0 ]; then
    rm -rf "$run"
    TMPDIR=/tmp/rt-cli timeout 60 bash .gpu/cli/run.sh launch --gpus 0,0 --backend webgpu --data "$data" --size 32 --bs 32 \
      --freeze-epochs 1 --epochs 0 --arch resnet-small --no-pretrained --no-flip --out "$run" > "$out/fine-tune-frozen.log" 2>&1
    note "frozen phase only (--epochs 0), exit $?:"
    grep -E 'worker\(s\)|^[0-9]+ |epoch|diverged|error|Error' "$out/fine-tune-frozen.log" | head -12 | tee -a "$summary"
  fi
}

case "$mode" in
  pack) pack ;;
  host) host ;;
  *) echo "usage: bash scripts/gpu-check.sh pack|host" >&2; exit 2 ;;
esac
