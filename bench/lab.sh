# bench/lab.sh: the namespace lab the bench scripts share (sourced by
# bench/peers.sh, bench/flood.sh and bench/synflood.sh, not run on its own).
#
#   ns ${P}a  172.30.0.1 ──veth ${P}va/${P}vb── 172.30.0.2  ns ${P}b
#             tunnel 10.99.0.1/24  ══ UDP 51820 ══  tunnel 10.99.0.2/24
#             iperf3 client, ping                   iperf3 server
#
# It holds: log/die/have/apt_install; lab_require_root; lab_vifgate_binary (which
# vifgate is measured); lab_init (the per-run prefix $P, the work dir $WORK,
# the cleanup traps); spawn/stop_proc/fg_run/wait_for/nsx; make_lab; up_PEER
# and down_PEER for veth, wireguard-go, boringtun and vifgate (set
# TUNNEL_PIDS=(a b) and TUN_DEV); put (results JSON); proc_ticks, udp_errors,
# ping_percentiles, host_busy; for reports
# ver, wireguard_go_version, machine_json, vifgate_build_json and
# vifgate_build_line.
#
# Everything (namespaces, links, TUN devices, processes, UAPI sockets) is
# named with the per-run prefix and removed on exit, on error and on Ctrl-C:
# a script registers each namespace it makes in NS_MADE and each process in
# PID (spawn does).

MTU=1420
PORT=51820
IPERF_PORT=5201
UNDER_A=172.30.0.1 UNDER_B=172.30.0.2
TUN_A=10.99.0.1 TUN_B=10.99.0.2

log() { printf '%s\n' "== [$(printf '%3d' "$SECONDS")s] $*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }
have() { command -v "$1" >/dev/null 2>&1; }
apt_install() { # package...: apt-get install them (nothing if none)
    (($#)) || return 0
    log "apt-get install $*"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

lab_require_root() { # [what root is needed for]
    [[ $EUID -eq 0 ]] || die "needs root (${1:-namespaces, TUN devices})"
    [[ -c /dev/net/tun ]] || die "no /dev/net/tun"
    export PATH="$HOME/.cargo/bin:$PATH"
}

# what is measured: this tree's release build ($ROOT/target/release), or
# the binary in $VIFGATE; sets VIFGATE, BUILT_HERE, VIFGATE_SHA, GIT_HEAD,
# GIT_DIRTY
lab_vifgate_binary() {
    BUILT_HERE=false
    if [[ -z ${VIFGATE:-} ]]; then VIFGATE=$ROOT/target/release/vifgate; BUILT_HERE=true; fi
    [[ -x $VIFGATE ]] || die "$VIFGATE missing (cargo build --release)"
    VIFGATE_SHA=$(sha256sum "$VIFGATE" | cut -c1-16)
    GIT_HEAD=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
    # uncommitted changes to what the binary is built from
    GIT_DIRTY=$(git -C "$ROOT" status --porcelain -- src gateway topology Cargo.toml Cargo.lock 2>/dev/null |
        awk '{print $2}' | paste -sd, -)
    if $BUILT_HERE && [[ -n $GIT_DIRTY ]]; then
        log "note: measuring a build of uncommitted changes ($GIT_DIRTY)"
    fi
}

# ---------------------------------------------------------------- the lab
declare -A PID=()   # name -> pid of every process started in the lab
FG=""               # the foreground measurement, killed on Ctrl-C
NS_MADE=()

lab_init() { # [prefix [name]]: $P starts with prefix (vb), $WORK is /tmp/vifgate-NAME-$P.* (bench)
    # A short prefix: interface names have 15 bytes (prefix <= 9, suffix 2-3).
    P=${1:-vb}$(($$ % 100000))$(printf %x $((RANDOM % 16)))
    WORK=$(mktemp -d "/tmp/vifgate-${2:-bench}-$P.XXXX")
    RESULTS=$WORK/results.json
    echo '{}' >"$RESULTS"
    exec 3>&1 4>&2   # the script's own stdout/stderr, for cleanup
    trap cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    trap 'log "failed at line $LINENO: $BASH_COMMAND"' ERR
    # With $LAB_NICE, the lab's processes run at that niceness, and so does
    # each one's session: with autogroup scheduling the kernel shares the
    # CPU between sessions first, so the process's niceness alone changes
    # nothing against other work. Each wrapper execs: $! stays the process.
    NICE_WRAP=()
    if [[ -n ${LAB_NICE:-} ]]; then
        NICE_WRAP=(sh -c 'echo "$0" >/proc/self/autogroup 2>/dev/null; exec nice -n "$0" "$@"' "$LAB_NICE")
    fi
}

stop_proc() { # name: SIGTERM, 3 s, SIGKILL
    local name=$1 pid=${PID[$1]:-} i
    [[ -n $pid ]] || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 30; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    unset "PID[$name]"
}

cleanup() {
    local rc=$?
    trap - EXIT INT TERM ERR
    exec 1>&3 2>&4   # a trap can run inside a redirected command
    [[ -n $FG ]] && kill -TERM "$FG" 2>/dev/null
    [[ -n $FG ]] && { wait "$FG" 2>/dev/null || true; }
    for name in "${!PID[@]}"; do stop_proc "$name"; done
    for ns in "${NS_MADE[@]}"; do ip netns del "$ns" 2>/dev/null || true; done
    rm -f /var/run/wireguard/"$P"*.sock
    if ((rc != 0)); then
        for f in "$WORK"/*.log; do
            [[ -s $f ]] || continue
            printf -- '--- %s (last lines)\n' "${f##*/}" >&2
            tail -n 15 "$f" >&2
        done
    fi
    rm -rf "$WORK"
    ((rc == 0)) || log "stopped (exit $rc); lab $P removed"
    exit "$rc"
}

nsx() { local ns=$1; shift; ip netns exec "$P$ns" "$@"; }

spawn() { # name ns cmd...: a background process in namespace ns
    local name=$1 ns=$2
    shift 2
    # its own session: a Ctrl-C reaches the script, which stops everything;
    # setsid and ip netns exec exec, so $! is the process itself
    setsid "${NICE_WRAP[@]}" ip netns exec "$P$ns" "$@" >"$WORK/$name.log" 2>&1 </dev/null &
    PID[$name]=$!
}

# run a foreground command so that Ctrl-C/TERM interrupt the script at once
# (spawn and fg_run run their commands at niceness $LAB_NICE when it is set:
# see lab_init)
fg_run() {
    setsid "${NICE_WRAP[@]}" "$@" &
    FG=$!
    local rc=0
    wait "$FG" || rc=$?
    FG=""
    return "$rc"
}

wait_for() { # seconds cmd...
    local deadline=$((SECONDS + $1))
    shift
    until "$@" >/dev/null 2>&1; do
        ((SECONDS < deadline)) || return 1
        sleep 0.1
    done
}

make_lab() {
    for ns in a b; do
        ip netns add "$P$ns"
        NS_MADE+=("$P$ns")
        ip -n "$P$ns" link set lo up
    done
    ip link add "${P}va" netns "${P}a" type veth peer name "${P}vb" netns "${P}b"
    ip -n "${P}a" addr add "$UNDER_A/24" dev "${P}va"
    ip -n "${P}b" addr add "$UNDER_B/24" dev "${P}vb"
    ip -n "${P}a" link set "${P}va" up
    ip -n "${P}b" link set "${P}vb" up
    spawn iperf3-server b iperf3 -s -p "$IPERF_PORT"
    wait_for 5 nsx b sh -c "ss -ltn | grep -q :$IPERF_PORT" || die "iperf3 server did not start"
}

# ------------------------------------------------------------ the tunnels
# each up_* brings both ends up and sets TUNNEL_PIDS; down_* removes them

wg_keys() { # tool: keys in $WORK/ka, kb; public keys in PUB_A, PUB_B
    (umask 077; "$1" genkey >"$WORK/ka"; "$1" genkey >"$WORK/kb")
    PUB_A=$("$1" pubkey <"$WORK/ka")
    PUB_B=$("$1" pubkey <"$WORK/kb")
}

# wg set + address + MTU on a UAPI (wireguard-go, boringtun) interface
uapi_configure() { # ns ifname key my_addr peer_pub peer_underlay peer_tun
    local ns=$1 dev=$2
    wait_for 10 test -S "/var/run/wireguard/$dev.sock" || die "$dev: no UAPI socket"
    nsx "$ns" wg set "$dev" private-key "$3" listen-port "$PORT" \
        peer "$5" endpoint "$6:$PORT" allowed-ips "$7/32"
    ip -n "$P$ns" addr add "$4/24" dev "$dev"
    ip -n "$P$ns" link set "$dev" mtu "$MTU" up
}

up_uapi() { # name suffix cmd...: a UAPI userspace WireGuard on both ends
    local name=$1 sfx=$2
    shift 2
    wg_keys wg
    spawn "$name-a" a "$@" "$P${sfx}a"
    spawn "$name-b" b "$@" "$P${sfx}b"
    uapi_configure a "$P${sfx}a" "$WORK/ka" "$TUN_A" "$PUB_B" "$UNDER_B" "$TUN_B"
    uapi_configure b "$P${sfx}b" "$WORK/kb" "$TUN_B" "$PUB_A" "$UNDER_A" "$TUN_A"
    TUNNEL_PIDS=("${PID[$name-a]}" "${PID[$name-b]}")
    TUN_DEV=$P$sfx
}

up_wireguard-go() {
    up_uapi wggo g env LOG_LEVEL=error wireguard-go -f
}
down_wireguard-go() { stop_proc wggo-a; stop_proc wggo-b; }

up_boringtun() {
    # defaults otherwise (4 threads, multi-queue TUN, connected UDP)
    up_uapi bt t env WG_LOG_LEVEL=error boringtun-cli --foreground \
        --disable-drop-privileges --log "$WORK/boringtun.out"
}
down_boringtun() { stop_proc bt-a; stop_proc bt-b; }

vifgate_config() { # side my_addr peer_pub peer_underlay peer_tun
    cat >"$WORK/$1.toml" <<EOF
# no [policy]: nothing filtered, nothing tracked
[interface]
name = "${P}f$1"
address = "$2/24"
mtu = $MTU
listen_port = $PORT
private_key_file = "k$1"
${VIFGATE_TX_QUEUE_LENGTH:+tx_queue_length = $VIFGATE_TX_QUEUE_LENGTH}

[[peer]]
name = "far"
public_key = "$3"
endpoint = "$4:$PORT"
allowed_ips = ["$5/32"]

[[route]]
prefix = "$5/32"
peer = "far"

[status]
socket = "$1.sock"
EOF
    # more tables for the gateways of a bench (bench/metrics.sh: [metrics])
    if [[ -n ${VIFGATE_EXTRA:-} ]]; then printf '%s\n' "$VIFGATE_EXTRA" >>"$WORK/$1.toml"; fi
    "$VIFGATE" gateway --config "$WORK/$1.toml" --check >/dev/null
}

up_vifgate() {
    wg_keys "$VIFGATE"
    vifgate_config a "$TUN_A" "$PUB_B" "$UNDER_B" "$TUN_B"
    vifgate_config b "$TUN_B" "$PUB_A" "$UNDER_A" "$TUN_A"
    spawn vifgate-a a env RUST_LOG=warn "$VIFGATE" gateway --config "$WORK/a.toml"
    spawn vifgate-b b env RUST_LOG=warn "$VIFGATE" gateway --config "$WORK/b.toml"
    wait_for 10 ip -n "${P}a" link show "${P}fa" || die "vifgate a: no TUN device"
    wait_for 10 ip -n "${P}b" link show "${P}fb" || die "vifgate b: no TUN device"
    TUNNEL_PIDS=("${PID[vifgate-a]}" "${PID[vifgate-b]}")
    TUN_DEV=${P}f
}
down_vifgate() { stop_proc vifgate-a; stop_proc vifgate-b; }

up_veth() { TUNNEL_PIDS=(); TUN_DEV=""; }
down_veth() { :; }

put() { # peer key json-value
    jq --arg p "$1" --arg k "$2" --argjson v "$3" '.[$p][$k] = $v' "$RESULTS" >"$RESULTS.new"
    mv "$RESULTS.new" "$RESULTS"
}

CLK_TCK=$(getconf CLK_TCK)
proc_ticks() { # pid: utime+stime of the process (all threads)
    local s
    s=$(cat "/proc/$1/stat" 2>/dev/null) || { echo 0; return; }
    s=${s##*) }
    set -- $s
    echo $((${12} + ${13}))
}
udp_errors() { # ns: "RcvbufErrors SndbufErrors" of the namespace's UDP (/proc/net/snmp)
    nsx "$1" awk '/^Udp:/ { if (!h) { for (i = 2; i <= NF; i++) c[$i] = i; h = 1 }
        else print $(c["RcvbufErrors"]), $(c["SndbufErrors"]) }' /proc/net/snmp
}
ping_percentiles() { # ping output on stdin -> "n p50 p99 max" (ms): nearest-rank percentiles of the replies' times ("0 - - -" without one)
    sed -n 's|.* time=\([0-9.]*\) ms.*|\1|p' | sort -n |
        awk '{ v[NR] = $1 }
        function rank(p,  r) { r = int(NR * p / 100); if (r < NR * p / 100) r++; if (r < 1) r = 1; return v[r] }
        END { if (!NR) { print "0 - - -"; exit } print NR, rank(50), rank(99), v[NR] }'
}
host_busy() { # "busy total" jiffies of the whole machine
    local _cpu user nice sys idle iowait irq softirq steal _rest
    read -r _cpu user nice sys idle iowait irq softirq steal _rest </proc/stat
    echo "$((user + nice + sys + irq + softirq + steal)) $((user + nice + sys + idle + iowait + irq + softirq + steal))"
}

# ------------------------------------------------------------ reports
ver() { "$@" 2>&1 | head -n 1; }
wireguard_go_version() { wireguard-go --version 2>&1 | sed -n 's/^wireguard-go //p' | head -n 1; }

machine_json() { # {cpu, cores, memory, kernel, os}
    jq -n --arg kernel "$(uname -r)" \
        --arg cpu "$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)" \
        --argjson cores "$(nproc)" \
        --arg mem "$(awk '/MemTotal/{printf "%.0f GiB", $2/1048576}' /proc/meminfo)" \
        --arg os "$(. /etc/os-release && echo "$PRETTY_NAME")" \
        '{cpu: $cpu, cores: $cores, memory: $mem, kernel: $kernel, os: $os}'
}

vifgate_build_json() { # the vifgate measured (after lab_vifgate_binary)
    jq -n --arg vbin "$VIFGATE" --arg vsha "$VIFGATE_SHA" --argjson vhere "$BUILT_HERE" \
        --arg ghead "$GIT_HEAD" --arg gdirty "$GIT_DIRTY" \
        '{binary: $vbin, sha256_16: $vsha, built_from_this_tree: $vhere,
          tree_head: $ghead, tree_uncommitted: ($gdirty | if . == "" then [] else split(",") end)}'
}

vifgate_build_line() { # results.json: a report's line saying which vifgate was measured
    jq -r '.vifgate_build | "vifgate measured: \(.binary) (sha256 \(.sha256_16)…)" +
        (if .built_from_this_tree then ", built from this tree at \(.tree_head)" +
            (if (.tree_uncommitted | length) > 0 then " + uncommitted \(.tree_uncommitted | join(", "))" else "" end)
         else "" end)' "$1"
}
