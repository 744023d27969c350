#!/usr/bin/env bash
# bench/flood.sh: vifgate and wireguard-go under handshake and garbage
# floods, side by side, in one run.
#
#   sudo bench/flood.sh            # installs what is missing, builds, measures
#
# Layout: bench/lab.sh's two namespaces with a tunnel between them, and a
# third one, the flooder, wired to the gateway in b:
#
#   ns ${P}a  172.30.0.1 ──veth── 172.30.0.2  ns ${P}b ── 172.31.0.2
#             tunnel 10.99.0.1 ══ UDP 51820 ══ 10.99.0.2      │ veth ${P}vd/${P}vc
#             iperf3 client                  iperf3 server   172.31.0.1  ns ${P}c
#                                                            flood-gen
#
# The flooder sends `vifgate bench flood-gen` datagrams at RATE/s for
# FLOOD_SECS to gateway b's UDP port, one kind at a time (KINDS):
# random-init (forged handshake initiations of random bytes), mac1-init
# (the same with a valid MAC1 for b's public key), garbage (random sizes
# and types), unknown-data (data messages for unknown receiver indexes).
#
# For each gateway (GATEWAYS: vifgate, `vifgate gateway` with no [policy];
# wireguard-go), both tunnel ends up and the handshake done, then:
#   1. the CPU (utime+stime of /proc/PID/stat, in cores) of gateway b over
#      FLOOD_SECS without a flood, then over each flood, the tunnel idle;
#   2. TCP a->b through the tunnel (iperf3, one stream, TCP_SECS) without a
#      flood, under each flood, and without again: the ratio is the
#      throughput under the flood over the mean of the two without.
# Beside the CPU: the datagrams the kernel dropped at b's full UDP receive
# buffer (RcvbufErrors) over the window: a gateway that cannot keep up sheds
# the flood there (and the tunnel's own packets with it), so its CPU is
# capped by the cores it gets, and the cost per datagram it did read
# (CPU / (sent - dropped)) is the figure that does not depend on that.
# Targets: at most 0.2 core under any flood, and at least 0.8 of
# the flood-free throughput. The machine's load (uptime, and the busy
# cores over each window) is recorded beside every figure; the lab's
# processes run at niceness NICE (-10) against other work on the machine.
#
# Everything is named with a per-run prefix and removed on exit, on error
# and on Ctrl-C (bench/lab.sh). Results: bench/results/flood-DATE.json and
# .txt (the table).
set -Eeuo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shared: the lab, the tunnels, cleanup (see bench/lab.sh)
source "$ROOT/bench/lab.sh"
RATE=${RATE:-20000}
FLOOD_SECS=${FLOOD_SECS:-5}
TCP_SECS=${TCP_SECS:-5}
KINDS=${KINDS:-"random-init mac1-init garbage unknown-data"}
GATEWAYS=${GATEWAYS:-"vifgate wireguard-go"}
INSTALL=${INSTALL:-1}
# the lab's processes (gateways, iperf3, flood-gen) run at this niceness, so
# that other work on a shared machine takes less of their CPU
LAB_NICE=${NICE:--10}
STAMP=$(date +%Y%m%d-%H%M%S)
STARTED=$(date -u '+%Y-%m-%d %H:%M:%S UTC')
OUT=${OUT:-$ROOT/bench/results/flood-$STAMP.json}
FLOOD_A=172.31.0.1 FLOOD_B=172.31.0.2
MAX_CORES=0.2 MIN_TCP_RATIO=0.8

usage() {
    cat <<EOF
usage: sudo $0 [--no-install]

Floods vifgate's and wireguard-go's UDP port from a third namespace (forged
handshake initiations, with and without a valid MAC1; garbage; data for
unknown receivers) and measures the gateway's CPU with the tunnel idle and
an established tunnel's TCP throughput under each flood against without.
Needs root, /dev/net/tun, ~3 minutes.

Environment (defaults in brackets):
  RATE [20000]  FLOOD_SECS [5]  TCP_SECS [5]  INSTALL [1]
  NICE [-10: niceness of the lab's processes; empty: leave it]
  KINDS ["random-init mac1-init garbage unknown-data"]
  GATEWAYS ["vifgate wireguard-go"]   OUT [bench/results/flood-DATE.json]
  VIFGATE [unset: cargo build --release this tree and measure target/release/vifgate;
           set: measure (and flood with) that binary, no build]
EOF
}
for arg in "$@"; do
    case $arg in
    --no-install) INSTALL=0 ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; exit 2 ;;
    esac
done
lab_require_root

# ---------------------------------------------------------------- install
if [[ $INSTALL == 1 ]]; then
    missing=()
    have ip || missing+=(iproute2)
    have iperf3 || missing+=(iperf3)
    have wireguard-go || missing+=(wireguard-go)
    have wg || missing+=(wireguard-tools)
    have jq || missing+=(jq)
    have ping || missing+=(iputils-ping)
    apt_install "${missing[@]}"
    if [[ -z ${VIFGATE:-} ]]; then
        log "cargo build --release -p vifgate"
        (cd "$ROOT" && cargo build --release -p vifgate --quiet)
    fi
fi
for t in ip iperf3 wireguard-go wg ping jq; do
    have "$t" || die "$t is not installed (run without --no-install)"
done
lab_vifgate_binary
lab_init

# the flooder: namespace c, wired to b
make_flooder() {
    ip netns add "${P}c"
    NS_MADE+=("${P}c")
    ip -n "${P}c" link set lo up
    ip link add "${P}vc" netns "${P}c" type veth peer name "${P}vd" netns "${P}b"
    ip -n "${P}c" addr add "$FLOOD_A/24" dev "${P}vc"
    ip -n "${P}b" addr add "$FLOOD_B/24" dev "${P}vd"
    ip -n "${P}c" link set "${P}vc" up
    ip -n "${P}b" link set "${P}vd" up
}

# ------------------------------------------------------------ measuring
put_at() { # json-path-array json-value
    jq --argjson p "$1" --argjson v "$2" 'setpath($p; $v)' "$RESULTS" >"$RESULTS.new"
    mv "$RESULTS.new" "$RESULTS"
}

load_avg() { cut -d' ' -f1-3 /proc/loadavg; }

# a CPU window on gateway b: window_start, then window_json
W_TICKS=0 W_HOST=() W_T0=0 W_DROPS=0
window_start() {
    W_DROPS=$(udp_errors b | cut -d' ' -f1)
    W_TICKS=$(proc_ticks "$GW_PID")
    W_HOST=($(host_busy))
    W_T0=$(date +%s.%N)
}
window_json() { # {"cores": gateway b, "host_cores": whole machine, "secs", "load", "rcvbuf_drops"}
    local t1 ticks h1 drops
    ticks=$(proc_ticks "$GW_PID")
    h1=($(host_busy))
    t1=$(date +%s.%N)
    drops=$(udp_errors b | cut -d' ' -f1)
    jq -n --argjson d $((ticks - W_TICKS)) --argjson hz "$CLK_TCK" \
        --argjson drops $((drops - W_DROPS)) \
        --argjson t "$t1" --argjson t0 "$W_T0" --argjson n "$(nproc)" \
        --argjson hb $((h1[0] - W_HOST[0])) --argjson ht $((h1[1] - W_HOST[1])) \
        --arg load "$(load_avg)" \
        '{cores: ($d / $hz / ($t - $t0) * 100 | round / 100),
          host_cores: (if $ht > 0 then $n * $hb / $ht * 100 | round / 100 else null end),
          secs: (($t - $t0) * 100 | round / 100), load: $load,
          rcvbuf_drops: $drops}'
}

flood_cmd() { # kind secs: the generator's command line (to run in namespace c) in FLOOD_CMD
    FLOOD_CMD=("$VIFGATE" bench flood-gen --target "$FLOOD_B:$PORT" --kind "$1"
        --rate "$RATE" --secs "$2" --public-key "$PUB_B")
}

tcp_gbps() { # out-file: one TCP stream a->b through the tunnel; prints Gbit/s
    local out=$1
    fg_run timeout $((TCP_SECS + 30)) ip netns exec "${P}a" \
        iperf3 -c "$TUN_B" -p "$IPERF_PORT" --connect-timeout 5000 -J -t "$TCP_SECS" \
        >"$out" 2>"$out.err" || true
    if ! jq -e '.end.sum_received' "$out" >/dev/null 2>&1; then
        local err
        err=$(jq -r '.error // empty' "$out" 2>/dev/null) || true
        log "  iperf3 failed: $err $(head -c 300 "$out.err")"
        # no connection through the tunnel within 5 s: nothing got through
        if [[ $err == *"unable to connect"* ]]; then echo 0; else echo null; fi
        return
    fi
    jq '.end.sum_received.bits_per_second / 1e9 * 1000 | round / 1000' "$out"
}

measure() { # gateway
    local gw=$1 kind f w gen gbps
    GW_PID=${TUNNEL_PIDS[1]}
    put_at "[\"$gw\",\"pid_b\"]" "$GW_PID"
    wait_for 15 nsx a ping -c 1 -W 1 -q "$TUN_B" || die "$gw: no ping through the tunnel"
    sleep 1

    # 1. CPU with the tunnel idle: nothing, then each flood
    window_start
    sleep "$FLOOD_SECS"
    w=$(window_json)
    put_at "[\"$gw\",\"idle\"]" "$w"
    log "  $gw idle: $(jq -c . <<<"$w")"
    for kind in $KINDS; do
        f=$WORK/$gw-cpu-$kind.json
        window_start
        flood_cmd "$kind" "$FLOOD_SECS"
        fg_run ip netns exec "${P}c" "${FLOOD_CMD[@]}" >"$f" 2>"$f.err" ||
            die "flood-gen $kind failed: $(head -c 300 "$f.err")"
        w=$(window_json)
        gen=$(jq -c . "$f")
        # CPU per datagram the gateway read (the rest the kernel dropped)
        w=$(jq -n --argjson w "$w" --argjson g "$gen" '$w + {flood: $g,
            read_per_s: (($g.sent - $w.rcvbuf_drops) / $w.secs | round)}
            | . + {us_per_datagram: (if .read_per_s > 0 then (.cores * 1e6 / .read_per_s * 10 | round / 10) else null end)}')
        put_at "[\"$gw\",\"cpu\",\"$kind\"]" "$w"
        log "  $gw $kind: $(jq -r '"\(.cores) cores (host \(.host_cores)), flood \(.flood.rate_achieved)/s, \(.rcvbuf_drops) dropped at the socket, \(.us_per_datagram) us per datagram read, replies \(.flood.replies | tostring)"' <<<"$w")"
        sleep 1
    done

    # 2. TCP a->b: without, under each flood, without again
    gbps=$(tcp_gbps "$WORK/$gw-tcp-base1.json")
    put_at "[\"$gw\",\"tcp_without\",0]" "$gbps"
    log "  $gw tcp without a flood: $gbps Gbit/s"
    sleep 1
    for kind in $KINDS; do
        f=$WORK/$gw-tcp-$kind.json
        # the flood starts first and outlasts iperf3
        flood_cmd "$kind" $((TCP_SECS + 2))
        spawn "flood-$kind" c "${FLOOD_CMD[@]}"
        sleep 0.5
        gbps=$(tcp_gbps "$f")
        wait "${PID[flood-$kind]}" 2>/dev/null || true
        unset "PID[flood-$kind]"
        gen=$(grep -m1 "^{" "$WORK/flood-$kind.log" | jq -c .) || gen=null
        [[ -n $gen ]] || gen=null
        put_at "[\"$gw\",\"tcp\",\"$kind\"]" "$(jq -n --argjson b "$gbps" --argjson g "$gen" \
            --arg load "$(load_avg)" '{gbps: $b, load: $load, flood: $g}')"
        log "  $gw tcp under $kind: $gbps Gbit/s (flood $(jq -r '.rate_achieved // "?"' <<<"$gen")/s)"
        sleep 1
    done
    gbps=$(tcp_gbps "$WORK/$gw-tcp-base2.json")
    put_at "[\"$gw\",\"tcp_without\",1]" "$gbps"
    log "  $gw tcp without a flood (again): $gbps Gbit/s"
}

# ------------------------------------------------------------ the run
log "lab $P: namespaces ${P}a, ${P}b, ${P}c (flooder); results to $OUT"
mkdir -p "$(dirname "$OUT")"
LOAD_START=$(load_avg)
make_lab
make_flooder
for gw in $GATEWAYS; do
    log "$gw"
    "up_$gw"
    measure "$gw"
    "down_$gw"
    sleep 1
done
LOAD_END=$(load_avg)

# ------------------------------------------------------------ the report
jq -n \
    --slurpfile r "$RESULTS" \
    --arg date "$STARTED" \
    --arg command "$0 $*" \
    --argjson machine "$(machine_json)" \
    --arg wggo "$(wireguard_go_version)" \
    --arg iperf "$(ver iperf3 --version)" \
    --arg vifgate "$(ver "$VIFGATE" --version)" \
    --argjson build "$(vifgate_build_json)" \
    --arg load0 "$LOAD_START" --arg load1 "$LOAD_END" \
    --argjson rate "$RATE" --argjson fsecs "$FLOOD_SECS" --argjson tsecs "$TCP_SECS" \
    --arg kinds "$KINDS" --arg nice "$LAB_NICE" --argjson maxc "$MAX_CORES" --argjson mint "$MIN_TCP_RATIO" \
    '$r[0] as $g
     | def r2: if . == null then null else (. * 100 | round / 100) end;
       def base(gw): ($g[gw].tcp_without // []) | map(select(. != null))
                     | if length > 0 then add / length else null end;
       def tcp_ratio(gw; k): ($g[gw].tcp[k].gbps) as $x | base(gw) as $b
                     | if ($x == null or $b == null or $b == 0) then null else ($x / $b | r2) end;
       ($kinds | [splits(" +") | select(. != "")]) as $ks
     | {
       date: $date, command: $command,
       machine: ($machine + {load_avg_start: $load0, load_avg_end: $load1}),
       versions: {"wireguard-go": $wggo, iperf3: $iperf, vifgate: $vifgate},
       vifgate_build: $build,
       layout: "namespaces a, b (tunnel 10.99.0.1 <-> 10.99.0.2 over a veth, MTU 1420) and c (flooder, veth to b); the flood goes to gateway b 172.31.0.2:51820; iperf3 one TCP stream a -> b through the tunnel",
       params: {rate: $rate, flood_secs: $fsecs, tcp_secs: $tsecs, kinds: $ks,
                nice: (if $nice == "" then null else $nice end)},
       targets: {max_cores: $maxc, min_tcp_ratio: $mint},
       units: {cores: "CPU time of gateway b (utime+stime, all threads) / wall time of the window", host_cores: "busy cores of the whole machine over the window (2 = all)", gbps: "Gbit/s at the receiver (0: iperf3 could not connect through the tunnel within 5 s)", rcvbuf_drops: "datagrams the kernel dropped at gateway b (UDP RcvbufErrors of namespace b) over the window", us_per_datagram: "CPU microseconds of gateway b per datagram it read (sent - dropped)", tcp_ratio: "Gbit/s under the flood / mean Gbit/s without (before and after)"},
       gateways: $g,
       summary: ($g | keys | map({key: ., value: (. as $gw | {
           idle_cores: $g[$gw].idle.cores,
           tcp_without_gbps: (base($gw) | if . == null then null else (. * 1000 | round / 1000) end),
           floods: ($ks | map({key: ., value: (. as $k | {
               cores: $g[$gw].cpu[$k].cores,
               rate_achieved: $g[$gw].cpu[$k].flood.rate_achieved,
               dropped_pct: ($g[$gw].cpu[$k] | if .flood.sent > 0 then (.rcvbuf_drops / .flood.sent * 100 | round) else null end),
               us_per_datagram: $g[$gw].cpu[$k].us_per_datagram,
               tcp_ratio: tcp_ratio($gw; $k),
               meets_cpu: (if $g[$gw].cpu[$k].cores == null then null else $g[$gw].cpu[$k].cores <= $maxc end),
               meets_tcp: (tcp_ratio($gw; $k) | if . == null then null else . >= $mint end)})})
             | from_entries)})}) | from_entries)
     }' >"$OUT"

# the table, from the JSON
table() {
    local j=$OUT k
    s() { jq -r "try (($1) // \"-\") catch \"-\"" "$j"; }
    f() { s ".summary[\"$1\"].floods[\"$k\"].$2"; }  # gateway field, of flood $k
    printf '%s, %s cores, load %s -> %s\n' "$(s .machine.cpu)" "$(s .machine.cores)" \
        "$(s .machine.load_avg_start)" "$(s .machine.load_avg_end)"
    printf 'flood %s datagrams/s for %s s at gateway b; TCP: iperf3 one stream a->b, %s s\n\n' \
        "$(s .params.rate)" "$(s .params.flood_secs)" "$(s .params.tcp_secs)"
    echo "gateway b's CPU with the tunnel idle (cores), the flood's share the kernel dropped"
    echo "at b's UDP socket (%), CPU per datagram b read (us), the flood's achieved rate (k/s)"
    printf '%-13s %8s %8s %8s   %6s %6s   %7s %7s   %6s %6s\n' kind vifgate wg-go vg/wg \
        "drop%" "" "us/dgm" "" "k/s" ""
    printf '%-13s %8s %8s %8s   %6s %6s   %7s %7s   %6s %6s\n' "" "" "" "" vg wg vg wg vg wg
    printf '%-13s %8s %8s\n' "(no flood)" "$(s .summary.vifgate.idle_cores)" \
        "$(s '.summary["wireguard-go"].idle_cores')"
    for k in $KINDS; do
        printf '%-13s %8s %8s %8s   %6s %6s   %7s %7s   %6s %6s\n' "$k" \
            "$(f vifgate cores)" "$(f wireguard-go cores)" \
            "$(s "(.summary.vifgate.floods[\"$k\"].cores) as \$a | (.summary[\"wireguard-go\"].floods[\"$k\"].cores) as \$b | if (\$a == null or \$b == null or \$b == 0) then null else (\$a / \$b * 100 | round / 100) end")" \
            "$(f vifgate dropped_pct)" "$(f wireguard-go dropped_pct)" \
            "$(f vifgate us_per_datagram)" "$(f wireguard-go us_per_datagram)" \
            "$(f vifgate 'rate_achieved / 1000 | . * 10 | round / 10')" \
            "$(f wireguard-go 'rate_achieved / 1000 | . * 10 | round / 10')"
    done
    echo
    echo "TCP a->b through the tunnel under the flood / without (0: no connection in 5 s)"
    printf '%-13s %8s %8s\n' kind vifgate wg-go
    printf '%-13s %8s %8s   (Gbit/s, mean of before and after the floods)\n' "without" \
        "$(s .summary.vifgate.tcp_without_gbps)" "$(s '.summary["wireguard-go"].tcp_without_gbps')"
    for k in $KINDS; do
        printf '%-13s %8s %8s\n' "$k" "$(f vifgate tcp_ratio)" "$(f wireguard-go tcp_ratio)"
    done
    echo
    printf 'targets: CPU <= %s core, TCP under/without >= %s\n' "$MAX_CORES" "$MIN_TCP_RATIO"
    for gw in vifgate wireguard-go; do
        jq -r --arg gw "$gw" '.summary[$gw] // empty | .floods | to_entries
            | "\($gw): CPU target met for " + ([.[] | select(.value.meets_cpu == true) | .key] | join(", ") | if . == "" then "none" else . end)
              + "; TCP target met for " + ([.[] | select(.value.meets_tcp == true) | .key] | join(", ") | if . == "" then "none" else . end)' "$j"
    done
    jq -r '"lab processes at niceness \(.params.nice // "unchanged")"' "$j"
    vifgate_build_line "$j"
}
table | tee "${OUT%.json}.txt"
log "results: $OUT"
