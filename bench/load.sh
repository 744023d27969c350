#!/usr/bin/env bash
# bench/load.sh: `vifgate sim load` (open loop) against wrk (closed loop)
# and httperf (open loop), all three from the example lab's internet node
# through its ALB (HAProxy in front of the two web hosts), in one run.
#
#   sudo bench/load.sh              # this tree's release build (VIFGATE= another)
#
# RATES (default "250 500 1000 1500 2000 4000") are offered for SECONDS_EACH
# (default 5) each by sim load and by httperf; answers/s is the answers
# (2xx) over that window; a rate is sustained when at least 95 % of it is
# answered and nothing failed. wrk runs closed loop for SECONDS with
# CONNS connections (default 10) on one thread: its throughput is the most
# it gets; then sim load and httperf are offered that rate, for the
# latency of all three at one rate. For each run: the answers a second,
# the latency p50/p99, and the CPU the tool used (getrusage of the child:
# user + system, and each), also per answer (ms a request = CPU seconds
# per 1000 requests). Installs wrk and httperf (Debian) when missing.
set -Eeuo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
source "$ROOT/bench/lab.sh"
RATES=${RATES:-"250 500 1000 1500 2000 4000"}
SECONDS_EACH=${SECONDS_EACH:-5}
CONNS=${CONNS:-10}
[[ $# == 0 ]] || { sed -n '2,15p' "$0"; exit 2; }
[[ $EUID -eq 0 ]] || die "needs root (the lab's namespaces)"
lab_vifgate_binary
missing=()
have wrk || missing+=(wrk)
have httperf || missing+=(httperf)
apt_install "${missing[@]}" || die "cannot install ${missing[*]} from Debian's packages"
have wrk || die "wrk is not installed and Debian's registry did not give it"
have httperf || die "httperf is not installed and Debian's registry did not give it"

LAB=lb$(($$ % 100000))
WORK=$(mktemp -d "/tmp/vifgate-load-$LAB.XXXX")
cleanup() { "$VIFGATE" sim down "$LAB" >/dev/null 2>&1 || true; }
trap cleanup EXIT INT TERM
log "lab $LAB up (the example)"
"$VIFGATE" sim up "$ROOT/examples/yeohaengjigi.toml" --lab "$LAB" >/dev/null
ALB=203.0.113.20

# cpu OUT CMD...: runs CMD, its output to OUT; prints the child's CPU
# seconds (getrusage RUSAGE_CHILDREN): user + system, user, system
cpu() {
    local out=$1; shift
    python3 - "$out" "$@" <<'PY'
import resource, subprocess, sys
with open(sys.argv[1], "w") as f:
    subprocess.run(sys.argv[2:], stdout=f, stderr=subprocess.STDOUT, check=False)
r = resource.getrusage(resource.RUSAGE_CHILDREN)
print(f"{r.ru_utime + r.ru_stime:.3f} {r.ru_utime:.3f} {r.ru_stime:.3f}")
PY
}

inside() { "$VIFGATE" sim exec "$LAB" internet -- "$@"; }

row() { # tool offered answered/s p50 p99 errors "cpu_s user_s sys_s"
    local per_k c u s
    read -r c u s <<<"$7"
    per_k=$(awk -v c="$c" -v a="$3" -v s="$SECONDS_EACH" 'BEGIN { n = a * s; printf "%.3f", (n > 0 ? 1000 * c / n : 0) }')
    printf '%-9s %8s %10s %9s %9s %7s %8s %7s %7s %10s\n' "$1" "$2" "$3" "$4" "$5" "$6" "$c" "$u" "$s" "$per_k" | tee -a "$WORK/table"
}

sim_load() { # rate output: one run of sim load, its row; sets ok and errors
    local c p50 p99
    c=$(cpu "$WORK/$2" "$VIFGATE" sim load "$LAB" --to alb --rate "$1/s" \
        --duration "${SECONDS_EACH}s" --clients "$CONNS" --json)
    read -r ok p50 p99 errors < <(tail -1 "$WORK/$2" | python3 -c '
import json, sys
s = json.load(sys.stdin)["summary"]
l = s["latency"] or {}
print(round(s["ok"] / '"$SECONDS_EACH"'), l.get("p50_ms", 0), l.get("p99_ms", 0), sum(s["errors"].values()) + s["unanswered"])')
    row "sim-load" "$1" "$ok" "$p50" "$p99" "$errors" "$c"
}

httperf_run() { # rate output: one run of httperf, its row; sets ok and errors
    local c p50
    c=$(cpu "$WORK/$2" "$VIFGATE" sim exec "$LAB" internet -- httperf --hog \
        --server "$ALB" --port 80 --uri / --rate "$1" --num-conns $(($1 * SECONDS_EACH)) \
        --num-calls 1 --timeout 5)
    read -r ok p50 errors < <(python3 - "$WORK/$2" "$SECONDS_EACH" <<'PY'
import re, sys
t = open(sys.argv[1]).read()
def num(pat, default=0.0):
    m = re.search(pat, t)
    return float(m.group(1)) if m else default
ok = num(r"Reply status: 1xx=\d+ 2xx=(\d+)")
dur = float(sys.argv[2])  # the offered window, as for sim load
# httperf gives the mean reply time, not percentiles
resp = num(r"Reply time \[ms\]: response ([\d.]+)") + num(r"transfer ([\d.]+)")
errors = num(r"Errors: total (\d+)")
print(round(ok / max(dur, 1e-9)), f"{resp:.2f}(mean)", int(errors))
PY
)
    row "httperf" "$1" "$ok" "$p50" "-" "$errors" "$c"
}

declare -A BEST=()
sustained() { # tool rate answers/s errors: the highest rate kept up with
    if ((($3 * 100 >= $2 * 95) && $4 == 0)); then BEST[$1]=$2; fi
}

printf '%-9s %8s %10s %9s %9s %7s %8s %7s %7s %10s\n' tool offered answers/s p50_ms p99_ms errors cpu_s user_s sys_s cpu_ms/req | tee "$WORK/table"
log "warm-up"
inside wrk -t1 -c"$CONNS" -d2s "http://$ALB/" >/dev/null
for rate in $RATES; do
    log "sim load at $rate/s"
    sim_load "$rate" "sim-$rate"
    sustained sim-load "$rate" "$ok" "$errors"
    log "httperf at $rate/s"
    httperf_run "$rate" "httperf-$rate"
    sustained httperf "$rate" "$ok" "$errors"
done
log "wrk closed loop, $CONNS connections"
c=$(cpu "$WORK/wrk" "$VIFGATE" sim exec "$LAB" internet -- wrk -t1 -c"$CONNS" \
    -d"${SECONDS_EACH}s" --latency "http://$ALB/")
read -r ok p50 p99 errors < <(python3 - "$WORK/wrk" <<'PY'
import re, sys
t = open(sys.argv[1]).read()
def ms(label):
    m = re.search(rf"{label}\s+([\d.]+)(us|ms|s)\b", t)
    if not m:
        return 0.0
    v, u = float(m.group(1)), m.group(2)
    return v / 1000 if u == "us" else v * 1000 if u == "s" else v
rps = re.search(r"Requests/sec:\s+([\d.]+)", t)
errs = re.search(r"Non-2xx or 3xx responses: (\d+)", t)
sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", t)
e = (int(errs.group(1)) if errs else 0) + (sum(map(int, sock.groups())) if sock else 0)
print(round(float(rps.group(1))) if rps else 0, ms(" 50%"), ms(" 99%"), e)
PY
)
row "wrk" "closed" "$ok" "$p50" "$p99" "$errors" "$c"
ok_wrk=$ok
log "at the highest rate wrk got, sim load and httperf (open loop) offer the same"
rate=$ok
sim_load "$rate" sim-wrk
httperf_run "$rate" httperf-wrk
echo "highest rate sustained (>= 95 % answered, no error): sim load ${BEST[sim-load]:-none}/s, httperf ${BEST[httperf]:-none}/s; wrk (closed loop) ${ok_wrk}/s"
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg); $(nproc) cores; outputs in $WORK"
