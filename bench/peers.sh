#!/usr/bin/env bash
# bench/peers.sh: vifgate against its peers, side by side, in one run.
#
#   sudo bench/peers.sh            # installs what is missing, builds, measures
#
# Layout (the same for every peer; both tunnel ends on this box):
#
#   ns ${P}a  172.30.0.1 ──veth ${P}va/${P}vb── 172.30.0.2  ns ${P}b
#             tunnel 10.99.0.1/24  ══ UDP 51820 ══  tunnel 10.99.0.2/24
#             iperf3 client, ping                   iperf3 server
#
# Peers: veth (no tunnel: iperf3 straight over the veth, the limit),
# wireguard-go, boringtun-cli and vifgate (`vifgate gateway`, no [policy]),
# each on both ends, MTU 1420, one at a time. For each: iperf3 one TCP stream
# a->b and b->a (-R), UDP at -b 0 with 64- and 1392-byte payloads (the
# receiver's packets/s and loss; 1392 + 8 + 20 = 1420 bytes, the largest
# datagram that fits the tunnel MTU: -l 1400 would be cut into two IP
# fragments inside the tunnels and not over the veth), and
# ping -c 300 -i 0.01 idle. Latency under load: during the a->b TCP run
# (after 2 s), ping -c 300 -i 0.01 and an interactive flow (bench/rr.py: a
# 64-byte request and its 64-byte reply over TCP, one every 10 ms, 300 of
# them), both also idle; each reported as p50, p99 and max. Then, with perf
# installed, a perf profile of both vifgate gateways during a TCP run.
#
# Everything (namespaces, links, TUN devices, processes, UAPI sockets) is
# named with a per-run prefix and removed on exit, on error and on Ctrl-C.
# The results go to bench/results/peers-DATE.json (+ .txt table, + perf
# summaries). Environment knobs: see usage() below.
set -Eeuo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shared: the lab, the tunnels, cleanup (see bench/lab.sh)
source "$ROOT/bench/lab.sh"
TCP_SECS=${TCP_SECS:-10}
UDP_SECS=${UDP_SECS:-5}
UDP_SIZES=${UDP_SIZES:-"64 1392"}
PING_COUNT=${PING_COUNT:-300}
# with VIFGATE_BASE (another vifgate binary, e.g. main's), also the peer
# vifgate-base: that binary, measured in the same run
PEERS=${PEERS:-"veth wireguard-go boringtun${VIFGATE_BASE:+ vifgate-base} vifgate"}
PROFILE=${PROFILE:-1}
PROFILE_SECS=${PROFILE_SECS:-6}
INSTALL=${INSTALL:-1}
STAMP=$(date +%Y%m%d-%H%M%S)
STARTED=$(date)
OUT=${OUT:-$ROOT/bench/results/peers-$STAMP.json}

usage() {
    cat <<EOF
usage: sudo $0 [--no-install] [--no-profile]

Measures raw veth, wireguard-go, boringtun-cli and vifgate in network
namespaces (one TCP stream both ways, UDP packets/s, ping RTT and a small
request/response, idle and beside the TCP stream) and prints a table with
the ratios vifgate/peer. Needs root, /dev/net/tun, ~3 minutes.

Environment (defaults in brackets):
  TCP_SECS [10, >= 7]   UDP_SECS [5]   UDP_SIZES ["64 1392"]   PING_COUNT [300]
  PEERS ["veth wireguard-go boringtun vifgate"; also: vifgate-base (with
           VIFGATE_BASE), vifgate-noqueue and vifgate-queue (this vifgate with
           [queue] enabled = false, = true); PEER-rt for each of these: its
           tunnel processes at SCHED_FIFO; PEER-rtall (veth-rtall too): the
           probes (ping, rr.py) as well; vifgate-realtime: this vifgate with
           [process] realtime_priority = RT_PRIO]
  RT_PRIO [10: the -rt peers' SCHED_FIFO priority]
  PROFILE [1]   PROFILE_SECS [6]
  INSTALL [1]     OUT [bench/results/peers-DATE.json]
  VIFGATE [unset: cargo build --release this tree and measure target/release/vifgate;
           set: measure that binary, no build]
  VIFGATE_BASE [unset; set: another vifgate binary, measured as the peer
           vifgate-base in the same run (the table's last column: vifgate/base)]
  PERF_DATA [unset; set: keep the raw perf data as \$PERF_DATA-a, -b]
EOF
}
for arg in "$@"; do
    case $arg in
    --no-install) INSTALL=0 ;;
    --no-profile) PROFILE=0 ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; exit 2 ;;
    esac
done
lab_require_root
# the latency probes run from 2 s into the TCP stream for about 3.5 s
((TCP_SECS >= 7)) || die "TCP_SECS must be at least 7 (the probes under load need 6 s of it)"

# ---------------------------------------------------------------- install
perf_works() { have perf && perf stat -e task-clock -- true >/dev/null 2>&1; }

install_deps() {
    local missing=()
    have ip || missing+=(iproute2)
    have iperf3 || missing+=(iperf3)
    have wireguard-go || missing+=(wireguard-go)
    have wg || missing+=(wireguard-tools)
    { have ping && ping -V 2>&1 | grep -q iputils; } || missing+=(iputils-ping)
    have python3 || missing+=(python3)
    have jq || missing+=(jq)
    [[ $PROFILE == 1 ]] && ! perf_works && missing+=(linux-perf)
    apt_install "${missing[@]}"
    if ! have boringtun-cli; then
        log "cargo install boringtun-cli --locked"
        cargo install boringtun-cli --locked
    fi
    if [[ -z ${VIFGATE:-} ]]; then
        log "cargo build --release"
        (cd "$ROOT" && cargo build --release --quiet)
    fi
}
if [[ $INSTALL == 1 ]]; then install_deps; fi
for t in ip iperf3 wireguard-go wg ping jq python3 boringtun-cli; do
    have "$t" || die "$t is not installed (run without --no-install)"
done
if [[ $PROFILE == 1 ]] && ! perf_works; then
    log "perf does not work here: no profile"
    PROFILE=0
fi
lab_vifgate_binary
if [[ -n ${VIFGATE_BASE:-} ]]; then
    [[ -x $VIFGATE_BASE ]] || die "VIFGATE_BASE $VIFGATE_BASE is not an executable"
fi
lab_init

# the other vifgates (bash's dynamic scope: up_vifgate sees these locals)
up_vifgate-base() { local VIFGATE=$VIFGATE_BASE; up_vifgate; }
down_vifgate-base() { down_vifgate; }
up_vifgate-noqueue() { local VIFGATE_EXTRA="[queue]
enabled = false"; up_vifgate; }
down_vifgate-noqueue() { down_vifgate; }
up_vifgate-queue() { local VIFGATE_EXTRA="[queue]
enabled = true"; up_vifgate; }
down_vifgate-queue() { down_vifgate; }

# vifgate-realtime: this vifgate with its own setting, [process]
# realtime_priority = $RT_PRIO (its packet thread at SCHED_FIFO)
up_vifgate-realtime() { local VIFGATE_EXTRA="[process]
realtime_priority = ${RT_PRIO:-10}"; up_vifgate; }
down_vifgate-realtime() { down_vifgate; }

# PEER-rt (each peer above): the same, with the tunnel processes (all
# their threads, both ends) at real-time priority, SCHED_FIFO $RT_PRIO:
# they take a core before iperf3 and anything else on the box, as a
# gateway's own scheduling setting would ([process] scheduling). PEER-rtall
# (veth too): the probes (ping, bench/rr.py's client and server) as well.
# What scheduling alone changes (BENCHMARKS.md, "Latency").
RT_PRIO=${RT_PRIO:-10}
PROBE_WRAP=()
realtime_on() { # [all]: the tunnel processes, with "all" the probes too
    local p
    for p in "${TUNNEL_PIDS[@]}"; do chrt -f -a -p "$RT_PRIO" "$p" >/dev/null; done
    if [[ ${1:-} == all ]]; then
        chrt -f -a -p "$RT_PRIO" "${PID[rr-server]}" >/dev/null
        PROBE_WRAP=(chrt -f "$RT_PRIO")
    fi
}
realtime_off() {
    chrt -o -a -p 0 "${PID[rr-server]}" >/dev/null 2>&1 || true
    PROBE_WRAP=()
}
for base in veth wireguard-go boringtun vifgate vifgate-base vifgate-noqueue vifgate-queue vifgate-realtime; do
    eval "up_$base-rt() { up_$base; realtime_on; }; down_$base-rt() { realtime_off; down_$base; }"
    eval "up_$base-rtall() { up_$base; realtime_on all; }; down_$base-rtall() { realtime_off; down_$base; }"
done

# ------------------------------------------------------------ measuring
CPU_T0=() HOST0=() T0=0
cpu_start() {
    CPU_T0=()
    local p
    for p in "${TUNNEL_PIDS[@]}"; do CPU_T0+=("$(proc_ticks "$p")"); done
    HOST0=($(host_busy))
    T0=$(date +%s.%N)
}
cpu_json() { # {"gw_a": %, "gw_b": %, "host": %} since cpu_start (100 % = one core)
    local t1 h1 i json='{' p
    t1=$(date +%s.%N)
    h1=($(host_busy))
    for i in "${!TUNNEL_PIDS[@]}"; do
        p=${TUNNEL_PIDS[$i]}
        json+="\"gw_$([[ $i == 0 ]] && echo a || echo b)\": $(awk -v d=$(($(proc_ticks "$p") - CPU_T0[i])) \
            -v hz="$CLK_TCK" -v t="$t1" -v t0="$T0" 'BEGIN{printf "%.0f", 100*d/hz/(t-t0)}'),"
    done
    json+="\"host\": $(awk -v b=$((h1[0] - HOST0[0])) -v t=$((h1[1] - HOST0[1])) -v n="$(nproc)" \
        'BEGIN{printf "%.0f", t ? 100*n*b/t : 0}')}"
    echo "$json"
}

# where packets are lost: UDP socket overflows (RcvbufErrors, SndbufErrors of
# /proc/net/snmp, per namespace: the tunnel's outer UDP and, in the UDP tests,
# iperf3's inner UDP too) and the TUN devices' tx drops (the kernel queued a
# packet for the tunnel process faster than it reads them: txqueuelen 500)
drop_counters() { # -> JSON object of absolute counters
    local ns snmp json='{'
    for ns in a b; do
        snmp=$(udp_errors "$ns")
        set -- $snmp
        json+="\"udp_rcvbuf_errors_$ns\": $1, \"udp_sndbuf_errors_$ns\": $2, "
        if [[ -n $TUN_DEV ]]; then
            json+="\"tun_tx_dropped_$ns\": $(ip -n "$P$ns" -j -s link show "$TUN_DEV$ns" |
                jq '.[0].stats64.tx.dropped // .[0].stats.tx.dropped // null'), "
        fi
    done
    echo "${json%, }}"
}
DROPS0='{}'
drops_start() { DROPS0=$(drop_counters); }
drops_json() { # counters since drops_start
    jq -n --argjson a "$DROPS0" --argjson b "$(drop_counters)" \
        '$b | with_entries(.value -= ($a[.key] // 0))' | jq -c .
}

iperf() { # out-file args...: iperf3 client in a, JSON to out-file
    local out=$1
    shift
    fg_run timeout $((TCP_SECS + UDP_SECS + 30)) ip netns exec "${P}a" \
        iperf3 -c "$DST" -p "$IPERF_PORT" --connect-timeout 5000 -J "$@" >"$out" 2>"$out.err" || true
    if ! jq -e '.end.sum_received' "$out" >/dev/null 2>&1; then
        log "  iperf3 $* failed: $(jq -r '.error // empty' "$out" 2>/dev/null) $(head -c 300 "$out.err")"
        return 1
    fi
}

measure() { # peer
    local peer=$1 f cpu
    if [[ $peer == veth* ]]; then DST=$UNDER_B; else DST=$TUN_B; fi
    # the first packets start the handshake
    wait_for 15 nsx a ping -c 1 -W 1 -q "$DST" || die "$peer: no ping through the tunnel"
    sleep 1

    for dir in fwd rev; do
        f=$WORK/$peer-tcp-$dir.json
        cpu_start
        drops_start
        if [[ $dir == fwd ]]; then probes_start; fi
        if iperf "$f" -t "$TCP_SECS" $([[ $dir == rev ]] && echo -R); then
            cpu=$(cpu_json)
            put "$peer" "tcp_${dir}_drops" "$(drops_json)"
            put "$peer" "tcp_${dir}_gbps" "$(jq '.end.sum_received.bits_per_second / 1e9' "$f")"
            put "$peer" "tcp_${dir}_retransmits" "$(jq '.end.sum_sent.retransmits // null' "$f")"
            put "$peer" "tcp_${dir}_cpu" "$cpu"
            log "  $peer tcp $dir: $(jq -r '.end.sum_received.bits_per_second / 1e9 * 100 | round / 100' "$f") Gbit/s, $(jq -r '.end.sum_sent.retransmits' "$f") retransmits  cpu% $cpu  drops $(jq -c --arg p "$peer" --arg k "tcp_${dir}_drops" '.[$p][$k]' "$RESULTS")"
        fi
        if [[ $dir == fwd ]]; then probes_end "$peer"; fi
        sleep 1
    done
    for size in $UDP_SIZES; do
        f=$WORK/$peer-udp-$size.json
        cpu_start
        drops_start
        if iperf "$f" -u -b 0 -l "$size" -t "$UDP_SECS"; then
            cpu=$(cpu_json)
            put "$peer" "udp${size}_drops" "$(drops_json)"
            put "$peer" "udp${size}_rx_pps" "$(jq '.end.sum_received | (.packets - .lost_packets) / .seconds | round' "$f")"
            put "$peer" "udp${size}_tx_pps" "$(jq '.end.sum_sent | .packets / .seconds | round' "$f")"
            put "$peer" "udp${size}_loss_pct" "$(jq '.end.sum_received.lost_percent * 10 | round / 10' "$f")"
            put "$peer" "udp${size}_cpu" "$cpu"
            log "  $peer udp $size B: $(jq -r '.end.sum_received | (.packets - .lost_packets) / .seconds | round' "$f") pps received, $(jq -r '.end.sum_received.lost_percent | round' "$f") % lost  cpu% $cpu  drops $(jq -c --arg p "$peer" --arg k "udp${size}_drops" '.[$p][$k]' "$RESULTS")"
        fi
        sleep 1
    done
    f=$WORK/$peer-ping.txt
    fg_run "${PROBE_WRAP[@]}" ip netns exec "${P}a" ping -c "$PING_COUNT" -i 0.01 "$DST" >"$f" 2>&1 || true
    local ping
    ping=$(ping_json "$f")
    if [[ $(jq .n <<<"$ping") -gt 0 ]]; then
        put "$peer" ping_avg_ms "$(jq .avg_ms <<<"$ping")"
        put "$peer" ping_mdev_ms "$(jq .mdev_ms <<<"$ping")"
        put "$peer" ping_loss_pct "$(jq .loss_pct <<<"$ping")"
        put "$peer" ping_idle "$ping"
        log "  $peer ping idle: $(latency_line "$ping")"
    else
        log "  $peer ping failed: $(tail -n 2 "$f")"
    fi
    f=$WORK/$peer-rr-idle.json
    fg_run "${PROBE_WRAP[@]}" ip netns exec "${P}a" python3 "$ROOT/bench/rr.py" ask "$DST" "$RR_PORT" "$PING_COUNT" 0.01 \
        >"$f" 2>"$f.err" || true
    if jq -e .n "$f" >/dev/null 2>&1; then
        put "$peer" rr_idle "$(cat "$f")"
        log "  $peer request/response idle: $(latency_line "$(cat "$f")")"
    else
        log "  $peer request/response idle failed: $(tail -n 2 "$f.err")"
    fi
}

# ping -c N output (one line a reply) -> {n, loss_pct, avg_ms, mdev_ms,
# p50_ms, p99_ms, max_ms}: nearest-rank percentiles of the replies' times
ping_json() { # ping-output-file
    local f=$1 loss avg mdev n p50 p99 max
    loss=$(sed -n 's|.* \([0-9.]*\)% packet loss.*|\1|p' "$f")
    read -r avg mdev < <(sed -n 's|.*= [0-9.]*/\([0-9.]*\)/[0-9.]*/\([0-9.]*\) ms.*|\1 \2|p' "$f") || true
    read -r n p50 p99 max < <(ping_percentiles <"$f")
    if ((n == 0)); then
        printf '{"n": 0, "loss_pct": %s}\n' "${loss:-null}"
        return
    fi
    printf '{"n": %d, "loss_pct": %s, "avg_ms": %s, "mdev_ms": %s, "p50_ms": %s, "p99_ms": %s, "max_ms": %s}\n' \
        "$n" "${loss:-null}" "${avg:-null}" "${mdev:-null}" "$p50" "$p99" "$max"
}
latency_line() { # {p50_ms, p99_ms, max_ms, ...} -> "p50 / p99 / max ms"
    jq -r '"p50 \(.p50_ms) / p99 \(.p99_ms) / max \(.max_ms) ms (n \(.n))"' <<<"$1"
}

# during the a->b TCP stream: from 2 s in, ping and the interactive flow at
# once (both from a, the bulk sender's side, as a user's traffic would be)
probes_start() {
    spawn probe-ping a "${PROBE_WRAP[@]}" sh -c "sleep 2; exec ping -c $PING_COUNT -i 0.01 $DST"
    spawn probe-rr a "${PROBE_WRAP[@]}" sh -c "sleep 2; exec python3 '$ROOT/bench/rr.py' ask $DST $RR_PORT $PING_COUNT 0.01"
}
probes_end() { # peer
    local peer=$1 ping
    wait "${PID[probe-ping]}" 2>/dev/null || true
    wait "${PID[probe-rr]}" 2>/dev/null || true
    unset "PID[probe-ping]" "PID[probe-rr]"
    ping=$(ping_json "$WORK/probe-ping.log")
    put "$peer" ping_tcp "$ping"
    log "  $peer ping under TCP: $(latency_line "$ping")"
    if jq -e .n "$WORK/probe-rr.log" >/dev/null 2>&1; then
        put "$peer" rr_tcp "$(cat "$WORK/probe-rr.log")"
        log "  $peer request/response under TCP: $(latency_line "$(cat "$WORK/probe-rr.log")")"
    else
        log "  $peer request/response under TCP failed: $(tail -n 2 "$WORK/probe-rr.log")"
    fi
}

# perf on both vifgate gateways during a TCP a->b run
perf_summary() { # perf.data pid side
    local data=$1 pid=$2 side=$3
    echo "# vifgate gateway $side (pid $pid) during iperf3 tcp a->b:"
    echo "# a encrypts (TUN -> UDP) and takes the ACKs back, b decrypts (UDP -> TUN)"
    echo "# perf record -g -p $pid; perf report --no-children (self time, top entries)"
    perf report -i "$data" --no-children --stdio -g none --percent-limit 1 \
        --sort dso,symbol 2>/dev/null |
        grep -v -e '^$' -e '^# *$' -e 'Tip:' -e 'header-only' -e '^# \.\.' |
        sed -E 's/ +- +- *$//; s/ +$//; s/IPC +\[IPC Coverage\]//' | cut -c1-150
    echo
    echo "# perf report --children: inclusive time of the entry points"
    perf report -i "$data" --children --stdio -g none --sort symbol 2>/dev/null |
        sed -E 's/ +- +- *$//; s/ +$//' |
        grep -E '\] (do_syscall_64|__x64_sys_[a-z_]+|ring_core.*chacha[a-z0-9_]+|gateway::router::Router::[a-z_]+|boringtun::noise::Tunn::[a-z_]+|tun_(get_user|do_read)|net_rx_action|udp_sendmsg|udp_recvmsg|ep_poll)$' |
        head -n 25 || true
}

profile_vifgate() {
    local base=${OUT%.json} pa=${PID[vifgate-a]} pb=${PID[vifgate-b]} side
    log "profile: perf record -g on both vifgate gateways during iperf3 tcp a->b"
    ip netns exec "${P}a" iperf3 -c "$DST" -p "$IPERF_PORT" -t $((PROFILE_SECS + 4)) -J \
        >"$WORK/profile-iperf.json" 2>/dev/null &
    PID[profile-iperf]=$!
    sleep 1
    # one perf per gateway, at once
    perf record -q -g -o "$WORK/perf-a.data" -p "$pa" -- sleep "$PROFILE_SECS" \
        >"$WORK/perf-record-a.log" 2>&1 &
    PID[perf-a]=$!
    perf record -q -g -o "$WORK/perf-b.data" -p "$pb" -- sleep "$PROFILE_SECS" \
        >"$WORK/perf-record-b.log" 2>&1 || true
    wait "${PID[perf-a]}" 2>/dev/null || true
    unset "PID[perf-a]"
    # counts per second, both at once: syscalls, and those that failed
    # (EAGAIN: a read that ends a batch, a send the shell drops)
    local side pid events=(-e task-clock -e context-switches -e raw_syscalls:sys_enter)
    for sc in read write sendto recvfrom; do
        events+=(-e "syscalls:sys_exit_$sc" -e "syscalls:sys_exit_$sc" --filter 'ret < 0')
    done
    events+=(-e syscalls:sys_enter_epoll_wait)
    perf stat -x, "${events[@]}" -p "$pa" -- sleep 1 2>"$WORK/perf-stat-a.csv" >/dev/null &
    PID[perf-stat]=$!
    perf stat -x, "${events[@]}" -p "$pb" -- sleep 1 2>"$WORK/perf-stat-b.csv" >/dev/null || true
    wait "${PID[perf-stat]}" 2>/dev/null || true
    unset "PID[perf-stat]"
    wait "${PID[profile-iperf]}" 2>/dev/null || true
    unset "PID[profile-iperf]"
    local gbps stats=()
    gbps=$(jq '.end.sum_received.bits_per_second / 1e9' "$WORK/profile-iperf.json" 2>/dev/null) || gbps=null
    for side in a b; do
        # CSV lines in the order of the events
        stats+=("$(awk -F, 'BEGIN {
                split("cpu_ms context_switches syscalls read read_failed write write_failed sendto sendto_failed recvfrom recvfrom_failed epoll_wait", k, " ") }
            /^[0-9.]+,/ { n++; v = ($1 ~ /^[0-9.]+$/) ? $1 : "null"; out = out (n > 1 ? ", " : "") "\"" k[n] "\": " v }
            END { print "{" out "}" }' "$WORK/perf-stat-$side.csv")")
    done
    # data segments/s of the TCP stream: MSS 1368 (1420 - 40 - 12 of timestamps)
    put vifgate profile "$(jq -n --argjson g "${gbps:-null}" --argjson a "${stats[0]}" --argjson b "${stats[1]}" \
        '{tcp_gbps_under_perf: $g,
          tcp_segments_per_s: (if $g then ($g * 1e9 / 8 / 1368 | round) else null end),
          per_second: {gw_a: $a, gw_b: $b}}')"
    perf_summary "$WORK/perf-a.data" "$pa" a >"$base-perf-a.txt"
    perf_summary "$WORK/perf-b.data" "$pb" b >"$base-perf-b.txt"
    for side in a b; do
        { echo; echo "# perf stat -x, -p PID -- sleep 1: task-clock, context switches, syscalls,"
          echo "# read/write/sendto/recvfrom exits (all, then failed: ret < 0), epoll_wait"
          cat "$WORK/perf-stat-$side.csv"; } >>"$base-perf-$side.txt"
        if [[ -n ${PERF_DATA:-} ]]; then cp "$WORK/perf-$side.data" "$PERF_DATA-$side"; fi
    done
    log "  $(jq -c .vifgate.profile "$RESULTS")"
    log "  profiles: $base-perf-a.txt, $base-perf-b.txt"
}

# ------------------------------------------------------------ the run
log "lab $P: namespaces ${P}a, ${P}b; results to $OUT"
mkdir -p "$(dirname "$OUT")"
make_lab
RR_PORT=5202
spawn rr-server b python3 "$ROOT/bench/rr.py" serve "$RR_PORT"
wait_for 5 nsx b sh -c "ss -ltn | grep -q :$RR_PORT" || die "bench/rr.py server did not start"
for peer in $PEERS; do
    log "$peer"
    "up_$peer"
    measure "$peer"
    if [[ $peer == vifgate && $PROFILE == 1 ]]; then profile_vifgate; fi
    "down_$peer"
    sleep 1
done

# ------------------------------------------------------------ the report
jq -n \
    --slurpfile r "$RESULTS" \
    --arg date "$STARTED" \
    --arg command "$0 $*" \
    --argjson machine "$(machine_json)" \
    --arg wggo "$(wireguard_go_version)" \
    --arg bt "$(ver boringtun-cli --version)" \
    --arg iperf "$(ver iperf3 --version)" \
    --arg vifgate "$(ver "$VIFGATE" --version)" \
    --arg rustc "$(ver rustc --version)" \
    --argjson build "$(vifgate_build_json)" \
    --arg base "${VIFGATE_BASE:-}" --arg base_sha "$([[ -n ${VIFGATE_BASE:-} ]] && sha256sum "$VIFGATE_BASE" | cut -c1-16)" \
    --argjson tcp "$TCP_SECS" --argjson udp "$UDP_SECS" --argjson ping "$PING_COUNT" \
    --arg sizes "$UDP_SIZES" --argjson mtu "$MTU" \
    '$r[0] as $p
     | def ratio(a; b): if (a == null or b == null or b == 0) then null
                        else (a / b * 100 | round / 100) end;
       def diff(a; b): if (a == null or b == null) then null
                       else ((a - b) * 1000 | round / 1000) end;
       def vs(peer): {
         tcp_fwd: ratio($p.vifgate.tcp_fwd_gbps; $p[peer].tcp_fwd_gbps),
         tcp_rev: ratio($p.vifgate.tcp_rev_gbps; $p[peer].tcp_rev_gbps),
         udp_rx_pps: ([$sizes | splits(" +") | select(. != "")] | map({key: ., value:
           ratio($p.vifgate["udp\(.)_rx_pps"]; $p[peer]["udp\(.)_rx_pps"])}) | from_entries),
         rtt_diff_ms: diff($p.vifgate.ping_avg_ms; $p[peer].ping_avg_ms) };
     {
       date: $date, command: $command,
       machine: $machine,
       versions: {"wireguard-go": $wggo, boringtun: $bt, iperf3: $iperf,
                  vifgate: $vifgate, rustc: $rustc},
       vifgate_build: $build,
       vifgate_base: (if $base == "" then null else {binary: $base, sha256_16: $base_sha} end),
       layout: "two namespaces joined by one veth (MTU 1500); tunnel ends in both, 10.99.0.1/24 <-> 10.99.0.2/24, MTU \($mtu); iperf3 client and ping in a, server in b; veth = no tunnel, over 172.30.0.1 <-> 172.30.0.2",
       params: {tcp_secs: $tcp, udp_secs: $udp, udp_payloads: $sizes, ping: "-c \($ping) -i 0.01",
                latency: "ping_idle, rr_idle: alone; ping_tcp, rr_tcp: from 2 s into the a->b TCP stream, both at once; rr = bench/rr.py, a 64-byte request and its 64-byte reply over one TCP connection (TCP_NODELAY), \($ping) of them 10 ms apart; p50/p99 nearest rank"},
       units: {gbps: "Gbit/s at the receiver", rx_pps: "datagrams/s the receiver got", cpu: "% of one core (gw_a, gw_b: the tunnel processes; host: whole machine, 200 = both cores)"},
       peers: $p,
       added_rtt_ms: ($p | with_entries(select(.key | startswith("veth") | not) | .value = diff(.value.ping_avg_ms; $p.veth.ping_avg_ms))),
       ratios: ({"vifgate/wireguard-go": vs("wireguard-go"), "vifgate/boringtun": vs("boringtun")}
                + if $p["vifgate-base"] then {"vifgate/vifgate-base": vs("vifgate-base")} else {} end)
     }' >"$OUT"

# the table, from the JSON
table() {
    local j=$OUT cols=($PEERS) vs=("vifgate/wireguard-go" "vifgate/boringtun") W=16 c
    # columns as wide as the longest peer's name and a space
    for c in "${cols[@]}"; do ((${#c} < W)) || W=$((${#c} + 1)); done
    [[ -n ${VIFGATE_BASE:-} ]] && vs+=("vifgate/vifgate-base")
    g() { jq -r --arg p "$1" "try ((.peers[\$p]$2) // \"-\") catch \"-\"" "$j"; }
    row() { # label jq-path format ratio-path
        local label=$1 path=$2 fmt=$3 rpath=$4 c v
        printf '%-26s' "$label"
        for c in "${cols[@]}"; do
            v=$(g "$c" "$path")
            if [[ $v == - ]]; then printf "%${W}s" -; else printf "%${W}s" "$(printf "$fmt" "$v")"; fi
        done
        for c in "${vs[@]}"; do
            v=$(jq -r --arg c "$c" "(.ratios[\$c]$rpath) // \"-\"" "$j")
            printf "%${W}s" "$v"
        done
        echo
    }
    printf '%-26s' ""
    printf "%${W}s" "${cols[@]}" "vg/wg-go" "vg/boringtun"
    [[ -n ${VIFGATE_BASE:-} ]] && printf "%${W}s" "vg/base"
    echo
    row "TCP a->b (Gbit/s)" .tcp_fwd_gbps '%.2f' .tcp_fwd
    row "TCP b->a -R (Gbit/s)" .tcp_rev_gbps '%.2f' .tcp_rev
    row "TCP a->b retransmits" .tcp_fwd_retransmits '%s' .none
    row "TCP b->a retransmits" .tcp_rev_retransmits '%s' .none
    for size in $UDP_SIZES; do
        row "UDP $size B rx (kpps)" ".udp${size}_rx_pps / 1000" '%.1f' ".udp_rx_pps[\"$size\"]"
        row "UDP $size B loss (%)" ".udp${size}_loss_pct" '%.1f' '.none'
    done
    row "ping avg (ms)" .ping_avg_ms '%.3f' .rtt_diff_ms
    row "ping mdev (ms)" .ping_mdev_ms '%.3f' .none
    local probe what
    for probe in ping_idle ping_tcp rr_idle rr_tcp; do
        case $probe in
        ping_idle) what="ping idle" ;;
        ping_tcp) what="ping under TCP" ;;
        rr_idle) what="req/resp idle" ;;
        rr_tcp) what="req/resp under TCP" ;;
        esac
        row "$what p50 (ms)" ".$probe.p50_ms" '%.3f' .none
        row "$what p99 (ms)" ".$probe.p99_ms" '%.3f' .none
        row "$what max (ms)" ".$probe.max_ms" '%.3f' .none
    done
    printf '%-26s' "added RTT over veth (ms)"
    for c in "${cols[@]}"; do
        printf "%${W}s" "$(jq -r --arg c "$c" '.added_rtt_ms[$c] // "-"' "$j")"
    done
    echo
    row "CPU% tunnels a+b, TCP a->b" '| (.tcp_fwd_cpu.gw_a + .tcp_fwd_cpu.gw_b)' '%s' .none
    row "CPU% host, TCP a->b" '.tcp_fwd_cpu.host' '%s' .none
    row "CPU% tunnels a+b, TCP b->a" '| (.tcp_rev_cpu.gw_a + .tcp_rev_cpu.gw_b)' '%s' .none
    echo
    echo "ratios are vifgate/peer (>1: vifgate faster); for ping avg the ratio columns"
    echo "are vifgate's RTT minus the peer's, in ms (<0: vifgate lower); CPU% is of one"
    echo "core (200 = the whole 2-core box), tunnels = the two tunnel processes;"
    echo "under TCP = during the a->b stream (its Gbit/s is the first row); req/resp ="
    echo "bench/rr.py, 64 B each way over TCP"
    vifgate_build_line "$j"
}
table | tee "${OUT%.json}.txt"
log "results: $OUT"
