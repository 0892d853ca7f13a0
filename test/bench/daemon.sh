#!/usr/bin/env bash
# Measures the daemon against the issue-6 targets:
#  - catching up on a backlog (a rotated, bzip2-compressed 300,000-line day
#    read through log.backfill_since) at the speed of `aggregate` on the same
#    file;
#  - following a live log at 50 lines/s with under 1% of a core, from an
#    empty day and with a busy day (250,000 lines) already open.
# Usage: test/bench/daemon.sh      (needs out/bench/ from test/bench/bench.sh,
#        which it runs once if missing). Env: FOLLOW_SECONDS (60),
#        FOLLOW_WARMUP (5: seconds of writing before measuring).
set -euo pipefail
cd "$(dirname "$0")/../.."
SECS=${FOLLOW_SECONDS:-60}

LOG=$(ls out/bench/day-*.log 2>/dev/null | head -n 1 || true)
if [ -z "$LOG" ]; then
	BENCH_RUNS=1 test/bench/bench.sh >/dev/null
	LOG=$(ls out/bench/day-*.log | head -n 1)
fi
TMP=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$TMP"' EXIT
go build -o "$TMP/eidastatsd" ./cmd/eidastatsd
NETWORKS=$PWD/testdata/fdsn-networks.json

# The bench day's date, from its first line.
DAY=$(head -c 400 "$LOG" | grep -o '"finished": "[0-9-]*' | head -n 1 | cut -d'"' -f4)

config() { # config DIR BACKFILL
	cat >"$1/c.yaml" <<YAML
log:
  path: $1/log/fdsnws-requests.log
  backfill_since: "$2"
  poll_interval: 1s
state_dir: $1/state
networks:
  registry: $NETWORKS
http:
  listen: ""
YAML
}

cpu_seconds() { # utime+stime of PID in seconds
	awk -v hz="$(getconf CLK_TCK)" '{print ($14+$15)/hz}' "/proc/$1/stat"
}

echo "== catch-up: rotated $DAY file (bzip2) through log.backfill_since"
mkdir -p "$TMP/c/log"
cp "$LOG.bz2" "$TMP/c/log/fdsnws-requests.log.$DAY.bz2"
: >"$TMP/c/log/fdsnws-requests.log"
config "$TMP/c" "$DAY"
start=$(date +%s.%N)
"$TMP/eidastatsd" run --config "$TMP/c/c.yaml" 2>"$TMP/c/daemon.log" &
pid=$!
until ls "$TMP/c/state/spool/"*.json.gz >/dev/null 2>&1; do sleep 0.05; done
end=$(date +%s.%N)
kill -TERM $pid; wait $pid || true
daemon_s=$(echo "$end - $start" | bc)
a_start=$(date +%s.%N)
"$TMP/eidastatsd" aggregate -o "$TMP" --fdsn-networks "$NETWORKS" "$LOG.bz2" >/dev/null
a_end=$(date +%s.%N)
agg_s=$(echo "$a_end - $a_start" | bc)
ratio=$(echo "scale=2; $daemon_s / $agg_s" | bc)
printf 'daemon catch-up %.2f s, aggregate %.2f s, ratio %s\n' "$daemon_s" "$agg_s" "$ratio"

# follow NAME DIR: the daemon follows DIR/log while the writer appends
# DIR/src at 50 lines/s (finished = now); its CPU is measured over SECS
# seconds from WARMUP seconds after the writer starts (the steady state:
# not the start-up, nor the catch-up of what the log already holds).
WARMUP=${FOLLOW_WARMUP:-5}
follow() {
	local name=$1 dir=$2
	config "$dir" ""
	"$TMP/eidastatsd" run --config "$dir/c.yaml" 2>"$dir/daemon.log" &
	local pid=$!
	python3 - "$dir/src" "$dir/log/fdsnws-requests.log" "$((SECS + WARMUP + 5))" <<'PY' &
import re, sys, time, datetime
src, dst, secs = sys.argv[1], sys.argv[2], float(sys.argv[3])
fin = re.compile(r'"finished": "[^"]*"')
with open(src) as f, open(dst, "a") as out:
    t0 = time.time(); n = 0
    for line in f:
        if time.time() - t0 >= secs:
            break
        now = datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%dT%H:%M:%S.%fZ')
        out.write(fin.sub('"finished": "%s"' % now, line, count=1)); out.flush()
        n += 1
        time.sleep(max(0, t0 + n / 50.0 - time.time()))
PY
	local writer=$!
	sleep "$WARMUP"
	local c0 c1
	c0=$(cpu_seconds $pid)
	sleep "$SECS"
	c1=$(cpu_seconds $pid)
	kill $writer 2>/dev/null || true
	wait $writer 2>/dev/null || true
	kill -TERM $pid; wait $pid || true
	pct=$(echo "scale=2; 100 * ($c1 - $c0) / $SECS" | bc)
	echo "daemon CPU while following ($name): ${pct}% of a core (target < 1%)"
}

echo "== following a live log at 50 lines/s for ${SECS}s, after ${WARMUP}s"
mkdir -p "$TMP/f/log"
: >"$TMP/f/log/fdsnws-requests.log"
ln -s "$PWD/$LOG" "$TMP/f/src"
follow "empty day" "$TMP/f"

# The same with a busy day already open: today's first 250,000 lines are in
# the live log when the daemon starts, so every checkpoint and every line
# works on a full day's table.
echo "== the same with a busy day open (250,000 lines of today already in the log)"
mkdir -p "$TMP/b/log"
go run ./test/genlog -lines 300000 -seed 2 -start "$(date -u +%F)" -o "$TMP/b/today.log"
head -n 250000 "$TMP/b/today.log" >"$TMP/b/log/fdsnws-requests.log"
tail -n +250001 "$TMP/b/today.log" >"$TMP/b/src"
rm "$TMP/b/today.log"
WARMUP=$((WARMUP + 10)) follow "busy day open" "$TMP/b"
