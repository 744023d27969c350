#!/usr/bin/env bash
# bench/event_day.sh: the event day of the example (docs/sim.md, "The event
# day"), live, and its figure: the example lab with HAProxy as its ALB,
# its Auto Scaling group's controller running (the lab's own, followed by `sim autoscale --follow`), and `sim
# load` sending 100 % of a base rate, 352 % from 5 s to 25 s, then 100 %
# again; once the group is back at 2, `sim fail` of its first instance.
#
#   sudo bench/event_day.sh          # builds this tree's release (VIFGATE= another binary)
#
# BASE (default 50 requests a second; the example's target of 1800 a
# minute is lowered by the factor 2000 / BASE, so the controller decides
# what the story's 2000 a minute would make it decide), CLIENTS (20),
# SESSION (20 requests a visitor), FAIL_AT (58 s of the load), DURATION
# (70 s), OUT (where the SVG, the timeline and the controller's periods go;
# default the run's work directory). Prints the live and predicted
# capacity side by side, p99 latency at the base and peak rates, and the
# failed requests of each phase. The lab, the controller and the load are
# named per run and removed on exit, on error and on Ctrl-C.
set -Eeuo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
source "$ROOT/bench/lab.sh"
BASE=${BASE:-50}
CLIENTS=${CLIENTS:-20}
SESSION=${SESSION:-20}
FAIL_AT=${FAIL_AT:-58}
DURATION=${DURATION:-70}
[[ $# == 0 ]] || { sed -n '2,18p' "$0"; exit 2; }
[[ $EUID -eq 0 ]] || die "needs root (the lab's namespaces)"
export PATH="$HOME/.cargo/bin:$PATH"
if [[ -z ${VIFGATE:-} ]]; then
    log "cargo build --release --bin vifgate"
    (cd "$ROOT" && cargo build --release --bin vifgate -q)
fi
lab_vifgate_binary

LAB=ev$(($$ % 100000))
WORK=$(mktemp -d "/tmp/vifgate-event-day-$LAB.XXXX")
OUT=${OUT:-$WORK}
mkdir -p "$OUT"
CONTROLLER=""
LOAD=""
cleanup() {
    [[ -n $LOAD ]] && kill "$LOAD" 2>/dev/null || true
    [[ -n $CONTROLLER ]] && kill "$CONTROLLER" 2>/dev/null || true
    wait 2>/dev/null || true
    "$VIFGATE" sim down "$LAB" >/dev/null 2>&1 || true
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

PEAK=$(awk -v b="$BASE" 'BEGIN { printf "%d", b * 3.52 + 0.5 }')
TARGET=$(awk -v b="$BASE" 'BEGIN { printf "%d", 1800 * b / 2000 + 0.5 }')
PROFILE="0s:$BASE,5s:$PEAK,25s:$BASE"
TOPOLOGY=$WORK/event-day.toml
python3 - "$ROOT/examples/yeohaengjigi.toml" "$TOPOLOGY" "$TARGET" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
# the lab's listener serves the web hosts (and sets SESSIONID when asked)
start = text.index("[[sim.start]]")
text = text[:start] + re.sub(r"^.*?\n\n|^.*\Z", "", text[start:], count=1, flags=re.S)
assert "target = 1800" in text
text = text.replace("target = 1800", "target = " + sys.argv[3], 1)
open(sys.argv[2], "w").write(text)
PY

log "lab $LAB up (the example; target $TARGET a target a period, base $BASE/s, peak $PEAK/s)"
"$VIFGATE" sim up "$TOPOLOGY" --lab "$LAB" >/dev/null
"$VIFGATE" sim autoscale "$LAB" --follow --json >"$OUT/controller.jsonl" 2>"$WORK/controller.err" &
CONTROLLER=$!
for _ in $(seq 100); do
    grep -q '"minute"' "$OUT/controller.jsonl" 2>/dev/null && break
    sleep 0.1
done
grep -q '"minute"' "$OUT/controller.jsonl" || die "the controller printed no period: $(cat "$WORK/controller.err")"
FIRST_MINUTE=$(grep '"minute"' "$OUT/controller.jsonl" | tail -1 | python3 -c 'import json,sys; print(json.load(sys.stdin)["minute"])')
log "sim load: $PROFILE for ${DURATION}s, $CLIENTS clients, sessions of $SESSION requests; the group's first instance fails at ${FAIL_AT}s"
"$VIFGATE" sim load "$LAB" --to alb:80 --profile "$PROFILE" --duration "${DURATION}s" \
    --clients "$CLIENTS" --session "$SESSION" --path '/?set-cookie=SESSIONID' \
    --timeline "$OUT/event-day-timeline.jsonl" --svg "$OUT/event-day.svg" --json >"$WORK/load.jsonl" &
LOAD=$!
sleep "$FAIL_AT"
FAILED_AT_MINUTE=$(grep '"minute"' "$OUT/controller.jsonl" | tail -1 | python3 -c 'import json,sys; print(json.load(sys.stdin)["minute"])')
# the group's first instance now (scale-in terminated the ones AWS's
# termination policy names: web-a1 and web-c1 may be gone)
VICTIM=$("$VIFGATE" sim status "$LAB" --json | python3 -c '
import json, sys
s = json.load(sys.stdin)
labs = s if isinstance(s, list) else [s]
for lab in labs:
    for group, c in (lab.get("capacity") or {}).items():
        names = sorted(i["name"] for i in c.get("instances", []))
        if names:
            print(names[0])
            sys.exit()
print("web-a1")')
"$VIFGATE" sim fail "$LAB" "$VICTIM" >/dev/null
log "$VICTIM failed (controller minute $FAILED_AT_MINUTE)"
wait "$LOAD"
LOAD=""
kill "$CONTROLLER" 2>/dev/null || true
wait "$CONTROLLER" 2>/dev/null || true
CONTROLLER=""

# the prediction: the same profile from the minute after the controller's
# first (when the load started), on the minutes the lab ran
MINUTES=$(grep -c '"minute"' "$OUT/controller.jsonl")
O=$((FIRST_MINUTE + 1))
"$VIFGATE" topology scale "$TOPOLOGY" --load "0m:0,${O}m:$BASE,$((O + 5))m:$PEAK,$((O + 25))m:$BASE" \
    --minutes $((MINUTES + FIRST_MINUTE)) --json >"$OUT/predicted.jsonl"

python3 - "$OUT/controller.jsonl" "$OUT/predicted.jsonl" "$OUT/event-day-timeline.jsonl" "$WORK/load.jsonl" \
    "$O" "$FAILED_AT_MINUTE" "$BASE" "$PEAK" <<'PY'
import json, statistics, sys
ctl, pred, timeline, load = (open(p).read().splitlines() for p in sys.argv[1:5])
offset, failed, base, peak = (int(x) for x in sys.argv[5:9])
live = [json.loads(l) for l in ctl]
periods = [p for p in live if "minute" in p]
predicted = {p["minute"]: p for p in map(json.loads, pred)}
applied = [p["applied"] for p in live if "applied" in p]
replaced = [p["replaced"] for p in live if isinstance(p.get("replaced"), dict)]
print("minute  load(live)  desired(live)  desired(predicted)  activities(live)")
for p in periods:
    m = p["minute"]
    acts = ", ".join(f'{a["kind"]} {a["instance"]}' for a in p["activities"])
    print(f'{m:>5}m  {p["load"]:>10.0f}  {p["desired"]:>13}  {predicted.get(m, {}).get("desired", "-"):>18}  {acts}')
for a in applied:
    print(f'applied: desired {a["desired"]}, launched {a["launched"]}, terminated {a["terminated"]} ({a["seconds"]:.2f} s)')
for r in replaced:
    print(f'replaced {r["instance"]} ({r["seconds"]:.2f} s)')
seconds = [json.loads(l) for l in timeline]
summary = json.loads(load[-1])["summary"]
# phases on the load's clock (its second n is the controller's minute
# n + offset)
out_m = next((p["minute"] for p in periods if any(a["kind"] == "launch" for a in p["activities"])), None)
in_m = next((p["minute"] for p in periods if any(a["kind"] == "terminate" for a in p["activities"])), None)
def sec(minute):
    return None if minute is None else minute - offset
phases = [
    ("base", 0, 5),
    ("peak before scale-out", 5, sec(out_m)),
    ("scale-out (launch to in service)", sec(out_m), (sec(out_m) or 0) + 6),
    ("peak at 4", (sec(out_m) or 0) + 6, 25),
    ("base at 4", 25, sec(in_m)),
    ("scale-in (deregistration, drain)", sec(in_m), (sec(in_m) or 0) + 6),
    ("base at 2", (sec(in_m) or 0) + 6, sec(failed)),
    ("an instance failed and replaced", sec(failed), len(seconds)),
]
print()
print(f'{"phase":<34} {"seconds":>9} {"offered":>8} {"failed":>7} {"p99 ms (median, max of per-second p99)":>40}')
for name, a, b in phases:
    if a is None or b is None:
        print(f"{name:<34} (did not happen)")
        continue
    s = [x for x in seconds if a <= x["second"] < b]
    offered = sum(x["offered"] for x in s)
    failed_n = sum(sum(x["errors"].values()) for x in s)
    p99 = [x["latency"]["p99_ms"] for x in s if x["latency"]]
    lat = f'{statistics.median(p99):.2f}, {max(p99):.2f}' if p99 else "-"
    print(f"{name:<34} {a:>4}-{b:<4} {offered:>8} {failed_n:>7} {lat:>40}")
def p99_at(rate):
    p = [x["latency"]["p99_ms"] for x in seconds if x["offered"] == rate and x["latency"] and not x["errors"]]
    return (statistics.median(p), max(p), len(p)) if p else None
for label, rate in (("base", base), ("peak", peak)):
    r = p99_at(rate)
    if r:
        print(f"p99 at the {label} rate ({rate}/s): median {r[0]:.2f} ms, max {r[1]:.2f} ms over {r[2]} seconds")
errs = sum(summary["errors"].values())
print(f'sim load: {summary["sent"]} sent, {summary["ok"]} answered, {errs} failed {summary["errors"]}, {summary["unanswered"]} unanswered; '
      f'{sum(c["sessions"] for c in summary["clients"])} visitors; {sum(c["moves"] for c in summary["clients"])} sticky moves; answers by target {summary["targets"]}')
PY
log "figure: $OUT/event-day.svg; timeline: $OUT/event-day-timeline.jsonl; controller: $OUT/controller.jsonl"
