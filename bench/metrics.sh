#!/usr/bin/env bash
# bench/metrics.sh: what a Prometheus scrape every second costs the tunnel.
#
#   sudo bench/metrics.sh          # builds (release), measures, prints a table
#
# Two vifgate gateways in the lab of bench/lab.sh, both with
# [metrics] listen = "127.0.0.1:9586". Rounds alternate in one run: one TCP
# stream a->b through the tunnel (iperf3, TCP_SECS) with nobody scraping,
# then the same with both gateways scraped once a second (curl GET /metrics
# in each gateway's namespace, as Prometheus with scrape_interval: 1s
# would); ROUNDS of each. Prints each round's Gbit/s, the medians, and the
# scrapes' count, size and time. The scraper is curl, not a Prometheus
# server, so that only the gateway's side of a scrape shares the CPU with
# the measurement.
#
# Everything is named with a per-run prefix and removed on exit (bench/lab.sh).
# Environment: TCP_SECS [10], ROUNDS [3], VIFGATE [unset: this tree's
# target/release/vifgate, built; set: that binary].
set -Eeuo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
source "$ROOT/bench/lab.sh"
TCP_SECS=${TCP_SECS:-10}
ROUNDS=${ROUNDS:-3}
METRICS=127.0.0.1:9586

lab_require_root
for t in iperf3 curl jq; do have "$t" || apt_install "$t"; done
if [[ -z ${VIFGATE:-} ]]; then
    log "cargo build --release"
    (cd "$ROOT" && cargo build --release --quiet --bin vifgate)
fi
lab_vifgate_binary
lab_init vm metrics
make_lab
VIFGATE_EXTRA=$'[metrics]\nlisten = "'$METRICS'"'
up_vifgate
wait_for 10 nsx a curl -sf "http://$METRICS/metrics" || die "no metrics from gateway a"
wait_for 10 nsx a ping -c 1 -W 1 "$TUN_B" || die "no tunnel"

# scrapes every second until killed; a line per scrape (bytes, seconds) in
# $WORK/scrapes-NS.txt
scraper() { # ns
    while :; do
        nsx "$1" curl -s -o /dev/null -w '%{size_download} %{time_total}\n' \
            "http://$METRICS/metrics" >>"$WORK/scrapes-$1.txt" || true
        sleep 1
    done
}

tcp_gbps() {
    local out=$WORK/iperf.json
    fg_run timeout $((TCP_SECS + 30)) ip netns exec "${P}a" \
        iperf3 -c "$TUN_B" -p "$IPERF_PORT" -t "$TCP_SECS" --connect-timeout 5000 -J >"$out" 2>/dev/null || true
    jq -r '.end.sum_received.bits_per_second / 1e6 | round / 1000' "$out"
}

NONE=() SCRAPED=()
for ((r = 1; r <= ROUNDS; r++)); do
    g=$(tcp_gbps)
    NONE+=("$g")
    log "round $r, no scrape: $g Gbit/s"
    scraper a &
    SA=$!
    scraper b &
    SB=$!
    g=$(tcp_gbps)
    kill "$SA" "$SB" 2>/dev/null || true
    wait "$SA" "$SB" 2>/dev/null || true
    SCRAPED+=("$g")
    log "round $r, scraped every 1 s: $g Gbit/s"
done

median() { printf '%s\n' "$@" | sort -g | awk '{a[NR] = $1} END {print (NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2)}'; }
scrapes=$(cat "$WORK"/scrapes-*.txt | awk '{n++; b += $1; t += $2; if ($2 > m) m = $2}
    END {printf "%d scrapes, %.0f bytes each, %.2f ms mean, %.2f ms max", n, b / n, 1000 * t / n, 1000 * m}')
echo "$(date -u '+%F %H:%M UTC'), $(nproc) cores, vifgate $VIFGATE_SHA (git $GIT_HEAD), TCP_SECS=$TCP_SECS, ROUNDS=$ROUNDS"
echo "| | TCP a->b per round (Gbit/s) | median (Gbit/s) |"
echo "|---|---|---|"
echo "| no scrape | ${NONE[*]} | $(median "${NONE[@]}") |"
echo "| both gateways scraped every 1 s | ${SCRAPED[*]} | $(median "${SCRAPED[@]}") |"
echo "scrapes: $scrapes"
