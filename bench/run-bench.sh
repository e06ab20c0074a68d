#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# The side-by-side benchmark (issue 6): sluice against its limits and its kernel-path peers,
# on this machine, in one run, with the same offered traffic from sluice-gen.
#
#   bench/run-bench.sh [--quick] [--name NAME] [--build DIR] [--out DIR] [--data-dir DIR]
#                      [--seconds N] [--only STEP[,STEP..]]
#
# Steps: memif_rxonly (receive limit: testpmd rxonly fed by sluice-gen over memif, 64/512 B),
# pcap_rxonly (testpmd rxonly on net_pcap infinite_rx: the PMD without a sender), fio (disk
# limit in the data directory), udp_sink and rsyslog (kernel peers fed over loopback by several
# sender processes, SLUICE_BENCH_SENDERS, on a doubling-then-bisecting rate grid, to the highest
# rate with <= 0.1% loss; each says whether its loss, the senders or the grid ended it),
# kafka_client (a plain librdkafka producer, kcat, against
# librdkafka's embedded mock cluster), sluiced (when the daemon is built).
# Writes <out>/<name>.json, <out>/<name>.md and, with gnuplot, <out>/<name>-*.png.
# It reports; it never asserts a number. --quick runs every step for about a second (CI).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/.." && pwd)
quick=0
name="bench-$(date -u +%Y%m%d-%H%M%S)"
build="${SLUICE_BUILD_ROOT:-}"
out="$here/results"
data_dir=""
secs=""
only=""
while [ $# -gt 0 ]; do
	case "$1" in
	--quick) quick=1 ;;
	--name) name=$2; shift ;;
	--build) build=$2; shift ;;
	--out) out=$2; shift ;;
	--data-dir) data_dir=$2; shift ;;
	--seconds) secs=$2; shift ;;
	--only) only=$2; shift ;;
	-h | --help) sed -n '3,17p' "$0"; exit 0 ;;
	*) echo "run-bench: $1: unknown option (see --help)" >&2; exit 2 ;;
	esac
	shift
done
if [ -z "$secs" ]; then secs=$([ $quick = 1 ] && echo 1 || echo 5); fi
if [ -z "$build" ]; then
	for d in "$src"/build "$src"/build-*; do
		[ -x "$d/bench/sluice-gen" ] && { build=$d; break; }
	done
fi
GEN="$build/bench/sluice-gen"
SINK="$build/bench/udp_sink"
[ -x "$GEN" ] || { echo "run-bench: no sluice-gen under '$build' (use --build)" >&2; exit 2; }
mkdir -p "$out"
work=$(mktemp -d /tmp/sluice-bench.XXXXXX)
[ -n "$data_dir" ] || data_dir="$work/data"
mkdir -p "$data_dir" "$work/steps"
prefixes=()
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	for p in "${prefixes[@]}"; do rm -rf "/var/run/dpdk/$p"; done
	[ -n "${KEEP_WORK:-}" ] || rm -rf "$work"
}
trap cleanup EXIT
clk=$(getconf CLK_TCK)
log() { echo "run-bench: $*" >&2; }
calc() { awk "BEGIN { printf \"%.6f\", ($1) }"; }
want() { [ -z "$only" ] || [[ ",$only," == *",$1,"* ]]; }
# CPU seconds used so far by a live process (utime + stime).
cpu_s() { awk -v t="$clk" '{ printf "%.3f", ($14 + $15) / t }' "/proc/$1/stat" 2>/dev/null || echo 0; }
json_get() { python3 -c 'import json,sys
d=json.load(open(sys.argv[1]))
for k in sys.argv[2].split("."): d=d[k]
print(d)' "$1" "$2"; }
step_json() { # name then key=value... (values are numbers or JSON)
	local f="$work/steps/$1.json"; shift
	python3 - "$f" "$@" <<'PY'
import json, sys
out = {}
for kv in sys.argv[2:]:
    k, v = kv.split("=", 1)
    try:
        out[k] = json.loads(v)
    except ValueError:
        out[k] = v
with open(sys.argv[1], "w") as f:
    json.dump(out, f)
PY
}
wait_for() { # file pattern seconds
	for _ in $(seq 1 $(($3 * 10))); do
		grep -q -- "$2" "$1" 2>/dev/null && return 0
		sleep 0.1
	done
	log "timed out waiting for '$2' in $1"
	return 1
}

# testpmd in interactive mode reading commands from a fifo on fd 3; fwd lcore on CPU 1.
testpmd_start() { # tag vdev
	local tag=$1 vdev=$2 prefix="sluice-bench-tp-$$-$1"
	prefixes+=("$prefix")
	rm -f "$work/$tag.cmd"
	mkfifo "$work/$tag.cmd"
	exec 3<>"$work/$tag.cmd"
	stdbuf -oL dpdk-testpmd --no-pci --no-huge -m 512 --file-prefix "$prefix" \
		--lcores 0@0,1@1 --log-level='*:warning' --vdev "$vdev" -- \
		-i --forward-mode=rxonly --total-num-mbufs=32768 <&3 >"$work/$tag.tp" 2>&1 &
	tp=$!
	pids+=("$tp")
}
testpmd_stop() {
	echo quit >&3 || true
	for _ in $(seq 1 30); do kill -0 "$tp" 2>/dev/null || break; sleep 0.1; done
	kill "$tp" 2>/dev/null || true
	wait "$tp" 2>/dev/null || true
	exec 3>&-
}
# Last "RX-packets:" and "Rx-pps:" values testpmd printed.
# (from "show port stats", not the forward statistics printed at quit, after memif has
# cleared its counters on the peer's disconnect)
tp_rx() { awk '/NIC statistics for port/ { f = 1 } f && /RX-packets:/ { v = $2; f = 0 } END { print v + 0 }' "$1"; }
tp_pps() { grep -E 'Rx-pps:' "$1" | tail -1 | awk '{print $2}'; }

# 1. Receive limit: sluice-gen -> memif -> testpmd rxonly.
memif_rxonly() { # frame bytes
	local size=$1 tag="memif_rxonly_$1" sock="$work/memif-$1.sock" gp="sluice-bench-gen-$$-$1"
	prefixes+=("$gp")
	log "$tag: sluice-gen -> memif -> testpmd rxonly, ${size} B frames, ${secs} s"
	testpmd_start "$tag" "net_memif0,role=server,socket=$sock,socket-abstract=no"
	# memif's client connects once, when its port starts: wait for testpmd's port first.
	wait_for "$work/$tag.tp" "Checking link statuses" 30 || true
	"$GEN" --vdev "net_memif0,role=client,socket=$sock,socket-abstract=no" --lcores 0@0 \
		--file-prefix "$gp" --format raw --event-size $((size - 42)) --producers 16 \
		--duration "$secs" --linger-ms 3000 --link-wait-ms 15000 \
		--summary "$work/$tag.gen.json" 2>"$work/$tag.gen.err" &
	local gen=$!
	wait_for "$work/$tag.tp" "^Done" 30 || true
	echo start >&3
	local c0; c0=$(cpu_s "$tp")
	wait_for "$work/$tag.gen.err" "done, lingering" $((secs + 30)) || true
	sleep 1
	local c1; c1=$(cpu_s "$tp")
	echo "show port stats all" >&3
	wait_for "$work/$tag.tp" "RX-packets" 10 || true
	wait "$gen" || true
	testpmd_stop
	local rx sent pps
	rx=$(tp_rx "$work/$tag.tp")
	sent=$(json_get "$work/$tag.gen.json" run.tx_packets)
	pps=$(json_get "$work/$tag.gen.json" run.pps)
	step_json "$tag" kind=limit what="testpmd rxonly on memif, sluice-gen raw ${size} B" \
		frame_bytes="$size" sent="$sent" received="${rx:-0}" pps="$pps" \
		gbps="$(json_get "$work/$tag.gen.json" run.gbps)" \
		receiver_cpu_s="$(calc "$c1 - $c0")"
}

# 2. The PMD alone: testpmd rxonly replaying a pcap forever.
pcap_rxonly() { # frame bytes
	local size=$1 tag="pcap_rxonly_$1"
	log "$tag: testpmd rxonly on net_pcap infinite_rx, ${size} B frames, ${secs} s"
	"$GEN" --pcap "$work/$tag.pcap" --format raw --event-size $((size - 42)) --producers 16 \
		--count 1024 --quiet --summary /dev/null
	testpmd_start "$tag" "net_pcap0,rx_pcap=$work/$tag.pcap,infinite_rx=1"
	wait_for "$work/$tag.tp" "Checking link statuses" 20 || true
	echo start >&3
	sleep 1
	echo "show port stats all" >&3
	sleep "$secs"
	echo "show port stats all" >&3
	sleep 0.5
	echo stop >&3
	sleep 0.5
	testpmd_stop
	local pps
	pps=$(tp_pps "$work/$tag.tp")
	step_json "$tag" kind=limit what="testpmd rxonly on net_pcap infinite_rx ${size} B" \
		frame_bytes="$size" pps="${pps:-0}" \
		gbps="$(calc "${pps:-0} * ($size + 24) * 8 / 1000000000")"
}

# 3. Disk limit: sequential O_DIRECT writes and append+fdatasync in the data directory.
fio_steps() {
	local size; size=$([ $quick = 1 ] && echo 128M || echo 2G)
	log "fio: sequential 1 MiB O_DIRECT writes and 4 KiB append+fdatasync in $data_dir"
	fio --name=seq --directory="$data_dir" --rw=write --bs=1M --direct=1 --ioengine=io_uring \
		--iodepth=8 --size="$size" --runtime="$secs" --time_based --output-format=json \
		>"$work/fio_seq.json" 2>/dev/null
	fio --name=sync --directory="$data_dir" --rw=write --bs=4k --fdatasync=1 --ioengine=sync \
		--size=64M --runtime="$secs" --time_based --output-format=json \
		>"$work/fio_sync.json" 2>/dev/null
	rm -f "$data_dir"/seq.* "$data_dir"/sync.*
	step_json fio_seq kind=limit what="fio seq write 1 MiB O_DIRECT io_uring qd8" \
		mb_s="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["jobs"][0]["write"]["bw_bytes"]/1e6)' "$work/fio_seq.json")"
	step_json fio_fdatasync kind=limit what="fio 4 KiB append + fdatasync" \
		syncs_per_s="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["jobs"][0]["write"]["iops"])' "$work/fio_sync.json")" \
		sync_p50_us="$(python3 -c 'import json,sys; j=json.load(open(sys.argv[1]))["jobs"][0]["sync"]["lat_ns"]["percentile"]; print(j.get("50.000000",0)/1000)' "$work/fio_sync.json")" \
		sync_p99_us="$(python3 -c 'import json,sys; j=json.load(open(sys.argv[1]))["jobs"][0]["sync"]["lat_ns"]["percentile"]; print(j.get("99.000000",0)/1000)' "$work/fio_sync.json")"
}

# 4. Kernel peers over loopback, same event stream (lines, 100 B events, one per datagram).
# Fed by $senders sluice-gen processes (each at rate / senders), so that the peer, not one
# sending core, sets the ceiling. The grid doubles from 50 k pps until the peer loses more than
# 0.1 % (or the senders cannot reach the offered rate), then bisects between the last clean and
# the first lossy rate ($bisect steps: about 6 % resolution after 3).
senders=${SLUICE_BENCH_SENDERS:-$([ $quick = 1 ] && echo 2 || echo 4)}
bisect=${SLUICE_BENCH_BISECT:-$([ $quick = 1 ] && echo 0 || echo 3)}
peer_max_pps=${SLUICE_BENCH_PEER_MAX_PPS:-$([ $quick = 1 ] && echo 200000 || echo 6400000)}
peer_point() { # peer rate port -> prints "received cpu_s sent p50 p99 p999 sender_cpu_s"
	local peer=$1 rate=$2 port=$3 dir="$work/$1-$2" rpid
	mkdir -p "$dir"
	if [ "$peer" = udp_sink ]; then
		"$SINK" --bind "127.0.0.1:$port" --out "$dir/out.log" --flush-ms 10 \
			--summary "$dir/sink.json" 2>"$dir/sink.err" &
		rpid=$!
	else
		cat >"$dir/rsyslog.conf" <<-EOF
			global(workDirectory="$dir")
			module(load="imudp" threads="1")
			template(name="raw" type="string" string="%rawmsg%\n")
			ruleset(name="bench") { action(type="omfile" file="$dir/out.log" template="raw") }
			input(type="imudp" address="127.0.0.1" port="$port" ruleset="bench" rcvbufSize="32m")
		EOF
		rsyslogd -n -f "$dir/rsyslog.conf" -i "$dir/rsyslog.pid" >"$dir/rsyslog.err" 2>&1 &
		rpid=$!
	fi
	pids+=("$rpid")
	for _ in $(seq 1 50); do ss -Huln "sport = :$port" | grep -q . && break; sleep 0.1; done
	local c0 c1 s t0 t1 gpids=()
	c0=$(cpu_s "$rpid")
	t0=$(awk '{ print $14 + $15 + $16 + $17 }' /proc/$BASHPID/stat)
	for ((s = 0; s < senders; s++)); do
		"$GEN" --udp "127.0.0.1:$port" --format lines --event-size 100 \
			--pps $((rate / senders)) --stamp --duration "$secs" --quiet \
			--summary "$dir/gen$s.json" &
		gpids+=($!)
	done
	for p in "${gpids[@]}"; do wait "$p" || true; done
	t1=$(awk '{ print $14 + $15 + $16 + $17 }' /proc/$BASHPID/stat)
	sleep 1
	c1=$(cpu_s "$rpid")
	kill -TERM "$rpid" 2>/dev/null || true
	wait "$rpid" 2>/dev/null || true
	local got=0 sent=0
	[ -f "$dir/out.log" ] && got=$(wc -l <"$dir/out.log")
	for ((s = 0; s < senders; s++)); do
		sent=$((sent + $(json_get "$dir/gen$s.json" run.tx_packets)))
	done
	# durable latency (send -> fdatasync done), udp_sink only: rsyslog's omfile never syncs
	local p50=null p99=null p999=null
	if [ -f "$dir/sink.json" ] && grep -q durable_latency_p50_us "$dir/sink.json"; then
		p50=$(json_get "$dir/sink.json" durable_latency_p50_us)
		p99=$(json_get "$dir/sink.json" durable_latency_p99_us)
		p999=$(json_get "$dir/sink.json" durable_latency_p999_us)
		python3 -c 'import json,sys; print(json.dumps(json.load(open(sys.argv[1]))["durable_latency_cdf"]))' \
			"$dir/sink.json" >"$work/$peer-$rate.cdf.json"
	fi
	echo "$got $(calc "$c1 - $c0") $sent $p50 $p99 $p999 $(calc "($t1 - $t0) / $clk")"
}
peer_sweep() { # peer
	local peer=$1 best=0 best_cpu=0 best_lat="null null null" points="[" port=$((19600 + RANDOM % 300))
	local good=0 bad=0 r=50000 step=0 ended=""
	log "$peer: $senders senders, ${secs} s per rate, doubling from 50 k pps then $bisect bisection steps, lines format, 100 B events"
	while :; do
		read -r got cpu sent p50 p99 p999 scpu < <(peer_point "$peer" "$r" "$port")
		port=$((port + 1))
		local loss; loss=$(calc "($sent - $got) * 100 / ($sent + ($sent == 0))")
		log "$peer: offered $r pps: sent $sent received $got loss $(printf %.3f "$loss") %"
		points="$points{\"offered_pps\":$r,\"sent\":$sent,\"received\":$got,\"loss_pct\":$loss,\"cpu_s\":$cpu,\"senders\":$senders,\"sender_cpu_s\":$scpu,\"durable_p50_us\":$p50,\"durable_p99_us\":$p99,\"durable_p999_us\":$p999},"
		local clean=0 saturated=0
		awk "BEGIN { exit !($loss <= 0.1) }" && clean=1
		awk "BEGIN { exit !($sent < 0.9 * $r * $secs) }" && saturated=1
		if [ $clean = 1 ] && awk "BEGIN { exit !($got / $secs > $best) }"; then
			best=$(calc "$got / $secs")
			best_cpu=$(calc "$cpu * 1000000000 / ($got + ($got == 0))")
			best_lat="$p50 $p99 $p999"
			[ -f "$work/$peer-$r.cdf.json" ] && cp "$work/$peer-$r.cdf.json" "$work/steps-$peer.cdf.json"
		fi
		if [ $clean = 1 ] && [ $saturated = 0 ]; then good=$r; else bad=$r; fi
		if [ $clean = 1 ] && [ $saturated = 1 ] && [ -z "$ended" ]; then
			ended="senders"
			log "$peer: $senders senders reached only $(calc "$sent / $secs") pps without loss: the ceiling found is the senders'"
		fi
		[ $clean = 0 ] && [ -z "$ended" ] && ended="loss"
		if [ "$bad" = 0 ]; then
			[ $((r * 2)) -le "$peer_max_pps" ] || { ended="grid"; break; }
			r=$((r * 2))
			continue
		fi
		[ "$step" -lt "$bisect" ] || break
		step=$((step + 1))
		r=$(((good + bad) / 2))
	done
	points="${points%,}]"
	local l50 l99 l999 cdf=null
	read -r l50 l99 l999 <<<"$best_lat"
	[ -f "$work/steps-$peer.cdf.json" ] && cdf=$(cat "$work/steps-$peer.cdf.json")
	step_json "$peer" kind=peer durable_p50_us="$l50" durable_p99_us="$l99" \
		durable_p999_us="$l999" durable_cdf="$cdf" what="$peer over loopback (lines, 100 B events$([ "$peer" = rsyslog ] && echo ", omfile without fsync"), $senders senders)" \
		best_eps="$best" cpu_ns_per_event="$best_cpu" points="$points" senders="$senders" \
		limited_by="\"${ended:-grid}\"" first_lossy_pps="$bad" last_clean_pps="$good"
}

# 5. Kafka client limit: a plain librdkafka producer (kcat) into librdkafka's mock cluster.
kafka_client() {
	local n; n=$([ $quick = 1 ] && echo 100000 || echo 1000000)
	log "kafka_client: kcat producing $n x 100 B, idempotent, acks=all, mock cluster"
	python3 -c 'import sys
n=int(sys.argv[1]); s="x"*90
sys.stdout.write("".join("%09d %s\n" % (i, s) for i in range(n)))' "$n" >"$work/kafka.in"
	local t0 t1
	t0=$(date +%s.%N)
	kcat -X test.mock.num.brokers=3 -X enable.idempotence=true -X acks=all -X linger.ms=5 \
		-P -b 127.0.0.1:1 -t bench <"$work/kafka.in" 2>"$work/kcat.err" || true
	t1=$(date +%s.%N)
	step_json kafka_client kind=limit what="kcat -> librdkafka mock cluster, 100 B" \
		messages="$n" eps="$(calc "$n / ($t1 - $t0)")"
}

# 6. sluiced itself: memif server port, one worker on CPU 1, kafka listener; sluice-gen sends
# packed kafka batches (20 x 50 B events, explicit partitions, stored as received) unpaced.
sluiced_run() { # tag forward(0|1) format(kafka|lines)
	local tag=$1 fwd=$2 fmt=$3 sd="$build/control/sluiced" ctl="$build/tools/sluicectl"
	local sock="$work/$tag.sock" sp="sluice-bench-sd-$$-$tag" gp="sluice-bench-sg-$$-$tag"
	prefixes+=("$sp" "$gp")
	cat >"$work/$tag.ini" <<-EOF
		[eal]
		memory = no-huge
		memory_mb = 1024
		file_prefix = $sp
		lcores = 0@0,1@1
		[storage]
		data_dir = $data_dir/$tag
		[port.p0]
		device = net_memif0
		args = role=server,socket=$sock,socket-abstract=no
		link_wait = 0
		promiscuous = true
		[topic.events]
		partitions = 4
		[listener.events]
		udp_port = 9000
		format = $fmt
		[kafka]
		enabled = $([ "$fwd" = 1 ] && echo true || echo false)
		brokers = embedded
		[control]
		socket = $work/$tag.ctl
		metrics_listen = 127.0.0.1:0
	EOF
	log "$tag: sluiced (forwarding $([ "$fwd" = 1 ] && echo "to the embedded Kafka" || echo off)) fed by sluice-gen over memif, ${secs} s"
	"$sd" -c "$work/$tag.ini" >"$work/$tag.out" 2>"$work/$tag.err" &
	local spid=$!
	pids+=("$spid")
	if ! wait_for "$work/$tag.out" "^sluiced: running" 30; then
		tail -5 "$work/$tag.err" >&2
		step_json "$tag" kind=sluice what="sluiced did not start" skipped=true
		return
	fi
	local c0; c0=$(cpu_s "$spid")
	# kafka: packed batches (20 x 50 B) for explicit partitions, stored as received; lines:
	# the peers' traffic, one 100 B event per datagram.
	local traffic="--format kafka --partitions 4 --events-per-packet 20 --event-size 50"
	[ "$fmt" = lines ] && traffic="--format lines --events-per-packet 1 --event-size 100"
	# quick (CI): bounded work, so that forwarding to the mock cluster settles in seconds
	[ $quick = 1 ] && traffic="$traffic --count 20000"
	# shellcheck disable=SC2086
	"$GEN" --vdev "net_memif0,role=client,socket=$sock,socket-abstract=no" --lcores 0@0 \
		--file-prefix "$gp" $traffic --producers 8 --duration "$secs" --linger-ms 500 \
		--link-wait-ms 15000 --quiet --summary "$work/$tag.gen.json" 2>"$work/$tag.gen.err" || true
	stats() { "$ctl" -s "$work/$tag.ctl" -t 10 -j stats 2>/dev/null || echo '{}'; }
	# Settle: wait until nothing is open or in flight (and, forwarding, all forwarded).
	local st i t0 t1
	t0=$(date +%s.%N)
	for i in $(seq 1 $((quick ? 100 : 600))); do
		st=$(stats)
		if python3 -c 'import json,sys
d=json.loads(sys.argv[1]); f=sys.argv[2]=="1"
ok = d.get("open",1)==0 and d.get("in_flight",1)==0 and (not f or d.get("pending",1)==0)
sys.exit(0 if ok else 1)' "$st" "$fwd"; then break; fi
		sleep 0.1
	done
	t1=$(date +%s.%N)
	echo "$st" >"$work/$tag.stats.json"
	local c1; c1=$(cpu_s "$spid")
	kill -TERM "$spid" 2>/dev/null || true
	wait "$spid" 2>/dev/null || true
	python3 - "$work/$tag.stats.json" "$work/$tag.gen.json" "$work/steps/$tag.json" \
		"$(calc "$c1 - $c0")" "$(calc "$t1 - $t0")" "$fwd" "$fmt" <<-'PY'
		import json, sys
		st = json.load(open(sys.argv[1])); g = json.load(open(sys.argv[2]))
		cpu = float(sys.argv[4]); settle = float(sys.argv[5]); fwd = sys.argv[6] == "1"
		traffic = "kafka 20 x 50 B" if sys.argv[7] == "kafka" else "lines 1 x 100 B"
		secs = g["run"]["seconds"] or 1
		sent = g["run"]["tx_events"]; persisted = st.get("persisted", 0)
		shed = sum(st.get("shed", {}).values())
		out = {"kind": "sluice",
		       "what": "sluiced, memif, " + traffic + ", 1 worker" + (", forwarding" if fwd else ", persist only"),
		       "offered_eps": g["run"]["eps"], "offered_pps": g["run"]["pps"],
		       "sent_events": sent, "parsed": st.get("parsed", 0), "persisted": persisted,
		       "persisted_eps": persisted / secs, "shed": shed,
		       "loss_pct": 100.0 * (sent - persisted) / sent if sent else 0,
		       "mb_s_persisted": st.get("bytes_on_disk", 0) / secs / 1e6,
		       "cpu_ns_per_event": cpu * 1e9 / persisted if persisted else 0,
		       "settle_s": settle, "unaccounted": st.get("unaccounted"),
		       # Where the events that were not persisted went, by who dropped them:
		       # the memif link (sent, never reached the port), the NIC (missed: RX ring
		       # full), the worker (rejected, shed by reason and cause).
		       "sent_packets": g["run"]["tx_packets"],
		       "nic_received_packets": st.get("nic_received", 0),
		       "nic_missed_packets": st.get("nic_missed", 0),
		       "rejected": sum(st.get("rejected", {}).values()),
		       "shed_by_reason": st.get("shed", {}),
		       "shed_by_cause": st.get("shed_cause", {}),
		       "shed_storage": st.get("shed_storage", {}),
		       "shed_pct": 100.0 * shed / sent if sent else 0}
		out["link_lost_packets"] = max(0, out["sent_packets"] - out["nic_received_packets"]
		                               - out["nic_missed_packets"])
		if fwd:
		    out["forwarded"] = st.get("forwarded", 0)
		    out["forwarded_eps"] = st.get("forwarded", 0) / (secs + settle)
		json.dump(out, open(sys.argv[3], "w"))
	PY
}

sluiced_step() {
	if [ ! -x "$build/control/sluiced" ] || [ ! -x "$build/tools/sluicectl" ]; then
		log "sluiced: not built under $build; step skipped"
		step_json sluiced kind=sluice what="sluiced (not built)" skipped=true
		return
	fi
	sluiced_run sluiced_persist 0 kafka
	sluiced_run sluiced_lines 0 lines
	sluiced_run sluiced_forward 1 kafka
}

# Receive limit against frame size (the full run sweeps; --quick measures 64 and 512 B).
if want memif_rxonly; then
	for sz in $([ $quick = 1 ] && echo "64 512" || echo "64 128 256 512 1024 1500"); do
		memif_rxonly "$sz"
	done
fi
want pcap_rxonly && { pcap_rxonly 64; pcap_rxonly 512; }
want fio && fio_steps
want udp_sink && peer_sweep udp_sink
want rsyslog && peer_sweep rsyslog
want kafka_client && kafka_client
want sluiced && sluiced_step

python3 - "$work/steps" "$out" "$name" "$quick" "$secs" <<'PY'
import glob, json, os, platform, sys
steps_dir, out, name, quick, secs = sys.argv[1:]
steps = {}
for f in sorted(glob.glob(os.path.join(steps_dir, "*.json"))):
    steps[os.path.basename(f)[:-5]] = json.load(open(f))
cpu = ""
try:
    for line in open("/proc/cpuinfo"):
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
except OSError:
    pass
res = {"name": name, "quick": quick == "1", "seconds_per_step": float(secs),
       "machine": {"cpu": cpu, "cpus": os.cpu_count(), "kernel": platform.release(),
                   "loadavg_at_end": os.getloadavg()},
       "steps": steps}
with open(os.path.join(out, name + ".json"), "w") as f:
    json.dump(res, f, indent=2, sort_keys=True)
def fmt(v, unit=""):
    if isinstance(v, (int, float)):
        if v >= 1e6:
            return "%.2f M%s" % (v / 1e6, unit)
        if v >= 1e3:
            return "%.1f k%s" % (v / 1e3, unit)
        return "%.2f %s" % (v, unit)
    return str(v)
rows = ["| step | what | rate | notes |", "|---|---|---|---|"]
for k, s in steps.items():
    if s.get("skipped"):
        rows.append("| %s | %s | - | skipped |" % (k, s.get("what", "")))
    elif "pps" in s:
        note = "%.2f Gbit/s" % s.get("gbps", 0)
        if "received" in s:
            note += ", sent %s, received %s" % (s["sent"], s["received"])
        rows.append("| %s | %s | %s | %s |" % (k, s["what"], fmt(s["pps"], "pps"), note))
    elif "mb_s" in s:
        rows.append("| %s | %s | %.0f MB/s | |" % (k, s["what"], s["mb_s"]))
    elif "syncs_per_s" in s:
        rows.append("| %s | %s | %s | p50 %.0f us, p99 %.0f us |" % (
            k, s["what"], fmt(s["syncs_per_s"], "syncs/s"), s["sync_p50_us"], s["sync_p99_us"]))
    elif "best_eps" in s:
        lat = ""
        if s.get("durable_p50_us") is not None:
            lat = "; durable latency p50 %.1f ms, p99 %.1f ms, p99.9 %.1f ms" % (
                s["durable_p50_us"] / 1e3, s["durable_p99_us"] / 1e3, s["durable_p999_us"] / 1e3)
        rows.append("| %s | %s | %s | highest rate with <= 0.1%% loss; %.0f ns CPU/event%s |" % (
            k, s["what"], fmt(s["best_eps"], "ev/s"), s["cpu_ns_per_event"], lat))
    elif "persisted_eps" in s:
        note = "offered %s, persisted %.0f MB/s, loss %.2f %%, %.0f ns CPU/event" % (
            fmt(s["offered_eps"], "ev/s"), s["mb_s_persisted"], s["loss_pct"], s["cpu_ns_per_event"])
        if "forwarded" in s:
            note += ", forwarded %d (%s)" % (s["forwarded"], fmt(s["forwarded_eps"], "ev/s"))
        rows.append("| %s | %s | %s | %s |" % (k, s["what"], fmt(s["persisted_eps"], "ev/s"), note))
    elif "eps" in s:
        rows.append("| %s | %s | %s | |" % (k, s["what"], fmt(s["eps"], "ev/s")))
# sluice against its limits and its peers, from the same run
ratios = []
sp = steps.get("sluiced_persist", {})
if sp.get("persisted_eps"):
    def ratio(label, num, den):
        if den:
            ratios.append("| %s | %.2f |" % (label, num / den))
    sl = steps.get("sluiced_lines", {})
    for peer in ("udp_sink", "rsyslog"):
        ratio("sluiced (lines 1 x 100 B) persisted events/s / %s events/s, same traffic" % peer,
              sl.get("persisted_eps", 0), steps.get(peer, {}).get("best_eps"))
    ratio("sluiced persisted MB/s / fio sequential MB/s", sp["mb_s_persisted"],
          steps.get("fio_seq", {}).get("mb_s"))
    ratio("sluiced packets/s (about 1.1 kB) / testpmd rxonly on memif (512 B) packets/s",
          sp["offered_pps"], steps.get("memif_rxonly_512", {}).get("pps"))
    ratio("sluiced forwarded events/s / kcat producer events/s",
          steps.get("sluiced_forward", {}).get("forwarded_eps", 0),
          steps.get("kafka_client", {}).get("eps"))
    res["ratios"] = ratios
    with open(os.path.join(out, name + ".json"), "w") as f:
        json.dump(res, f, indent=2, sort_keys=True)
md = "# %s\n\n%s, %d CPUs, Linux %s; %s s per step%s; load average at the end %.1f (other\nwork on the machine shares the CPUs with every step).\n\n%s\n" % (
    name, cpu, os.cpu_count(), platform.release(), secs, " (quick)" if quick == "1" else "",
    os.getloadavg()[0], "\n".join(rows))
if ratios:
    md += "\n| ratio | value |\n|---|---|\n" + "\n".join(ratios) + "\n"
with open(os.path.join(out, name + ".md"), "w") as f:
    f.write(md)
print(md)
# data for the plots
with open(os.path.join(out, name + "-sizes.dat"), "w") as f:
    for k in sorted((k for k in steps if k.startswith("memif_rxonly_")),
                    key=lambda k: steps[k]["frame_bytes"]):
        f.write("%d %.4f %.4f\n" % (steps[k]["frame_bytes"], steps[k]["pps"] / 1e6, steps[k]["gbps"]))
with open(os.path.join(out, name + "-cdf.dat"), "w") as f:
    for lat_us, frac in (steps.get("udp_sink", {}).get("durable_cdf") or []):
        f.write("%.1f %.4f\n" % (lat_us / 1e3, frac))
with open(os.path.join(out, name + "-peers.dat"), "w") as f:
    for peer in ("udp_sink", "rsyslog"):
        for p in steps.get(peer, {}).get("points", []):
            f.write("%s %d %.4f\n" % (peer, p["offered_pps"], p["loss_pct"]))
PY
if command -v gnuplot >/dev/null && [ -s "$out/$name-peers.dat" ]; then
	gnuplot <<-EOF || log "gnuplot failed; no plot"
		set terminal png size 800,450 noenhanced
		set output "$out/$name-peers.png"
		set title "Kernel-path peers: loss against offered rate (lines, 100 B events)"
		set xlabel "offered packets/s"; set ylabel "loss %"; set logscale x; set key left top; set yrange [0:*]
		plot "< grep ^udp_sink $out/$name-peers.dat" using 2:3 with linespoints title "udp_sink", \
		     "< grep ^rsyslog $out/$name-peers.dat" using 2:3 with linespoints title "rsyslog"
	EOF
fi
if command -v gnuplot >/dev/null && [ -s "$out/$name-sizes.dat" ]; then
	gnuplot <<-EOF || log "gnuplot failed; no plot"
		set terminal png size 800,450 noenhanced
		set output "$out/$name-sizes.png"
		set title "Receive limit: sluice-gen -> memif -> testpmd rxonly, against frame size"
		set xlabel "frame bytes"; set ylabel "Mpps"; set y2label "Gbit/s"
		set ytics nomirror; set y2tics; set key left top; set yrange [0:*]; set y2range [0:*]
		plot "$out/$name-sizes.dat" using 1:2 with linespoints title "Mpps", \
		     "$out/$name-sizes.dat" using 1:3 axes x1y2 with linespoints title "Gbit/s"
	EOF
fi
if command -v gnuplot >/dev/null && [ -s "$out/$name-cdf.dat" ]; then
	gnuplot <<-EOF || log "gnuplot failed; no plot"
		set terminal png size 800,450 noenhanced
		set output "$out/$name-latency-cdf.png"
		set title "Durable latency CDF, send -> fdatasync done (udp_sink at its best lossless rate)"
		set xlabel "ms"; set ylabel "fraction of events"; set key right bottom; set yrange [0:1]
		plot "$out/$name-cdf.dat" using 1:2 with lines title "udp_sink"
	EOF
fi
rm -f "$out/$name-peers.dat" "$out/$name-sizes.dat" "$out/$name-cdf.dat"
log "results in $out/$name.json and $out/$name.md"
