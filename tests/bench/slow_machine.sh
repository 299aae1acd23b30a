#!/bin/sh
# `make test` on a stand-in for a slower machine, in a clean clone of this repository (needs root and
# the cgroup v1 cpu controller at /sys/fs/cgroup/cpu).
#
#   tests/bench/slow_machine.sh          the vLLM processes held to QUOTA (default 1.1 CPU: decode of
#                                        the default model 5.4 tok/s here, against 13.7 free), the
#                                        tests at full speed
#   tests/bench/slow_machine.sh --all    the whole run held to QUOTA (default a third of one CPU)
#
# Prints make test's output and, last, "rc=... wall=...s" (the time after the install).
set -u
mode=${1:-server}
cg=/sys/fs/cgroup/cpu/harness-slow-$$
repo=$(cd "$(dirname "$0")/../.." && pwd)
mkdir "$cg" || exit 1
echo 100000 > "$cg/cpu.cfs_period_us"
clone=$(mktemp -d)
git clone -q "$repo" "$clone" && cd "$clone" && make install > /dev/null || exit 1
if [ "$mode" = --all ]; then
    echo "${QUOTA:-66667}" > "$cg/cpu.cfs_quota_us"
    echo $$ > "$cg/cgroup.procs"
else
    echo "${QUOTA:-110000}" > "$cg/cpu.cfs_quota_us"
    # Every vLLM process, as it appears (its children are born inside).
    ( while :; do for p in $(pgrep -f "vllm.entrypoints|EngineCore"); do echo "$p" > "$cg/cgroup.procs" 2>/dev/null; done
      sleep 0.5; done ) &
    watcher=$!
fi
start=$(date +%s)
make test
rc=$?
echo "rc=$rc wall=$(( $(date +%s) - start ))s"
[ "$mode" = --all ] || kill "$watcher"
echo $$ > /sys/fs/cgroup/cpu/cgroup.procs
rmdir "$cg" 2>/dev/null
rm -rf "$clone"
exit $rc
