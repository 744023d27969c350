#!/usr/bin/env bash
# bench/queues.sh: where a ping waits under a saturating TCP stream through
# vifgate's tunnel: the bytes in each queue on its way, sampled.
#
#   sudo bench/queues.sh              # this tree's release build
#   sudo VIFGATE=/path/vifgate EXTRA=$'[queue]\nenabled = false' bench/queues.sh
#   sudo RT_PRIO=10 bench/queues.sh   # both gateways at SCHED_FIFO 10 (chrt)
#
# The lab of bench/peers.sh (bench/lab.sh), vifgate on both ends. During one
# iperf3 TCP stream a->b (SECS, default 10), every 0.2 s from 2 s in:
#   - a's UDP socket Send-Q (datagrams made, not yet on the veth),
#   - b's UDP socket Recv-Q (datagrams arrived, not yet decrypted),
#   - a's and b's TUN devices' qdisc backlog (tc -s qdisc),
#   - a's fair queue ([queue]; vifgate status --json: packets, bytes,
#     last sojourn), when the binary has one;
# and each gateway's time running and waiting for a CPU (schedstat); and
# at the end both gateways' `queue` of vifgate status (b's ingress_*:
# the way out's CoDel on the UDP receive queue).
# A ping's request passes a's TUN, a's queue, a's UDP Send-Q, the veth and
# b's Recv-Q; each byte ahead of it there is time at the bottleneck's rate.
# Prints the median and maximum of each, and the stream's Gbit/s; JSON
# to OUT (default bench/results/queues-DATE.json).
set -Eeuo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
source "$ROOT/bench/lab.sh"
SECS=${SECS:-10}
OUT=${OUT:-$ROOT/bench/results/queues-$(date +%Y%m%d-%H%M%S).json}
[[ $# == 0 ]] || { sed -n '2,19p' "$0"; exit 2; }
lab_require_root
lab_vifgate_binary
lab_init vq queues
VIFGATE_EXTRA=${EXTRA:-}

make_lab
up_vifgate
if [[ -n ${RT_PRIO:-} ]]; then
    for p in "${TUNNEL_PIDS[@]}"; do chrt -f -a -p "$RT_PRIO" "$p" >/dev/null; done
fi
DST=$TUN_B
wait_for 15 nsx a ping -c 1 -W 1 -q "$DST" || die "no ping through the tunnel"

udp_queue() { # ns column(2 = Recv-Q, 3 = Send-Q) of the socket on $PORT
    nsx "$1" ss -uan "sport = :$PORT" | awk -v c="$2" 'NR > 1 { print $c; exit }'
}
qdisc_backlog() { # ns dev: bytes in the device's qdisc (0 without one)
    nsx "$1" tc -s qdisc show dev "$2" | awk '/backlog/ { b += $2 + 0 } END { print b + 0 }'
}
status_queue() { # a's fair queue as "packets bytes sojourn_last_ns", or "- - -"
    "$VIFGATE" status --socket "$WORK/a.sock" --json 2>/dev/null |
        jq -r 'if .queue then "\(.queue.packets) \(.queue.bytes) \(.queue.sojourn_last_ns)" else "- - -" end' 2>/dev/null ||
        echo "- - -"
}

schedstat() { # pid: "run ns, run-queue wait ns, timeslices" summed over its threads
    cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{ r += $1; w += $2; n += $3 } END { printf "%.0f %.0f %.0f\n", r, w, n }'
}

log "iperf3 -t $SECS a->b, sampling every 0.2 s from 2 s in"
nsx a iperf3 -c "$DST" -p "$IPERF_PORT" -t "$SECS" -J >"$WORK/iperf.json" 2>&1 &
PID[iperf]=$!
sleep 2
: >"$WORK/samples"
read -r run_a0 wait_a0 n_a0 < <(schedstat "${PID[vifgate-a]}")
read -r run_b0 wait_b0 n_b0 < <(schedstat "${PID[vifgate-b]}")
t0=$(date +%s%N)
end=$((SECONDS + SECS - 3))
while ((SECONDS < end)); do
    echo "$(udp_queue a 3) $(udp_queue b 2) $(qdisc_backlog a "${TUN_DEV}a") $(qdisc_backlog b "${TUN_DEV}b") $(status_queue)" \
        >>"$WORK/samples"
    sleep 0.2
done
read -r run_a1 wait_a1 n_a1 < <(schedstat "${PID[vifgate-a]}")
read -r run_b1 wait_b1 n_b1 < <(schedstat "${PID[vifgate-b]}")
t1=$(date +%s%N)
# each gateway's time on a CPU and waiting for one (runnable, not running),
# per second of the sampling window (/proc/PID/task/*/schedstat), and the
# mean wait per time it was scheduled
sched_json() { # run0 wait0 n0 run1 wait1 n1
    awk -v r="$(($4 - $1))" -v w="$(($5 - $2))" -v n="$(($6 - $3))" -v t="$((t1 - t0))" \
        'BEGIN { printf "{\"running_ms_per_s\": %.0f, \"waiting_for_cpu_ms_per_s\": %.0f, \"mean_wait_per_slice_us\": %.0f}\n", 1000 * r / t, 1000 * w / t, n ? w / n / 1000 : 0 }'
}
sched_a=$(sched_json "$run_a0" "$wait_a0" "$n_a0" "$run_a1" "$wait_a1" "$n_a1")
sched_b=$(sched_json "$run_b0" "$wait_b0" "$n_b0" "$run_b1" "$wait_b1" "$n_b1")
wait "${PID[iperf]}" || true
# the queues' counters at the end ([queue]: a's way in, b's way out)
final_a=$("$VIFGATE" status --socket "$WORK/a.sock" --json 2>/dev/null | jq -c '.queue // null' 2>/dev/null) || final_a=null
final_b=$("$VIFGATE" status --socket "$WORK/b.sock" --json 2>/dev/null | jq -c '.queue // null' 2>/dev/null) || final_b=null
unset "PID[iperf]"
gbps=$(jq '.end.sum_received.bits_per_second / 1e9' "$WORK/iperf.json")

stat() { # column -> {"median", "max"} of the samples, or null
    awk -v c="$1" '$c != "-" { print $c + 0 }' "$WORK/samples" | sort -n |
        awk '{ a[NR] = $1 } END { if (NR == 0) print "null"; else printf "{\"median\": %s, \"max\": %s}\n", a[int((NR + 1) / 2)], a[NR] }'
}
mkdir -p "$(dirname "$OUT")"
jq -n --arg bin "$VIFGATE" --arg extra "$VIFGATE_EXTRA" --arg rt "${RT_PRIO:-}" --argjson gbps "${gbps:-null}" \
    --argjson n "$(wc -l <"$WORK/samples")" --argjson fa "${final_a:-null}" --argjson fb "${final_b:-null}" \
    --argjson sa "$sched_a" --argjson sb "$sched_b" \
    --argjson s1 "$(stat 1)" --argjson s2 "$(stat 2)" --argjson s3 "$(stat 3)" --argjson s4 "$(stat 4)" \
    --argjson s5 "$(stat 5)" --argjson s6 "$(stat 6)" --argjson s7 "$(stat 7)" \
    '{binary: $bin, extra: $extra, sched_fifo_priority: (if $rt == "" then null else ($rt | tonumber) end), tcp_gbps: $gbps, samples: $n,
      udp_send_q_a_bytes: $s1, udp_recv_q_b_bytes: $s2,
      tun_qdisc_a_bytes: $s3, tun_qdisc_b_bytes: $s4,
      fair_queue_a_packets: $s5, fair_queue_a_bytes: $s6, fair_queue_a_sojourn_ns: $s7,
      status_queue_at_end: {a: $fa, b: $fb},
      cpu_scheduling: {gw_a: $sa, gw_b: $sb}}' | tee "$OUT"
down_vifgate
log "results: $OUT"
