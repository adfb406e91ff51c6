#!/usr/bin/env bash
# Starts a ringtune job over ssh: `scripts/launch-cluster.sh HOSTFILE [run options]`.
#
# HOSTFILE has one `host slots` line per machine (# comments and blank lines allowed). Every slot
# is one task of `ringtune run`: tasks are numbered in file order, the first task of the first host
# is rank 0 (the coordinator and a worker), and the local rank (the GPU) counts slots per host.
# The run options are the same as `ringtune launch` (--data, --epochs, --out ...); paths in them
# must mean the same on every host (a shared file system, or the same copy everywhere).
#
# Each task's output goes to OUT/logs/rank-R.log on this machine (OUT = --out, runs/latest by
# default); rank 0's log is also shown here. Ctrl-C or SIGTERM stops every task. When one task
# fails, every other task is stopped and the script exits non-zero.
#
# Every task authenticates with the job's CURVE key: RINGTUNE_KEY_FILE when given (a file made by
# `ringtune keygen`, at the same path on every host), else a fresh key written to OUT/job.key
# (mode 600, on the shared file system) and removed when the script ends.
#
# Environment:
#   RINGTUNE_KEY_FILE  the job key on every host (default: a fresh OUT/job.key)
#   RINGTUNE_SSH   the ssh command (default: ssh -o BatchMode=yes); e.g. add -i KEY -p PORT
#   RINGTUNE_NODE  node on the remote hosts (default: node)
#   RINGTUNE_CLI   ringtune's cli.js on the remote hosts (default: this checkout's dist/cli/main.js)
#   RINGTUNE_CWD   folder the tasks run in (default: the current folder)
#   MASTER_PORT    the coordinator's TCP port on the first host (default: 29500)
set -uo pipefail

usage() { echo "usage: $0 HOSTFILE [run options]   (HOSTFILE: one 'host slots' line per machine)" >&2; exit 2; }
[ $# -ge 1 ] || usage
hostfile=$1; shift
[ -r "$hostfile" ] || { echo "launch-cluster: cannot read the hostfile '$hostfile'" >&2; exit 2; }

here=$(cd "$(dirname "$0")/.." && pwd)
read -r -a ssh_cmd <<< "${RINGTUNE_SSH:-ssh -o BatchMode=yes}"
node_bin=${RINGTUNE_NODE:-node}
cli=${RINGTUNE_CLI:-$here/dist/cli/main.js}
cwd=${RINGTUNE_CWD:-$PWD}
port=${MASTER_PORT:-29500}

hosts=(); slots=()
lineno=0
while IFS= read -r line || [ -n "$line" ]; do
  lineno=$((lineno + 1))
  line=${line%%#*}
  read -r h s extra <<< "$line"
  [ -z "${h:-}" ] && continue
  if [ -z "${s:-}" ] || ! [[ $s =~ ^[1-9][0-9]*$ ]] || [ -n "${extra:-}" ]; then
    echo "launch-cluster: $hostfile line $lineno: expected 'host slots' with slots a whole number >= 1, got '$line'" >&2; exit 2
  fi
  hosts+=("$h"); slots+=("$s")
done < "$hostfile"
[ ${#hosts[@]} -gt 0 ] || { echo "launch-cluster: $hostfile names no host" >&2; exit 2; }
world=0; for s in "${slots[@]}"; do world=$((world + s)); done
master=${hosts[0]}

out=runs/latest
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do
  case ${args[i]} in
    --out) out=${args[i + 1]:-$out} ;;
    --out=*) out=${args[i]#--out=} ;;
  esac
done
[[ $out = /* ]] || out=$cwd/$out
logs=$out/logs
mkdir -p "$logs" || { echo "launch-cluster: cannot create $logs" >&2; exit 1; }

made_key=
if [ -n "${RINGTUNE_KEY_FILE:-}" ]; then
  key=$RINGTUNE_KEY_FILE
else
  key=$out/job.key
  rm -f "$key"
  (umask 077 && node "$here/dist/cli/main.js" keygen "$key" >/dev/null) || {
    echo "launch-cluster: cannot make a job key at $key; make one with 'ringtune keygen FILE' on the shared file system and set RINGTUNE_KEY_FILE=FILE" >&2
    exit 1
  }
  made_key=$key
  echo "launch-cluster: made a job key $key (mode 600): every task authenticates and encrypts with it (CURVE)" >&2
fi

q() { printf '%q ' "$@"; }
# Remote side: run the task, and stop it when the ssh connection goes away (stdin closes), so
# that killing the local ssh client stops the remote task too.
remote_task() {
  local task
  task="cd $(q "$cwd") && exec 3<&0 && { RINGTUNE_KEY_FILE=$(q "$key") $(q "$node_bin" "$cli" run "$@") </dev/null 3<&- & p=\$!; { cat <&3; kill -TERM \$p; } >/dev/null 2>&1 & w=\$!; exec 3<&-; wait \$p; s=\$?; kill \$w 2>/dev/null; exit \$s; }"
  printf '%s' "$task"
}
is_ip() { [[ $1 =~ ^[0-9]+(\.[0-9]+){3}$ || $1 == *:* ]]; }

# Every ssh client reads this fifo, which only this script holds open for writing: when the script
# dies, even by SIGKILL, every client's stdin closes and the remote tasks stop.
keep=$(mktemp -u "${TMPDIR:-/tmp}/ringtune-launch.XXXXXX")
mkfifo -m 600 "$keep" && exec 9<>"$keep" && rm -f "$keep"

declare -A rank_of host_of
pids=()
rank=0
for ((i = 0; i < ${#hosts[@]}; i++)); do
  h=${hosts[i]}
  for ((l = 0; l < ${slots[i]}; l++)); do
    flags=(--rank "$rank" --world "$world" --local-rank "$l" --master-addr "$master" --master-port "$port")
    is_ip "$h" && flags+=(--host "$h")
    "${ssh_cmd[@]}" "$h" "$(remote_task "${flags[@]}" "${args[@]}")" <&9 9>&- >"$logs/rank-$rank.log" 2>&1 &
    pids+=($!); rank_of[$!]=$rank; host_of[$!]=$h
    rank=$((rank + 1))
  done
done
echo "launch-cluster: $world task(s) on ${#hosts[@]} host(s), coordinator on $master:$port, logs in $logs" >&2
tail -n +1 -F "$logs/rank-0.log" 2>/dev/null &
tail_pid=$!

stopping=0
teardown() {
  stopping=1
  local alive=()
  for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && alive+=("$p"); done
  [ ${#alive[@]} -gt 0 ] && kill -TERM "${alive[@]}" 2>/dev/null
  for _ in $(seq 50); do
    local any=0
    for p in "${alive[@]}"; do kill -0 "$p" 2>/dev/null && any=1; done
    [ $any = 0 ] && break
    sleep 0.1
  done
  for p in "${alive[@]}"; do kill -KILL "$p" 2>/dev/null; done
  exec 9>&-
}
finish() {
  sleep 0.2; kill "$tail_pid" 2>/dev/null; wait "$tail_pid" 2>/dev/null
  [ -n "$made_key" ] && rm -f "$made_key"
  exit "$1"
}
on_signal() {
  echo "launch-cluster: interrupted by $1; stopping every task" >&2
  teardown; finish "$2"
}
trap 'on_signal SIGINT 130' INT
trap 'on_signal SIGTERM 143' TERM

live=("${pids[@]}")
while [ ${#live[@]} -gt 0 ]; do
  done_pid=
  wait -n -p done_pid "${live[@]}"
  status=$?
  [ -z "$done_pid" ] && continue
  next=(); for p in "${live[@]}"; do [ "$p" != "$done_pid" ] && next+=("$p"); done; live=("${next[@]}")
  if [ "$status" -ne 0 ] && [ $stopping = 0 ]; then
    r=${rank_of[$done_pid]}
    echo "launch-cluster: rank $r on ${host_of[$done_pid]} exited with status $status (log: $logs/rank-$r.log); stopping every other task" >&2
    teardown
    finish 1
  fi
done
echo "launch-cluster: all $world task(s) finished; logs in $logs" >&2
exec 9>&-
finish 0
