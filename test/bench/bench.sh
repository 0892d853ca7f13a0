#!/usr/bin/env bash
# Measures eidastatsd against the issue-6 targets on a generated 300,000-line
# day, all in one run so that the ratios compare like with like:
#   aggregate on bzip2 <= 1.5 x `lbzip2 -dc -n 2`,
#   aggregate on plain >= 400 MB/s of log,
#   peak RSS <= 256 MB.
# Usage: test/bench/bench.sh     (from anywhere in the repository)
# Env:   BENCH_LINES (300000), BENCH_SEED (1), BENCH_RUNS (3: best wall time
#        and worst RSS of N runs), BENCH_STRICT=1 to exit 1 on any MISS.
set -euo pipefail

cd "$(dirname "$0")/../.."
LINES=${BENCH_LINES:-300000}
SEED=${BENCH_SEED:-1}
RUNS=${BENCH_RUNS:-3}

need() { # need COMMAND PACKAGE
	command -v "$1" >/dev/null 2>&1 && return
	echo "bench: installing $2" >&2
	if [ -z "${APT_UPDATED:-}" ]; then apt-get update -qq >&2; APT_UPDATED=1; fi
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >&2
}
need /usr/bin/time time
need lbzip2 lbzip2
need bzip2 bzip2

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

go build -o "$TMP/genlog" ./test/genlog
go build -o "$TMP/bzcat" ./test/bench/bzcat
HAVE_EIDASTATSD=1
if ! go build -o "$TMP/eidastatsd" ./cmd/eidastatsd 2>"$TMP/build.log"; then
	HAVE_EIDASTATSD=
	echo "bench: cmd/eidastatsd does not build; aggregate not measured:" >&2
	cat "$TMP/build.log" >&2
fi
NETWORKS=testdata/fdsn-networks.json
[ -f "$NETWORKS" ] || NETWORKS=test/genlog/testdata/fdsn-networks.json

# The day is cached; a change of the generator makes a new one.
GENSUM=$(cat test/genlog/*.go | sha256sum | cut -c1-12)
DIR=out/bench
LOG=$DIR/day-$LINES-s$SEED-$GENSUM.log
mkdir -p "$DIR"
if [ ! -s "$LOG.bz2" ] || [ ! -s "$LOG" ]; then
	rm -f "$DIR"/day-*.log "$DIR"/day-*.log.bz2
	echo "bench: generating $LOG (.bz2)" >&2
	"$TMP/genlog" -lines "$LINES" -seed "$SEED" -o "$LOG.tmp"
	lbzip2 -9 -c "$LOG.tmp" >"$LOG.bz2.tmp"
	mv "$LOG.tmp" "$LOG"
	mv "$LOG.bz2.tmp" "$LOG.bz2"
fi
SIZE=$(stat -c %s "$LOG")
BZSIZE=$(stat -c %s "$LOG.bz2")

# measure NAME CMD...: best wall seconds and worst peak RSS (kB) of RUNS runs;
# the command's stdout goes to /dev/null.
declare -A WALL RSS
measure() {
	local name=$1 w m best="" worst=0
	shift
	for _ in $(seq "$RUNS"); do
		rm -rf "$TMP/agg" && mkdir "$TMP/agg"
		/usr/bin/time -f '%e %M' -o "$TMP/time" "$@" >/dev/null 2>"$TMP/stderr" || {
			echo "bench: $name failed:" >&2
			cat "$TMP/stderr" "$TMP/time" >&2
			return 1
		}
		read -r w m <"$TMP/time"
		if [ -z "$best" ] || awk -v a="$w" -v b="$best" 'BEGIN{exit !(a<b)}'; then best=$w; fi
		[ "$m" -gt "$worst" ] && worst=$m
	done
	WALL[$name]=$best
	RSS[$name]=$worst
	printf '%-28s %8.2f s %8.1f MB RSS\n' "$name" "$best" "$(awk -v k="$worst" 'BEGIN{print k/1024}')"
}

echo "log: $LINES lines, $(awk -v s="$SIZE" 'BEGIN{printf "%.0f", s/1e6}') MB plain, $(awk -v s="$BZSIZE" 'BEGIN{printf "%.1f", s/1e6}') MB bzip2; $(nproc) CPUs; best of $RUNS runs"
measure "cat plain" cat "$LOG"
measure "lbzip2 -dc -n 2" lbzip2 -dc -n 2 "$LOG.bz2"
measure "bzip2 -dc" bzip2 -dc "$LOG.bz2"
measure "bzip2par (reader alone)" "$TMP/bzcat" "$LOG.bz2"
if [ -n "$HAVE_EIDASTATSD" ]; then
	measure "aggregate plain" "$TMP/eidastatsd" aggregate -o "$TMP/agg" --fdsn-networks "$NETWORKS" "$LOG"
	measure "aggregate bzip2" "$TMP/eidastatsd" aggregate -o "$TMP/agg" --fdsn-networks "$NETWORKS" "$LOG.bz2"
fi

MISS=0
verdict() { # verdict LABEL VALUE OP TARGET
	local ok
	ok=$(awk -v v="$2" -v t="$4" -v op="$3" 'BEGIN{print ((op=="<=" && v<=t) || (op==">=" && v>=t)) ? "PASS" : "MISS"}')
	[ "$ok" = PASS ] || MISS=1
	printf '%-44s %8.2f  (target %s %s)  %s\n' "$1" "$2" "$3" "$4" "$ok"
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.3f", a/b}'; }

echo
verdict "bzip2par reader / lbzip2 -dc -n 2" "$(ratio "${WALL[bzip2par (reader alone)]}" "${WALL[lbzip2 -dc -n 2]}")" "<=" 1.5
if [ -n "$HAVE_EIDASTATSD" ]; then
	verdict "aggregate bzip2 / lbzip2 -dc -n 2" "$(ratio "${WALL[aggregate bzip2]}" "${WALL[lbzip2 -dc -n 2]}")" "<=" 1.5
	verdict "aggregate plain MB/s of log" "$(awk -v s="$SIZE" -v t="${WALL[aggregate plain]}" 'BEGIN{printf "%.1f", s/1e6/t}')" ">=" 400
	printf '%-44s %8.2f  (information)\n' "aggregate plain / cat" "$(ratio "${WALL[aggregate plain]}" "${WALL[cat plain]}")"
	verdict "aggregate plain peak RSS MB" "$(awk -v k="${RSS[aggregate plain]}" 'BEGIN{printf "%.1f", k/1024}')" "<=" 256
	verdict "aggregate bzip2 peak RSS MB" "$(awk -v k="${RSS[aggregate bzip2]}" 'BEGIN{printf "%.1f", k/1024}')" "<=" 256
else
	echo "aggregate: not measured (cmd/eidastatsd does not build)"
	MISS=1
fi
if [ "${BENCH_STRICT:-}" = 1 ] && [ "$MISS" = 1 ]; then exit 1; fi
exit 0
