#!/usr/bin/env bash
# Makes the job key of the ringtune Job as the Kubernetes Secret `ringtune-key` (key job.key), unless
# it exists: `scripts/k8s/job-key.sh [NAMESPACE]`. The key is made by `ringtune keygen` in a private
# temporary folder and removed from this machine once the Secret holds it.
# Environment: RINGTUNE (the command, default: ringtune if on PATH, else node dist/cli/main.js
# of this checkout), KUBECTL (default: kubectl).
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
read -r -a kubectl <<< "${KUBECTL:-kubectl}"
[ $# -ge 1 ] && kubectl+=(--namespace "$1")
if [ -n "${RINGTUNE:-}" ]; then read -r -a ringtune <<< "$RINGTUNE"
elif command -v ringtune >/dev/null; then ringtune=(ringtune)
else ringtune=(node "$here/dist/cli/main.js")
fi

if "${kubectl[@]}" get secret ringtune-key >/dev/null 2>&1; then
  echo "job-key: the Secret ringtune-key exists; the Job uses it (delete it to make a new key)" >&2
  exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"${ringtune[@]}" keygen "$tmp/job.key" >/dev/null
"${kubectl[@]}" create secret generic ringtune-key --from-file=job.key="$tmp/job.key" >/dev/null
echo "job-key: made the Secret ringtune-key; every pod of the Job mounts it as /etc/ringtune/job.key" >&2
