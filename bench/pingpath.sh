#!/usr/bin/env bash
# bench/pingpath.sh: where a ping's round trip through vifgate's tunnel
# goes under a saturating TCP stream a->b, hop by hop, with the queues it
# passes sampled.
#
#   sudo bench/pingpath.sh                     # this tree's release build
#   sudo VIFGATE=/path/vifgate EXTRA=$'[queue]\nenabled = true' bench/pingpath.sh
#
# The lab of bench/peers.sh (bench/lab.sh), vifgate on both ends, by
# default with [process] realtime_priority = RT_PRIO (10; RT_PRIO=0: the
# normal policy). During one iperf3 stream a->b (SECS, default 10), from
# 2 s in, ping -c COUNT (300) -i 0.01 a->b; tcpdump on both TUN devices
# stamps each echo where the kernel hands it to a TUN device and where a
# gateway writes it back, so each round trip splits into:
#   out:   a's TUN queue + gateway a + the veth + b's UDP receive queue +
#          gateway b (the request, along the bulk stream),
#   reply: b's kernel answering,
#   back:  b's TUN queue + gateway b + the veth + a's UDP receive queue +
#          gateway a (the reply, along the stream's ACKs).
# Every 0.1 s: b's UDP Recv-Q, a's UDP Send-Q, both TUN devices' qdisc
# backlog; the TUN devices' TX drops over the pings. Experiments from
# outside: TXQUEUELEN=N sets both TUN devices' transmit queue after start,
# QDISC="pfifo limit 1000" puts a qdisc on them. KEEP_CAPTURES=DIR keeps
# the two tcpdump logs. Prints p50/p99/max of each part and of the
# queues; JSON to OUT (bench/results/pingpath-DATE.json).
set -Eeuo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
source "$ROOT/bench/lab.sh"
SECS=${SECS:-10}
COUNT=${COUNT:-300}
RT_PRIO=${RT_PRIO:-10}
OUT=${OUT:-$ROOT/bench/results/pingpath-$(date +%Y%m%d-%H%M%S).json}
[[ $# == 0 ]] || { sed -n '2,25p' "$0"; exit 2; }
lab_require_root
have tcpdump || apt_install tcpdump
lab_vifgate_binary
lab_init vp pingpath
VIFGATE_EXTRA=${EXTRA:-}
if ((RT_PRIO > 0)); then
    VIFGATE_EXTRA+=$'\n[process]\nrealtime_priority = '$RT_PRIO
fi

make_lab
up_vifgate
DST=$TUN_B
wait_for 15 nsx a ping -c 1 -W 1 -q "$DST" || die "no ping through the tunnel"
# experiments on the TUN devices from outside: TXQUEUELEN (their ring of
# packets to the gateway), QDISC (e.g. fq_codel: tc qdisc replace ... root QDISC)
for s in a b; do
    [[ -z ${TXQUEUELEN:-} ]] || ip -n "$P$s" link set dev "$TUN_DEV$s" txqueuelen "$TXQUEUELEN"
    [[ -z ${QDISC:-} ]] || ip netns exec "$P$s" tc qdisc replace dev "$TUN_DEV$s" root $QDISC
done

# the echoes on both TUN devices, nanosecond stamps, both directions
spawn cap-a a tcpdump -i "${TUN_DEV}a" -n -tt --nano -l -B 4096 icmp
spawn cap-b b tcpdump -i "${TUN_DEV}b" -n -tt --nano -l -B 4096 icmp
sleep 1

udp_queue() { # ns column(2 = Recv-Q, 3 = Send-Q) of the socket on $PORT
    nsx "$1" ss -uan "sport = :$PORT" | awk -v c="$2" 'NR > 1 { print $c; exit }'
}
tun_state() { # ns dev: "qdisc backlog bytes, TX dropped"
    local b d
    b=$(nsx "$1" tc -s qdisc show dev "$2" | awk '/backlog/ { b += $2 + 0 } END { print b + 0 }')
    d=$(nsx "$1" cat "/sys/class/net/$2/statistics/tx_dropped")
    echo "$b $d"
}

log "iperf3 -t $SECS a->b; ping -c $COUNT -i 0.01 from 2 s in"
nsx a iperf3 -c "$DST" -p "$IPERF_PORT" -t "$SECS" -J >"$WORK/iperf.json" 2>&1 &
PID[iperf]=$!
sleep 2
read -r _ drop_a0 < <(tun_state a "${TUN_DEV}a")
read -r _ drop_b0 < <(tun_state b "${TUN_DEV}b")
nsx a ping -c "$COUNT" -i 0.01 "$DST" >"$WORK/ping.txt" &
ping_pid=$!
: >"$WORK/samples"
while kill -0 "$ping_pid" 2>/dev/null; do
    echo "$(udp_queue b 2) $(udp_queue a 3) $(tun_state a "${TUN_DEV}a") $(tun_state b "${TUN_DEV}b")" >>"$WORK/samples"
    sleep 0.1
done
wait "$ping_pid" || true
read -r _ drop_a1 < <(tun_state a "${TUN_DEV}a")
read -r _ drop_b1 < <(tun_state b "${TUN_DEV}b")
wait "${PID[iperf]}" || true
unset "PID[iperf]"
sleep 0.5
stop_proc cap-a
stop_proc cap-b
gbps=$(jq '.end.sum_received.bits_per_second / 1e9' "$WORK/iperf.json")
retr=$(jq '.end.sum_sent.retransmits // 0' "$WORK/iperf.json")
down_vifgate

mkdir -p "$(dirname "$OUT")"
python3 - "$WORK" "$gbps" "$retr" "$((drop_a1 - drop_a0))" "$((drop_b1 - drop_b0))" "$VIFGATE" "$VIFGATE_EXTRA" >"$OUT" <<'PY'
import json, re, sys
work, gbps, retr, drop_a, drop_b, binary, extra = sys.argv[1:8]

def stamps(path):
    """seq -> {request|reply: (first stamp of the echo) per direction}"""
    out = {}
    for line in open(path):
        m = re.match(r"(\d+\.\d+) .*ICMP echo (request|reply), id \d+, seq (\d+)", line)
        if m:
            out.setdefault((m[2], int(m[3])), []).append(float(m[1]))
    return out

a, b = stamps(f"{work}/cap-a.log"), stamps(f"{work}/cap-b.log")
parts = {"out": [], "reply": [], "back": [], "total": []}
for (kind, seq), ts in a.items():
    if kind != "request":
        continue
    req_b, rep_b, rep_a = b.get(("request", seq)), b.get(("reply", seq)), a.get(("reply", seq))
    if not (req_b and rep_b and rep_a):
        continue
    t0 = ts[0]
    parts["out"].append(req_b[0] - t0)
    parts["reply"].append(rep_b[0] - req_b[0])
    parts["back"].append(rep_a[0] - rep_b[0])
    parts["total"].append(rep_a[0] - t0)

def pct(v):
    if not v:
        return None
    v = sorted(v)
    r = lambda p: v[min(len(v) - 1, max(0, -(-len(v) * p // 100) - 1))]
    return {"n": len(v), "p50": r(50), "p99": r(99), "max": v[-1]}

ms = lambda d: None if d is None else {k: (x if k == "n" else round(x * 1e3, 3)) for k, x in d.items()}
cols = list(zip(*[l.split() for l in open(f"{work}/samples") if len(l.split()) == 6]))
names = ["udp_recv_q_b_bytes", "udp_send_q_a_bytes", "tun_qdisc_a_bytes", None, "tun_qdisc_b_bytes", None]
queues = {n: pct([float(x) for x in c]) for n, c in zip(names, cols) if n}
ping = [float(x) for x in re.findall(r"time=([\d.]+) ms", open(f"{work}/ping.txt").read())]
print(json.dumps({
    "binary": binary, "extra": extra, "tcp_gbps": float(gbps), "tcp_retransmits": int(retr),
    "ping_ms": {k: v for k, v in (pct(ping) or {}).items()},
    "parts_ms": {k: ms(pct(v)) for k, v in parts.items()},
    "queues": queues,
    "tun_tx_dropped": {"a": int(drop_a), "b": int(drop_b)},
}, indent=1))
PY
if [[ -n ${KEEP_CAPTURES:-} ]]; then cp "$WORK"/cap-*.log "$KEEP_CAPTURES"/; fi
jq -r '"TCP a->b \(.tcp_gbps * 1000 | round / 1000) Gbit/s, \(.tcp_retransmits) retransmits; TUN TX drops a \(.tun_tx_dropped.a) b \(.tun_tx_dropped.b)",
  "ping (ms)        p50 \(.ping_ms.p50)  p99 \(.ping_ms.p99)  max \(.ping_ms.max)",
  (.parts_ms | to_entries[] | "\(.key | . + "          " | .[0:16]) p50 \(.value.p50)  p99 \(.value.p99)  max \(.value.max)  (n \(.value.n))"),
  (.queues | to_entries[] | "\(.key) median \(.value.p50)  p99 \(.value.p99)  max \(.value.max)")' "$OUT"
log "results: $OUT"
