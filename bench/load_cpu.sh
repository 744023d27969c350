#!/usr/bin/env bash
# bench/load_cpu.sh: the CPU a request of two builds' `sim load` against
# wrk's, interleaved on one lab of the example (a shared machine changes
# from one minute to the next: compare within a round, as ratios).
#
#   sudo bench/load_cpu.sh OLD_VIFGATE NEW_VIFGATE
#
# Each of ROUNDS (default 3) rounds: wrk -t1 -c10 closed loop for SECS
# (default 5) from the internet node, then OLD's and NEW's `sim load
# --clients 10` at each of RATES (default "500 1000") and at the rate wrk
# got; `perf stat -e task-clock,context-switches` of each tool (sim load's
# includes its start, 5 to 8 ms). Prints per run: answers, errors, CPU ms,
# µs of CPU and context switches a request, p50/p99 latency and (NEW only,
# when it reports it) how late its sends left.
set -Eeuo pipefail
[[ $# == 2 ]] || { sed -n '2,14p' "$0"; exit 2; }
OLD=$1 NEW=$2
RATES=${RATES:-"500 1000"}; ROUNDS=${ROUNDS:-3}; SECS=${SECS:-5}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
LAB=lc$(($$ % 100000))
OUT=$(mktemp -d "/tmp/vifgate-load-cpu-$LAB.XXXX")
trap '"$NEW" sim down "$LAB" >/dev/null 2>&1 || true' EXIT INT TERM
"$NEW" sim up "$ROOT/examples/yeohaengjigi.toml" --lab "$LAB" >/dev/null
echo "lab $LAB up; load $(cut -d' ' -f1-3 /proc/loadavg)"
stat_line() { # tool rate file.perf file.out
  python3 - "$@" <<'PY'
import re, sys, json
tool, rate, perf, out = sys.argv[1:5]
t = open(perf).read()
clock = float(re.search(r"([\d.,]+)\s+msec task-clock", t).group(1).replace(",", ""))
cs = int(re.search(r"([\d,]+)\s+context-switches", t).group(1).replace(",", ""))
o = open(out).read()
if tool == "wrk":
    n = int(re.search(r"(\d+) requests in", o).group(1)); late = "-"
    p50 = re.search(r" 50%\s+(\S+)", o).group(1); p99 = re.search(r" 99%\s+(\S+)", o).group(1); err = 0
else:
    s = json.loads(o.strip().splitlines()[-1])["summary"]
    n = s["ok"]; err = sum(s["errors"].values()) + s["unanswered"]
    l = s.get("latency") or {}; p50 = l.get("p50_ms"); p99 = l.get("p99_ms")
    d = s.get("send_delay"); late = f'{d["p50_ms"]:.3f}/{d["p99_ms"]:.3f}/{d["max_ms"]:.2f}' if d else "-"
print(f"{tool:8} {rate:>6} {n:>7} {err:>5} {clock:9.1f} {1000*clock/max(n,1):8.1f} {cs/max(n,1):6.2f} {str(p50):>9} {str(p99):>9} {late}")
PY
}
printf '%-8s %6s %7s %5s %9s %8s %6s %9s %9s %s\n' tool rate answers err cpu_ms us/req cs/req p50 p99 "send late p50/p99/max ms"
for round in $(seq "$ROUNDS"); do
  echo "# round $round, load $(cut -d' ' -f1-3 /proc/loadavg)"
  f=$OUT/wrk-$round
  "$NEW" sim exec "$LAB" internet -- perf stat -e task-clock,context-switches -o $OUT/wrk.perf -- wrk -t1 -c10 -d"${SECS}s" --latency http://203.0.113.20/ > $f.out 2>&1 || true
  mv $OUT/wrk.perf $f.perf
  stat_line wrk closed $f.perf $f.out || echo "wrk failed"
  wrate=$(awk '/Requests\/sec/ {printf "%d", $2}' $f.out)
  for rate in $RATES $wrate; do
    for which in old new; do
      bin=$OLD; [[ $which == new ]] && bin=$NEW
      f=$OUT/$which-$rate-$round
      perf stat -e task-clock,context-switches -o $f.perf -- "$bin" sim load "$LAB" --to alb --rate "$rate/s" --duration "${SECS}s" --clients 10 --json > $f.out 2>&1 || true
      stat_line "$which" "$rate" $f.perf $f.out || echo "$which $rate: failed (see $f.out)"
    done
  done
done
echo "load $(cut -d' ' -f1-3 /proc/loadavg); outputs in $OUT"
