#!/usr/bin/env bash
# bench/compare.sh: Starling, Prosody and ejabberd under the same load,
# one after another, on this machine.
#
#   bench/compare.sh [--quick] [--results DIR] [--no-doc] [--starling BINARY]
#                    [--servers "starling prosody ejabberd"]
#
# Run from anywhere inside the repository, on Debian 12, as root or as a
# user with sudo (ejabberdctl runs only as root or as the ejabberd user, so
# the script re-runs itself with sudo when it is not root). It:
#   1. installs Debian's prosody and ejabberd if absent (apt-get), and
#      builds starling and its helpers (bench/compare/prep, .../table);
#   2. starts each server as a process of its own, with its own
#      configuration, data and logs in a temporary directory, on free
#      loopback ports, with the same accounts (user1..userN, one password),
#      the same self-signed certificate for localhost, and no rate limits;
#      system services the packages may have started are left alone;
#   3. runs the same `starling bench` scenarios against each, the server
#      pinned to one core and the generator to the other (taskset);
#   4. writes the JSON reports to the results directory and the Markdown
#      tables (bench/compare/table) between the compare markers at the end
#      of docs/performance.md.
# A server that fails a scenario gets a "failed" row; the run goes on.
# The default run takes about 10 minutes, --quick about 2.
set -euo pipefail

usage() {
	sed -n '2,27p' "$0" | sed 's/^# \{0,1\}//'
	exit "${1:-0}"
}

QUICK=0
RESULTS=""
WRITE_DOC=1
STARLING_BIN=""
SERVERS="starling prosody ejabberd"
ARGS=("$@")
while [ $# -gt 0 ]; do
	case $1 in
	--quick) QUICK=1 ;;
	--results) RESULTS=${2:?--results needs a directory}; shift ;;
	--no-doc) WRITE_DOC=0 ;;
	--starling) STARLING_BIN=${2:?--starling needs a binary}; shift ;;
	--servers) SERVERS=${2:?--servers needs a list}; shift ;;
	-h | --help) usage 0 ;;
	*) echo "compare.sh: unknown argument $1" >&2; usage 2 ;;
	esac
	shift
done
for s in $SERVERS; do
	case $s in starling | prosody | ejabberd) ;; *) echo "compare.sh: unknown server $s" >&2; exit 2 ;; esac
done

if [ "$(id -u)" != 0 ]; then
	command -v sudo >/dev/null || { echo "compare.sh: needs root, or sudo" >&2; exit 1; }
	echo "compare.sh: re-running with sudo (ejabberdctl runs only as root or as the ejabberd user)" >&2
	exec sudo env "PATH=$PATH" "HOME=$HOME" bash "$0" "${ARGS[@]}"
fi

REPO=$(cd "$(dirname "$0")/.." && pwd -P)
cd "$REPO"
if [ ! -f go.mod ] || [ ! -d cmd/starling ]; then
	echo "compare.sh: $REPO is not the Starling repository" >&2
	exit 1
fi
command -v go >/dev/null || { echo "compare.sh: Go is needed to build starling (see the README)" >&2; exit 1; }

log() { printf '%s compare: %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

# --- Parameters --------------------------------------------------------------
DOMAIN=localhost
PASSWORD="bench-$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')"
ITERATIONS=4096 # PBKDF2 iterations of the stored SCRAM keys, on all three
if [ "$QUICK" = 1 ]; then
	DUR=4s LOGIN_WORKERS=16 PAIRS=4 WINDOW=16
	IDLE_CONN=500 IDLE_HOLD=5s PRES_COUNT=100 PRES_CONTACTS=10
else
	DUR=20s LOGIN_WORKERS=32 PAIRS=8 WINDOW=16
	IDLE_CONN=2000 IDLE_HOLD=20s PRES_COUNT=1000 PRES_CONTACTS=20
fi
ACCOUNTS=$((IDLE_CONN > PRES_COUNT ? IDLE_CONN : PRES_COUNT))
# Each bench run is bounded: its duration plus this for logging in,
# connecting and draining.
RUN_SLACK=180

# One core for the server, one for the generator.
NCPU=$(nproc)
if [ "$NCPU" -ge 2 ] && command -v taskset >/dev/null; then
	SERVER_CPU=0 GEN_CPU=1
	PIN_SERVER=(taskset -c "$SERVER_CPU") PIN_GEN=(taskset -c "$GEN_CPU")
	PINNING="server pinned to CPU $SERVER_CPU, generator (starling bench) to CPU $GEN_CPU, with taskset"
else
	PIN_SERVER=() PIN_GEN=()
	PINNING="not pinned ($NCPU CPU$([ "$NCPU" -gt 1 ] && echo s), or no taskset): server and generator share the cores"
fi

# --- Installation -------------------------------------------------------------
installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }
need=()
for p in prosody ejabberd openssl; do installed "$p" || need+=("$p"); done
if [ ${#need[@]} -gt 0 ]; then
	log "installing ${need[*]} (apt-get)"
	export DEBIAN_FRONTEND=noninteractive
	timeout 600 apt-get update -qq
	timeout 900 apt-get install -y -qq "${need[@]}" >/dev/null
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/starling-compare.XXXXXX")
chmod 755 "$WORK"
[ -n "$RESULTS" ] || RESULTS="$REPO/bench/compare/results/$(date -u +%Y%m%d-%H%M%S)"
mkdir -p "$RESULTS"
RESULTS=$(cd "$RESULTS" && pwd -P)

# Processes this script started, ended by PID on exit.
SERVER_PID="" WRAPPER_PID=""
stop_server() {
	local pid=$SERVER_PID wrapper=$WRAPPER_PID i
	SERVER_PID="" WRAPPER_PID=""
	[ -n "$pid" ] || return 0
	kill -TERM "$pid" 2>/dev/null || true
	for i in $(seq 100); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.2
	done
	if kill -0 "$pid" 2>/dev/null; then
		log "PID $pid ignored SIGTERM for 20 s: killing it"
		kill -KILL "$pid" 2>/dev/null || true
	fi
	if [ -n "$wrapper" ]; then
		for i in $(seq 50); do
			kill -0 "$wrapper" 2>/dev/null || break
			sleep 0.2
		done
		kill -KILL "$wrapper" 2>/dev/null || true
	fi
	wait 2>/dev/null || true
}
cleanup() {
	stop_server
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- Build ---------------------------------------------------------------------
mkdir -p "$WORK/bin"
if [ -n "$STARLING_BIN" ]; then
	log "using $STARLING_BIN; building the helpers"
	cp "$STARLING_BIN" "$WORK/bin/starling"
else
	log "building starling and the helpers"
	go build -o "$WORK/bin/starling" ./cmd/starling
fi
go build -o "$WORK/bin/prep" ./bench/compare/prep
go build -o "$WORK/bin/table" ./bench/compare/table
STARLING=$WORK/bin/starling PREP=$WORK/bin/prep

# The certificate of all three: self-signed, ECDSA P-256, for localhost.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 7 \
	-subj "/CN=$DOMAIN" -addext "subjectAltName=DNS:$DOMAIN" \
	-keyout "$WORK/key.pem" -out "$WORK/cert.pem" 2>/dev/null

# Which scenarios this starling has.
has_scenario() {
	local out
	out=$("$STARLING" bench "$1" 2>&1 || true)
	[[ $out != *"unknown scenario"* ]]
}
has_bulk() {
	local out
	out=$("$STARLING" user add -h 2>&1 || true)
	[[ $out == *-bulk* ]]
}

# --- Helpers ----------------------------------------------------------------------
fill() { # fill TEMPLATE OUT KEY=VALUE...: replaces @KEY@ with VALUE
	local tmpl=$1 out=$2 kv expr=()
	shift 2
	for kv in "$@"; do expr+=(-e "s|@${kv%%=*}@|${kv#*=}|g"); done
	sed "${expr[@]}" "$tmpl" >"$out"
}

wait_port() { # wait_port PORT PID SECONDS: 0 once PORT accepts, 1 if PID died or time ran out
	local port=$1 pid=$2 deadline=$((SECONDS + $3))
	while [ $SECONDS -lt $deadline ]; do
		kill -0 "$pid" 2>/dev/null || return 1
		if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
		sleep 0.2
	done
	return 1
}

descendant() { # descendant PID NAME WORD: the first process under PID named NAME with WORD in its arguments
	local pid=$1 name=$2 word=$3 child
	# shellcheck disable=SC2013 # the file is a list of PIDs separated by spaces
	for child in $(cat /proc/"$pid"/task/*/children 2>/dev/null); do
		if [ "$(cat /proc/"$child"/comm 2>/dev/null)" = "$name" ] &&
			tr '\0' '\n' <"/proc/$child/cmdline" 2>/dev/null | grep -qxF -- "$word"; then
			echo "$child"
			return 0
		fi
		descendant "$child" "$name" "$word" && return 0
	done
	return 1
}

# --- Servers ------------------------------------------------------------------------
# start_SERVER sets PORT, SERVER_PID (the process doing the work, whose CPU
# time and memory the bench reads) and WRAPPER_PID (the one started, when
# different); it returns non-zero, with the reason in $WORK/SERVER/why, when
# the server could not be started.

start_starling() {
	local d=$WORK/starling attempt
	mkdir -p "$d/data"
	for attempt in 1 2 3; do
		PORT=$("$PREP" ports 1)
		fill bench/compare/starling.yaml.in "$d/starling.yaml" DIR="$d" C2S_PORT="$PORT" DOMAIN="$DOMAIN" \
			CERTFILE="$WORK/cert.pem" KEYFILE="$WORK/key.pem" ITERATIONS="$ITERATIONS"
		if [ "$attempt" = 1 ]; then
			log "starling: creating $ACCOUNTS accounts"
			if has_bulk; then
				printf '%s\n' "$PASSWORD" | timeout 900 "$STARLING" user add -c "$d/starling.yaml" --bulk --count "$ACCOUNTS" "user%d@$DOMAIN" >/dev/null ||
					{ echo "starling user add --bulk failed" >"$d/why"; return 1; }
			else
				# Older starling: one account at a time, enough for login and messages.
				ACCOUNTS_STARLING=$((2 * PAIRS > LOGIN_WORKERS ? 2 * PAIRS : LOGIN_WORKERS))
				local i
				for i in $(seq "$ACCOUNTS_STARLING"); do
					printf '%s\n' "$PASSWORD" | timeout 60 "$STARLING" user add -c "$d/starling.yaml" "user$i@$DOMAIN" >/dev/null ||
						{ echo "starling user add failed" >"$d/why"; return 1; }
				done
			fi
		fi
		"${PIN_SERVER[@]}" "$STARLING" serve -c "$d/starling.yaml" >"$d/starling.log" 2>&1 &
		SERVER_PID=$! WRAPPER_PID=""
		wait_port "$PORT" "$SERVER_PID" 30 && return 0
		tail -5 "$d/starling.log" >"$d/why"
		stop_server
	done
	return 1
}

start_prosody() {
	local d=$WORK/prosody attempt
	mkdir -p "$d"/{data,plugins,certs,installed-plugins}
	log "prosody: writing $ACCOUNTS accounts (internal_hashed files)"
	printf '%s\n' "$PASSWORD" | "$PREP" prosody-accounts -data "$d/data" -domain "$DOMAIN" -count "$ACCOUNTS" -iterations "$ITERATIONS" ||
		{ echo "writing Prosody's accounts failed" >"$d/why"; return 1; }
	for attempt in 1 2 3; do
		PORT=$("$PREP" ports 1)
		fill bench/compare/prosody.cfg.lua.in "$d/prosody.cfg.lua" DIR="$d" C2S_PORT="$PORT" DOMAIN="$DOMAIN" \
			CERTFILE="$WORK/cert.pem" KEYFILE="$WORK/key.pem" ITERATIONS="$ITERATIONS"
		rm -f "$d/prosody.log"
		# prosody is a Lua script run through env: the PID is the interpreter's.
		"${PIN_SERVER[@]}" prosody -F --config "$d/prosody.cfg.lua" >"$d/prosody.out" 2>&1 </dev/null &
		SERVER_PID=$! WRAPPER_PID=""
		wait_port "$PORT" "$SERVER_PID" 30 && return 0
		cat "$d/prosody.log" "$d/prosody.out" 2>/dev/null | tail -5 >"$d/why"
		stop_server
	done
	return 1
}

EJABBERDCTL=()
start_ejabberd() {
	local d=$WORK/ejabberd attempt dist i node
	mkdir -p "$d"/{spool,logs}
	cat "$WORK/cert.pem" "$WORK/key.pem" >"$d/server.pem"
	cp bench/compare/inetrc "$d/inetrc"
	printf '%s\n' "$PASSWORD" | "$PREP" piefxis -domain "$DOMAIN" -count "$ACCOUNTS" >"$d/accounts.xml"
	for attempt in 1 2 3; do
		read -r PORT dist < <("$PREP" ports 2 | xargs)
		fill bench/compare/ejabberd.yml.in "$d/ejabberd.yml" C2S_PORT="$PORT" DOMAIN="$DOMAIN" PEMFILE="$d/server.pem"
		node="bench$PORT@localhost"
		fill bench/compare/ejabberdctl.cfg.in "$d/ejabberdctl.cfg" NODE="$node" DIST_PORT="$dist" \
			COOKIE="$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
		EJABBERDCTL=(ejabberdctl --config-dir "$d" --ctl-config "$d/ejabberdctl.cfg" --config "$d/ejabberd.yml"
			--spool "$d/spool" --logs "$d/logs")
		"${PIN_SERVER[@]}" "${EJABBERDCTL[@]}" foreground >"$d/ejabberd.out" 2>&1 </dev/null &
		WRAPPER_PID=$!
		# The work is done by beam.smp, a few processes below ejabberdctl.
		SERVER_PID=""
		for i in $(seq 100); do
			SERVER_PID=$(descendant "$WRAPPER_PID" beam.smp "$node") && break
			kill -0 "$WRAPPER_PID" 2>/dev/null || break
			sleep 0.1
		done
		if [ -n "$SERVER_PID" ] && wait_port "$PORT" "$SERVER_PID" 60; then
			log "ejabberd: importing $ACCOUNTS accounts (XEP-0227, ejabberdctl import_piefxis)"
			if timeout 900 "${EJABBERDCTL[@]}" import_piefxis "$d/accounts.xml" >"$d/import.out" 2>&1; then
				return 0
			fi
			echo "ejabberdctl import_piefxis failed: $(tail -1 "$d/import.out")" >"$d/why"
			stop_server
			return 1
		fi
		cat "$d/logs/error.log" "$d/ejabberd.out" 2>/dev/null | tail -5 >"$d/why"
		[ -n "$SERVER_PID" ] || SERVER_PID=$WRAPPER_PID
		stop_server
	done
	return 1
}

# --- Scenarios -------------------------------------------------------------------------
fail() { # fail SERVER ID MESSAGE: records a scenario that did not run
	mkdir -p "$RESULTS/$1"
	printf '%s\n' "$3" >"$RESULTS/$1/$2.err"
	log "$1 $2: $3"
}

bench_run() { # bench_run SERVER ID DURATION SCENARIO ARGS...
	local server=$1 id=$2 dur=$3 out err rc=0 limit
	shift 3
	out=$RESULTS/$server/$id.json err=$RESULTS/$server/$id.err
	mkdir -p "$RESULTS/$server"
	rm -f "$out" "$err"
	if ! kill -0 "$SERVER_PID" 2>/dev/null; then
		fail "$server" "$id" "the server is no longer running"
		return
	fi
	limit=$((${dur%s} + RUN_SLACK))
	log "$server $id"
	STARLING_PASSWORD=$PASSWORD timeout -s INT -k 15 "$limit" "${PIN_GEN[@]}" "$STARLING" bench "$@" \
		--domain "$DOMAIN" --addr "127.0.0.1:$PORT" --server-pid "$SERVER_PID" --json >"$out.tmp" 2>"$err.tmp" || rc=$?
	if [ -s "$out.tmp" ] && grep -q '"scenario"' "$out.tmp"; then
		mv "$out.tmp" "$out"
		rm -f "$err.tmp"
	else
		rm -f "$out.tmp"
		[ "$rc" = 124 ] && echo "no report within $limit s" >>"$err.tmp"
		[ -s "$err.tmp" ] || echo "starling bench exited with status $rc" >"$err.tmp"
		mv "$err.tmp" "$err"
		log "$server $id failed: $(tail -1 "$err")"
	fi
}

run_scenarios() { # run_scenarios SERVER
	local s=$1 tls=(--tls --ca "$WORK/cert.pem" --mechanism SCRAM-SHA-1) count=$ACCOUNTS
	[ "$s" = starling ] && [ -n "${ACCOUNTS_STARLING:-}" ] && count=$ACCOUNTS_STARLING
	bench_run "$s" login-plain "$DUR" login --plain --mechanism PLAIN --workers "$LOGIN_WORKERS" --count "$count" --duration "$DUR"
	bench_run "$s" login-tls "$DUR" login "${tls[@]}" --workers "$LOGIN_WORKERS" --count "$count" --duration "$DUR"
	bench_run "$s" messages-plain "$DUR" messages --plain --mechanism PLAIN --pairs "$PAIRS" --window "$WINDOW" --duration "$DUR"
	bench_run "$s" messages-tls "$DUR" messages "${tls[@]}" --pairs "$PAIRS" --window "$WINDOW" --duration "$DUR"
	if ! has_scenario idle; then
		fail "$s" idle "this starling has no idle scenario"
	elif [ "$count" -lt "$IDLE_CONN" ]; then
		fail "$s" idle "too few accounts ($count) for $IDLE_CONN connections"
	else
		bench_run "$s" idle "$IDLE_HOLD" idle "${tls[@]}" --connections "$IDLE_CONN" --workers 16 --count "$count" --duration "$IDLE_HOLD"
	fi
	if ! has_scenario presence; then
		fail "$s" presence "this starling has no presence scenario"
	elif [ "$count" -lt "$PRES_COUNT" ]; then
		fail "$s" presence "too few accounts ($count) for $PRES_COUNT"
	else
		bench_run "$s" presence "$DUR" presence "${tls[@]}" --count "$PRES_COUNT" --contacts "$PRES_CONTACTS" --workers 16
	fi
}

# --- The run ---------------------------------------------------------------------------
log "results in $RESULTS; work directory $WORK"
for s in $SERVERS; do
	log "$s: starting"
	if "start_$s"; then
		log "$s: PID $SERVER_PID on 127.0.0.1:$PORT"
		run_scenarios "$s"
		cp "$WORK/$s/"*.log "$RESULTS/$s/" 2>/dev/null || true
		if [ "$s" = ejabberd ]; then cp "$WORK/ejabberd/logs/"*.log "$RESULTS/$s/" 2>/dev/null || true; fi
		stop_server
	else
		why="$s did not start: $(tr '\n' ' ' <"$WORK/$s/why" 2>/dev/null)"
		mkdir -p "$RESULTS/$s"
		cp "$WORK/$s/"*.log "$WORK/$s/"*.out "$WORK/$s/logs/"*.log "$RESULTS/$s/" 2>/dev/null || true
		for id in login-plain login-tls messages-plain messages-tls idle presence; do fail "$s" "$id" "$why"; done
	fi
done

# --- The machine and the table -------------------------------------------------------------
pkgver() { dpkg-query -W -f='${Version}' "$1" 2>/dev/null || echo unknown; }
cpu=$(lscpu 2>/dev/null | sed -n 's/^Model name:[[:space:]]*//p' | head -1)
hyp=$(lscpu 2>/dev/null | sed -n 's/^Hypervisor vendor:[[:space:]]*//p' | head -1)
[ -n "$hyp" ] && cpu="$cpu (virtualised, $hyp)"
mem=$(awk '/^MemTotal:/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo)
# The command, without this machine's paths.
cmd="bench/compare.sh"
prev=""
for a in "${ARGS[@]}"; do
	case $prev in
	--results) a=DIR ;;
	--starling) a=BINARY ;;
	esac
	cmd="$cmd $a" prev=$a
done
note="other processes on the machine were not stopped"
[ "$QUICK" = 1 ] && note="a --quick run (short durations): indicative only; $note"
{
	printf 'date\t%s\n' "$(date -u '+%Y-%m-%d %H:%M UTC')"
	printf 'cpu\t%s\n' "${cpu:-unknown}"
	printf 'cores\t%s\n' "$NCPU"
	printf 'memory\t%s\n' "$mem"
	printf 'kernel\t%s\n' "$(uname -r)"
	printf 'debian\t%s\n' "$(cat /etc/debian_version 2>/dev/null || echo unknown)"
	printf 'go\t%s\n' "$(go env GOVERSION)"
	printf 'starling\t%s\n' "$("$STARLING" version 2>/dev/null | head -1)"
	printf 'prosody\t%s\n' "$(pkgver prosody)"
	printf 'ejabberd\t%s\n' "$(pkgver ejabberd)"
	printf 'erlang\t%s\n' "$(pkgver erlang-base)"
	printf 'pinning\t%s\n' "$PINNING"
	printf 'accounts\tuser1..user%s@%s, one password; all three store salted SCRAM keys (PBKDF2, %s iterations), never the password\n' "$ACCOUNTS" "$DOMAIN" "$ITERATIONS"
	printf 'storage_starling\tSQLite (WAL), SCRAM-SHA-1/256/512 keys; accounts made with starling user add%s\n' "$(has_bulk && echo ' --bulk')"
	printf 'storage_prosody\tinternal_hashed auth and internal (file) storage, SCRAM-SHA-1 keys; account files written directly, as prosodyctl register would\n'
	printf 'storage_ejabberd\tMnesia, auth_password_format scram (SHA-1 keys); accounts imported with ejabberdctl import_piefxis (XEP-0227)\n'
	printf 'limits\tno shapers or rate limits (ejabberd: shaper none, max_fsm_queue 1000000; Prosody: mod_limits not loaded; Starling has none for c2s), no connection caps; plain TCP logins allowed on all three\n'
	printf 'note\t%s\n' "$note"
	printf 'command\t%s\n' "$cmd"
} >"$RESULTS/meta.tsv"

if [ "$WRITE_DOC" = 1 ]; then
	"$WORK/bin/table" -doc docs/performance.md "$RESULTS"
	log "docs/performance.md updated"
fi
"$WORK/bin/table" "$RESULTS" | tee "$RESULTS/table.md"
