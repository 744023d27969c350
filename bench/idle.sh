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
# [queue] enabled = true; boringtun-cli. Rounds (default 2) alternate the variants,
# so that the box's load drifts over all of them alike.
set -Eeuo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
source "$ROOT/bench/lab.sh"
COUNT=${COUNT:-500}
ROUNDS=${ROUNDS:-2}
[[ $# == 0 ]] || { sed -n '2,12p' "$0"; exit 2; }
lab_require_root
have boringtun-cli || die "boringtun-cli is not installed (bench/peers.sh installs it)"
lab_vifgate_binary
lab_init vi idle
make_lab

measure() { # label
    wait_for 15 nsx a ping -c 1 -W 1 -q "$TUN_B" || die "$1: no ping through the tunnel"
    sleep 0.5
    local _n p50 p99 max
    read -r _n p50 p99 max < <(nsx a ping -c "$COUNT" -i 0.01 "$TUN_B" | ping_percentiles)
    printf '%-24s %s\n' "$1" "$p50 $p99 $max"
}

echo "variant                  p50 p99 max (ms), ping -c $COUNT -i 0.01 idle"
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
done
