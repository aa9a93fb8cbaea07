#!/usr/bin/env bash
# A rank that aborts must end the whole job with a non-zero exit within 30 s.
# Usage: abort_test.sh MPIEXEC NP PROBE
set -u
mpiexec="$1"; np="$2"; probe="$3"
start=$(date +%s)
timeout 60 "$mpiexec" -np "$np" --oversubscribe "$probe" >/tmp/mpimoe-abort-probe.$$.log 2>&1
code=$?
elapsed=$(( $(date +%s) - start ))
grep -q "CHECK failed at .*abort_probe.cc" /tmp/mpimoe-abort-probe.$$.log; saw_check=$?
tail -5 /tmp/mpimoe-abort-probe.$$.log
rm -f /tmp/mpimoe-abort-probe.$$.log
echo "abort test: exit code $code after ${elapsed}s"
if [ "$code" -eq 0 ]; then echo "FAIL: the job exited 0"; exit 1; fi
if [ "$code" -eq 124 ]; then echo "FAIL: the job hung (killed by timeout)"; exit 1; fi
if [ "$elapsed" -gt 30 ]; then echo "FAIL: took ${elapsed}s (> 30 s)"; exit 1; fi
if [ "$saw_check" -ne 0 ]; then echo "FAIL: the failing rank's check message is missing"; exit 1; fi
echo "PASS"
