#!/usr/bin/env bash
# bench/synflood.sh: the gateway's connection tracking under a SYN flood,
# the policy when the table is full (`[conntrack] when_full`) compared in
# one run: "refuse" (the behaviour before early drop) and "early_drop".
#
#   sudo bench/synflood.sh         # installs what is missing, builds, measures
#
# Layout (a vifgate gateway pair, both ends on this box):
#
#   ns ${P}a "office"                                   ns ${P}b "VPC"
#   TUN 192.168.0.1/16 (LAN 192.168.0.0/16)             TUN 10.0.0.1/16 (VPC 10.0.0.0/16)
#   gateway A: [policy] (stateful security group)       gateway B: no [policy]
#     [conntrack] max_flows = $CAPACITY, when_full = ...
#   172.31.0.1 ──veth ${P}va/${P}vb── 172.31.0.2, UDP 51820
#
# Gateway A's security group: egress all; ingress TCP 8080 and 8081 from
# 10.0.0.0/16. So every flow through A is tracked in its table.
#
# For each policy (none: no [policy] at A, nothing tracked, the flood's
# cost without connection tracking; refuse; early_drop) and each flood
# direction (6 cases, fresh gateways each):
#  1. iperf3 one TCP stream A -> B for $BASE_SECS s: the flood-free figure.
#  2. iperf3 one TCP stream A -> B for $FLOOD_SECS + 3 s, opened before the
#     flood (an established flow); 1.5 s in, `vifgate bench syn-flood` sends
#     $RATE SYN/s for $FLOOD_SECS s to port 8080 from spoofed sources:
#       lan:    in ns a, sources in 192.168.128.0/17 (behind A, the LAN side),
#               to 10.0.0.1 (behind B, through the tunnel);
#       tunnel: in ns b, sources in 10.0.128.0/17 (behind B, inside A's
#               allowed_ips for B), through the tunnel to 192.168.0.1.
#     1 s into the flood, `vifgate bench tcp-probe` opens $CONNECTS new
#     connections from the flood's side to port 8081 across the tunnel,
#     spread over the flood, each with a 2 s timeout.
#     Every 0.5 s: `vifgate status --json` of A (flows, conntrack_full,
#     conntrack_early_drop) and A's VmRSS.
#
# Everything (namespaces, links, TUN devices, processes) is named with a
# per-run prefix and removed on exit, on error and on Ctrl-C (bench/lab.sh).
# KIND=echo floods ICMP echo requests (random identifiers) instead of SYNs
# (issue 19's case: `KIND=echo DIRECTIONS=tunnel PROBE_SIDE=office
# CAPACITY=1048576 RATE=... FLOOD_SECS=...`); PROBE_SIDE=office opens the
# probe connections from the office (ns a, to 10.0.0.1:8081) whatever the
# flood's side.
#
# Results: bench/results/synflood-DATE.json (+ .txt table, + .samples.tsv).
set -Eeuo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shared: the lab, cleanup (see bench/lab.sh)
source "$ROOT/bench/lab.sh"
RATE=${RATE:-20000}
FLOOD_SECS=${FLOOD_SECS:-10}
BASE_SECS=${BASE_SECS:-5}
CAPACITY=${CAPACITY:-4096}
CONNECTS=${CONNECTS:-100}
POLICIES=${POLICIES:-"none refuse early_drop"}
DIRECTIONS=${DIRECTIONS:-"lan tunnel"}
KIND=${KIND:-syn}
PROBE_SIDE=${PROBE_SIDE:-flood}
INSTALL=${INSTALL:-1}
STAMP=$(date +%Y%m%d-%H%M%S)
STARTED=$(date -u '+%Y-%m-%d %H:%M UTC')
OUT=${OUT:-$ROOT/bench/results/synflood-$STAMP.json}
# MTU, PORT and IPERF_PORT are lab.sh's; the underlay is on other addresses
UNDER_A=172.31.0.1 UNDER_B=172.31.0.2
FLOOD_PORT=8080
PROBE_PORT=8081
LAN_A=192.168.0.1 VPC_B=10.0.0.1
LAB_NICE=""   # the lab's processes at the usual niceness (see lab_init)

usage() {
    cat <<EOF
usage: sudo $0 [--no-install]

A SYN flood from the LAN side and from the tunnel side of a vifgate gateway
whose security groups are stateful, under both [conntrack] when_full
policies: an established TCP stream's throughput, new connections' success,
the table's size, the drop counters, the gateway's RSS. Needs root,
/dev/net/tun, ~2 minutes.

Environment (defaults in brackets):
  RATE [20000] SYN/s   FLOOD_SECS [10]   BASE_SECS [5]   CAPACITY [4096]
  CONNECTS [100]   POLICIES ["none refuse early_drop"]   DIRECTIONS ["lan tunnel"]
  KIND [syn] (or echo: ICMP echo requests)   PROBE_SIDE [flood] (or office)
  (none: gateway A without [policy], nothing tracked: what the flood costs
  without connection tracking)
  INSTALL [1]   OUT [bench/results/synflood-DATE.json]
  VIFGATE [unset: cargo build --release this tree; set: that binary, no build]
EOF
}
for arg in "$@"; do
    case $arg in
    --no-install) INSTALL=0 ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; exit 2 ;;
    esac
done
lab_require_root "namespaces, TUN devices, raw sockets"

# ---------------------------------------------------------------- install
if [[ $INSTALL == 1 ]]; then
    missing=()
    have ip || missing+=(iproute2)
    have iperf3 || missing+=(iperf3)
    have jq || missing+=(jq)
    { have ping && ping -V 2>&1 | grep -q iputils; } || missing+=(iputils-ping)
    apt_install "${missing[@]}"
    if [[ -z ${VIFGATE:-} ]]; then
        log "cargo build --release"
        (cd "$ROOT" && cargo build --release --quiet --bin vifgate)
    fi
fi
for t in ip iperf3 jq ping; do have "$t" || die "$t is not installed (run without --no-install)"; done
lab_vifgate_binary
lab_init vs synflood

# ---------------------------------------------------------------- the lab
# lab.sh's two namespaces (iperf3 server in b), then in both the flood's
# and the probes' listeners, and the gateways' keys (PUB_A, PUB_B)
make_synflood_lab() {
    make_lab
    for ns in a b; do
        spawn "flood-target-$ns" "$ns" "$VIFGATE" bench tcp-probe --listen "0.0.0.0:$FLOOD_PORT"
        spawn "probe-target-$ns" "$ns" "$VIFGATE" bench tcp-probe --listen "0.0.0.0:$PROBE_PORT"
    done
    wg_keys "$VIFGATE"
}

config_a() { # when_full, or none: no [policy], nothing tracked
    # gateway A's own TUN address plays the office host: the far end may
    # open flows to it (`[forwarding] allow_to_box`; a gateway from before
    # [forwarding] gets the file without it)
    write_config_a "$1" "[forwarding]
allow_to_box = [\"$LAN_A/32\"]"
    if ! "$VIFGATE" gateway --config "$WORK/a.toml" --check >/dev/null 2>&1; then
        write_config_a "$1" ""
    fi
    "$VIFGATE" gateway --config "$WORK/a.toml" --check >/dev/null
}

write_config_a() { # when_full forwarding
    local policy=""
    if [[ $1 != none ]]; then
        policy=$(cat <<EOF
[policy]
security_groups = ["edge"]
[[policy.security_group]]
name = "edge"
ingress = [
  { protocol = "tcp", ports = $FLOOD_PORT, cidr = "10.0.0.0/16" },
  { protocol = "tcp", ports = $PROBE_PORT, cidr = "10.0.0.0/16" },
  { protocol = "icmp", icmp_type = 8, icmp_code = -1, cidr = "10.0.0.0/16" },
]
# egress omitted: allow all

[conntrack]
max_flows = $CAPACITY
when_full = "$1"
EOF
)
    fi
    cat >"$WORK/a.toml" <<EOF
[interface]
name = "${P}fa"
address = "$LAN_A/16"
mtu = $MTU
listen_port = $PORT
private_key_file = "ka"

[[peer]]
name = "vpc"
public_key = "$PUB_B"
endpoint = "$UNDER_B:$PORT"
allowed_ips = ["10.0.0.0/16"]

[[route]]
prefix = "10.0.0.0/16"
peer = "vpc"

$policy

$2

[status]
socket = "a.sock"
EOF
}

config_b() {
    cat >"$WORK/b.toml" <<EOF
# no [policy]: nothing filtered, nothing tracked
[interface]
name = "${P}fb"
address = "$VPC_B/16"
mtu = $MTU
listen_port = $PORT
private_key_file = "kb"

[[peer]]
name = "office"
public_key = "$PUB_A"
endpoint = "$UNDER_A:$PORT"
allowed_ips = ["192.168.0.0/16"]

[[route]]
prefix = "192.168.0.0/16"
peer = "office"

[status]
socket = "b.sock"
EOF
    "$VIFGATE" gateway --config "$WORK/b.toml" --check >/dev/null
}

up_gateways() { # when_full
    config_a "$1"
    config_b
    spawn gw-a a env RUST_LOG=warn "$VIFGATE" gateway --config "$WORK/a.toml"
    spawn gw-b b env RUST_LOG=warn "$VIFGATE" gateway --config "$WORK/b.toml"
    wait_for 10 sh -c "ip -n ${P}a -o link show ${P}fa | grep -q '[<,]UP[,>]'" || die "gateway a: no TUN device"
    wait_for 10 sh -c "ip -n ${P}b -o link show ${P}fb | grep -q '[<,]UP[,>]'" || die "gateway b: no TUN device"
    ip -n "${P}a" route replace 10.0.0.0/16 dev "${P}fa"
    ip -n "${P}b" route replace 192.168.0.0/16 dev "${P}fb"
    wait_for 10 nsx a ping -c 1 -W 1 "$VPC_B" || die "no ping through the tunnel"
}

down_gateways() { stop_proc gw-a; stop_proc gw-b; }

status_a() { "$VIFGATE" status --socket "$WORK/a.sock" --json; }

sampler() { # file: t, flows, conntrack_full, conntrack_early_drop, rss_kib every 0.5 s
    local f=$1 pid=${PID[gw-a]} t0=$EPOCHREALTIME s rss
    while :; do
        s=$(status_a 2>/dev/null | jq -r '[.conntrack_flows, .drops.conntrack_full, (.drops.conntrack_early_drop // 0)] | @tsv' || true)
        rss=$(awk '/^VmRSS/ {print $2}' "/proc/$pid/status" 2>/dev/null || true)
        [[ -n $s ]] && printf '%s\t%s\t%s\n' "$(awk -v a="$EPOCHREALTIME" -v b="$t0" 'BEGIN { printf "%.1f", a - b }')" "$s" "$rss" >>"$f"
        sleep 0.5
    done
}

iperf_mean() { # json from to: mean Gbit/s of the intervals within [from, to]
    jq --argjson a "$1" --argjson b "$2" \
        '[.intervals[].sum | select(.start >= $a - 0.01 and .end <= $b + 0.01) | .bits_per_second]
         | if length == 0 then null else (add / length / 1e9 * 100 | round / 100) end' "$3"
}

RESULTS=$WORK/results.jsonl
: >"$RESULTS"
SAMPLES=${OUT%.json}.samples.tsv

run_case() { # policy direction
    local policy=$1 dir=$2 flood_ns probe_ns to from probe_to samples=$WORK/samples-$1-$2.tsv
    case $dir in
    lan) flood_ns=a to=$VPC_B:$FLOOD_PORT from=192.168.128.0/17 probe_to=$VPC_B:$PROBE_PORT ;;
    tunnel) flood_ns=b to=$LAN_A:$FLOOD_PORT from=10.0.128.0/17 probe_to=$LAN_A:$PROBE_PORT ;;
    esac
    probe_ns=$flood_ns
    if [[ $PROBE_SIDE == office ]]; then
        probe_ns=a probe_to=$VPC_B:$PROBE_PORT
    fi
    local kind_flag=""
    [[ $KIND == echo ]] && kind_flag=--echo
    log "$policy, flood from the $dir side: gateways up"
    up_gateways "$policy"
    nsx a iperf3 -c "$VPC_B" -p "$IPERF_PORT" -t "$BASE_SECS" -i 1 -J >"$WORK/base.json"
    local base
    base=$(iperf_mean 1 "$BASE_SECS" "$WORK/base.json")
    log "  no flood: $base Gbit/s; now the flood, $RATE SYN/s for $FLOOD_SECS s"
    : >"$samples"
    sampler "$samples" &
    PID[sampler]=$!
    local total=$((FLOOD_SECS + 3))
    nsx a iperf3 -c "$VPC_B" -p "$IPERF_PORT" -t "$total" -i 0.5 -J >"$WORK/flood.json" &
    PID[iperf3]=$!
    sleep 1.5
    nsx "$flood_ns" "$VIFGATE" bench syn-flood --to "$to" --from "$from" \
        --rate "$RATE" --secs "$FLOOD_SECS" $kind_flag >"$WORK/flood.out" 2>&1 &
    PID[flood]=$!
    sleep 1
    local interval=$(((FLOOD_SECS - 2) * 1000 / CONNECTS))
    nsx "$probe_ns" "$VIFGATE" bench tcp-probe --connect "$probe_to" --count "$CONNECTS" \
        --interval-ms "$interval" --timeout-ms 2000 >"$WORK/probe.out" 2>&1
    wait "${PID[flood]}"; unset "PID[flood]"
    wait "${PID[iperf3]}" || true; unset "PID[iperf3]"
    sleep 0.6
    stop_proc sampler
    local final
    final=$(status_a)
    local established
    established=$(jq '.end.sum_received.bytes // 0' "$WORK/flood.json")
    # throughput while the flood ran (1.5 s .. 1.5 + FLOOD_SECS), and its worst half second
    local under worst
    local flood_end
    flood_end=$(awk -v s="$FLOOD_SECS" 'BEGIN { print 1.5 + s }')
    under=$(iperf_mean 2 "$flood_end" "$WORK/flood.json")
    worst=$(jq --argjson b "$flood_end" \
        '[.intervals[].sum | select(.start >= 1.99 and .end <= $b + 0.01) | .bits_per_second] | min / 1e9 * 100 | round / 100' \
        "$WORK/flood.json")
    local sent ok median
    sent=$(sed -n 's/.*sent \([0-9]*\) [a-zA-Z ]* to .* (\([0-9]*\)\/s).*/\1 \2/p' "$WORK/flood.out")
    ok=$(sed -n 's/.*: \([0-9]*\) of [0-9]* connections.*/\1/p' "$WORK/probe.out")
    median=$(sed -n 's/.*connect ms median \([0-9.-]*\).*/\1/p' "$WORK/probe.out")
    awk -v p="$policy" -v d="$dir" '{print p "\t" d "\t" $0}' "$samples" >>"$SAMPLES"
    jq -nc --arg policy "$policy" --arg dir "$dir" \
        --argjson base "${base:-null}" --argjson under "${under:-null}" --argjson worst "${worst:-null}" \
        --argjson received "$established" \
        --arg sent "$sent" --argjson ok "${ok:-0}" --arg median "${median:--}" \
        --argjson final "$final" --rawfile samples "$samples" --argjson connects "$CONNECTS" '
        ($samples | split("\n") | map(select(length > 0) | split("\t") | map(tonumber))) as $s
        | {policy: $policy, flood_from: $dir,
           syn_sent: ($sent | split(" ")[0] | tonumber), syn_rate: ($sent | split(" ")[1] | tonumber),
           established_gbps_no_flood: $base, established_gbps_under_flood: $under,
           established_gbps_worst_half_second: $worst,
           established_ratio: (if $base and $under then ($under / $base * 100 | round / 100) else null end),
           established_bytes_received: $received,
           new_connections_ok: $ok, new_connections: $connects, connect_ms_median: $median,
           table_max: ([$s[][1]] | max), table_capacity: $final.conntrack_capacity,
           conntrack_full: $final.drops.conntrack_full,
           conntrack_early_drop: ($final.drops.conntrack_early_drop // 0),
           conntrack_tunnel_limit: ($final.drops.conntrack_tunnel_limit // 0),
           conntrack_peer_limit: ($final.drops.conntrack_peer_limit // 0),
           rss_kib_first: $s[0][4], rss_kib_max: ([$s[][4]] | max), rss_kib_last: $s[-1][4],
           samples: ($s | length)}' >>"$RESULTS"
    log "  $(tail -n 1 "$RESULTS" | jq -c 'del(.samples)')"
    down_gateways
}

log "lab $P: capacity $CAPACITY, $RATE SYN/s for $FLOOD_SECS s, policies: $POLICIES"
make_synflood_lab
mkdir -p "$(dirname "$OUT")"
printf 'policy\tflood_from\tt_s\tflows\tconntrack_full\tconntrack_early_drop\trss_kib\n' >"$SAMPLES"
for policy in $POLICIES; do
    for dir in $DIRECTIONS; do
        run_case "$policy" "$dir"
    done
done

jq -s --arg started "$STARTED" --arg head "$GIT_HEAD" --arg kernel "$(uname -r)" \
    --arg cpu "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')" \
    --argjson cores "$(nproc)" --argjson rate "$RATE" --argjson secs "$FLOOD_SECS" \
    --argjson capacity "$CAPACITY" --arg binary "$VIFGATE" --arg kind "$KIND" --arg probe_side "$PROBE_SIDE" \
    '{started: $started, git_head: $head, kernel: $kernel, cpu: $cpu, cores: $cores,
      binary: $binary, capacity: $capacity, syn_rate: $rate, flood_secs: $secs,
      kind: $kind, probe_side: $probe_side, cases: .}' \
    "$RESULTS" >"$OUT"

{
    echo "SYN flood, $(jq -r '"\(.started), \(.cores) cores, \(.cpu), git \(.git_head)"' "$OUT")"
    echo "gateway A: [conntrack] max_flows = $CAPACITY; flood ($KIND) $RATE/s for $FLOOD_SECS s; $CONNECTS new connections during it from the $PROBE_SIDE side"
    printf '%-10s %-6s %9s %7s %7s %6s %8s %9s %11s %9s %10s %13s\n' \
        policy flood SYN/s 'no-fl' 'flood' ratio 'new ok' 'conn ms' 'table max' 'ct_full' 'early_drop' 'RSS MiB'
    jq -r '.cases[] | map_values(. // "-") | [.policy, .flood_from, .syn_rate, .established_gbps_no_flood, .established_gbps_under_flood,
        .established_ratio, "\(.new_connections_ok)/\(.new_connections)", .connect_ms_median,
        "\(.table_max)/\(.table_capacity)", .conntrack_full, .conntrack_early_drop,
        "\(.rss_kib_first / 1024 * 10 | round / 10)->\(.rss_kib_max / 1024 * 10 | round / 10)"] | @tsv' "$OUT" |
        while IFS=$'\t' read -r a b c d e f g h i j k l; do
            printf '%-10s %-6s %9s %7s %7s %6s %8s %9s %11s %9s %10s %13s\n' "$a" "$b" "$c" "$d" "$e" "$f" "$g" "$h" "$i" "$j" "$k" "$l"
        done
    echo "no-fl/flood: one established iperf3 TCP stream A->B, Gbit/s, without / during the flood;"
    echo "new ok: connections completed within 2 s; RSS: gateway A's VmRSS first sample -> max"
} | tee "${OUT%.json}.txt"
log "results: $OUT, ${OUT%.json}.txt, $SAMPLES"
