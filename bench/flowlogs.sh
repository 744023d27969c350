#!/usr/bin/env bash
# bench/flowlogs.sh: what `vifgate sim flowlogs` costs the lab's traffic.
#
#   sudo bench/flowlogs.sh [ROUNDS]     # default 2 rounds
#
# The example lab (examples/yeohaengjigi.toml) under a per-run name;
# iperf3 from web-a1 to the internet node (web-a1's security group, the
# NAT gateway nat-a, the VPC router's network ACLs and internet gateway:
# every table `sim flowlogs` loads is crossed), one TCP stream and UDP
# with 64-byte payloads at -b 0 (the receiver's packets/s), each without
# and with a capture running (`sim flowlogs --follow`, 10 s intervals),
# alternating, ROUNDS times. Prints one line per run and the medians;
# removes the lab on exit.
set -Eeuo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ROUNDS=${1:-2}
V=${VIFGATE:-$ROOT/target/release/vifgate}
[[ -x $V ]] || { echo "build first: cargo build --release (or set VIFGATE)" >&2; exit 1; }
command -v iperf3 >/dev/null || { echo "needs iperf3" >&2; exit 1; }
LAB=fbench$$
CAPTURE=
cleanup() {
  [[ -n $CAPTURE ]] && kill -INT "$CAPTURE" 2>/dev/null && wait "$CAPTURE" 2>/dev/null
  "$V" sim down "$LAB" >/dev/null 2>&1 || true
}
trap cleanup EXIT

"$V" sim up "$ROOT/examples/yeohaengjigi.toml" --lab "$LAB" >/dev/null
SERVER=$(ip -n "$LAB.internet" -4 -o addr show | awk '$2 != "lo" { sub("/.*", "", $4); print $4; exit }')

iperf() { # ARGS...: prints the receiver's bits/s and packets/s
  ip netns exec "$LAB.internet" iperf3 -s -1 -p 5201 >/dev/null 2>&1 &
  local srv=$!
  sleep 0.3
  ip netns exec "$LAB.web-a1" iperf3 -c "$SERVER" -p 5201 -t 5 -J "$@" |
    python3 -c 'import json, sys
e = json.load(sys.stdin)["end"]
if "sum_received" in e and "packets" not in e.get("sum", {}):
    s = e["sum_received"]
    print("%.2f 0" % (s["bits_per_second"] / 1e9))
else:
    s = e["sum"]
    got = s["packets"] - s.get("lost_packets", 0)
    print("%.2f %.0f" % (s["bits_per_second"] / 1e9, got / s["seconds"]))'
  wait $srv || true
}

declare -A RESULTS
for ((r = 1; r <= ROUNDS; r++)); do
  for mode in without with; do
    if [[ $mode == with ]]; then
      "$V" sim flowlogs "$LAB" --follow >/dev/null 2>&1 &
      CAPTURE=$!
      sleep 1
    fi
    read -r tcp _ < <(iperf)
    read -r _ udp < <(iperf -u -b 0 -l 64)
    echo "round $r, $mode capture: TCP ${tcp} Gbit/s, UDP 64 B ${udp} packets/s received"
    RESULTS[$mode.tcp]+="$tcp "
    RESULTS[$mode.udp]+="$udp "
    if [[ $mode == with ]]; then
      kill -INT "$CAPTURE"; wait "$CAPTURE" || true; CAPTURE=
    fi
  done
done
median() { tr ' ' '\n' | grep . | sort -g | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
for mode in without with; do
  echo "median, $mode capture: TCP $(median <<<"${RESULTS[$mode.tcp]}") Gbit/s, UDP 64 B $(median <<<"${RESULTS[$mode.udp]}") packets/s"
done
