#!/usr/bin/env bash
# bench/idle.sh: idle ping through vifgate's tunnel with its data-path
# switches off one at a time, against boringtun-cli, in one run.
#
#   sudo bench/idle.sh              # this tree's release build (VIFGATE= another)
#
# The lab of bench/peers.sh (bench/lab.sh). For each variant, ping -c COUNT
# (default 500) -i 0.01 a->b with nothing else in the tunnel; p50, p99, max.
# Variants: vifgate with its defaults; VIFGATE_NO_TUN_OFFLOAD=1 (one packet
# per TUN read and write); VIFGATE_NO_GSO=1 (one datagram per UDP call);
# [queue] enabled = true; boringtun-cli; and vifgate and boringtun-cli
# with both tunnel processes and the ping at real-time priority
# (SCHED_FIFO RT_PRIO, default 10: they take a core before other work).
# Rounds (default 2) alternate the variants, so that the box's load drifts
# over all of them alike. For each, also the time the two tunnel
# processes spent runnable but waiting for a CPU during the pings
# (/proc/PID/task/*/schedstat), in microseconds per ping.
set -Eeuo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
source "$ROOT/bench/lab.sh"
COUNT=${COUNT:-500}
ROUNDS=${ROUNDS:-2}
RT_PRIO=${RT_PRIO:-10}
[[ $# == 0 ]] || { sed -n '2,17p' "$0"; exit 2; }
lab_require_root
have boringtun-cli || die "boringtun-cli is not installed (bench/peers.sh installs it)"
lab_vifgate_binary
lab_init vi idle
make_lab

waited_ns() { # pids...: ns runnable but not running, summed over their threads
    local p
    for p in "$@"; do cat /proc/"$p"/task/*/schedstat 2>/dev/null; done | awk '{ w += $2 } END { printf "%.0f\n", w }'
}

measure() { # label [wrapper...]: ping -c COUNT through the tunnel (under the wrapper)
    local label=$1
    shift
    wait_for 15 nsx a ping -c 1 -W 1 -q "$TUN_B" || die "$label: no ping through the tunnel"
    sleep 0.5
    local _n p50 p99 max w0 w1
    w0=$(waited_ns "${TUNNEL_PIDS[@]}")
    read -r _n p50 p99 max < <("$@" ip netns exec "${P}a" ping -c "$COUNT" -i 0.01 "$TUN_B" | ping_percentiles)
    w1=$(waited_ns "${TUNNEL_PIDS[@]}")
    printf '%-24s %-22s %s\n' "$label" "$p50 $p99 $max" "$(((w1 - w0) / COUNT / 1000))"
}
realtime() { # the tunnel processes (every thread) at SCHED_FIFO RT_PRIO
    local p
    for p in "${TUNNEL_PIDS[@]}"; do chrt -f -a -p "$RT_PRIO" "$p" >/dev/null; done
}

echo "variant                  p50 p99 max (ms)       gateways' CPU wait (us/ping); ping -c $COUNT -i 0.01 idle"
for ((round = 1; round <= ROUNDS; round++)); do
    up_vifgate; measure "vifgate"; down_vifgate
    export VIFGATE_NO_TUN_OFFLOAD=1
    up_vifgate; measure "vifgate no TUN offload"; down_vifgate
    unset VIFGATE_NO_TUN_OFFLOAD
    export VIFGATE_NO_GSO=1
    up_vifgate; measure "vifgate no UDP GSO/GRO"; down_vifgate
    unset VIFGATE_NO_GSO
    VIFGATE_EXTRA=$'[queue]\nenabled = true'
    up_vifgate; measure "vifgate queue on"; down_vifgate
    VIFGATE_EXTRA=""
    up_boringtun; measure "boringtun-cli"; down_boringtun
    up_vifgate; realtime; measure "vifgate rt" chrt -f "$RT_PRIO"; down_vifgate
    up_boringtun; realtime; measure "boringtun-cli rt" chrt -f "$RT_PRIO"; down_boringtun
done
