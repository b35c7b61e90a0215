#!/usr/bin/env bash
# An emulated cluster on one Linux machine: N "hosts", each a network namespace with its own address,
# joined through a bridge by veth pairs shaped with tc netem (rate, and 1/4 of the round-trip time on each
# of the two egress hops, so host to host takes RTT/2 one way; tbf for the rate alone where the kernel has
# no netem). One JVM with its own media driver runs in each namespace: `lockstep bench allreduce-rank`
# with --per-host ranks on threads (shared memory among them, UDP between namespaces), so N ranks make
# N / per-host "hosts"; or, with --bench train-rank, one training replica per namespace (`lockstep bench
# train-rank`, synthetic data). Rank 0's figures go to stdout.
#
# Needs root (ip netns, tc), iproute2 with netem, and a built checkout (`mvn -B -DskipTests package`), or a
# classpath in LOCKSTEP_CP. Everything it creates is named lsb-<pid>-* and deleted on exit.
#
# Usage: benchmarks/emulated-cluster/allreduce.sh [--ranks N] [--per-host L] [--rate 1gbit] [--rtt-us 200]
#          [--link-mtu 9000] [--bench allreduce-rank|train-rank] [--heap 1g]
#          [-- options passed to the bench, e.g. --sizes 4KiB,46.8MB --rounds 5 --mtu 8192
#           --allreduce-topology flat for allreduce-rank, --model vgg11 --modes OFF,ON,BF16 for train-rank]
set -euo pipefail
ranks=4
per_host=1
rate=1gbit
rtt_us=200
link_mtu=9000
bench=allreduce-rank
heap=1g
while [[ $# -gt 0 ]]; do
  case "$1" in
    --ranks) ranks="$2"; shift 2 ;;
    --per-host) per_host="$2"; shift 2 ;;
    --rate) rate="$2"; shift 2 ;;
    --rtt-us) rtt_us="$2"; shift 2 ;;
    --link-mtu) link_mtu="$2"; shift 2 ;;
    --bench) bench="$2"; shift 2 ;;
    --heap) heap="$2"; shift 2 ;;
    --) shift; break ;;
    *) echo "allreduce.sh: unknown option $1 (see the usage at the top of this script)" >&2; exit 2 ;;
  esac
done
if (( per_host < 1 || ranks % per_host != 0 )); then
  echo "allreduce.sh: --ranks $ranks must be a multiple of --per-host $per_host" >&2
  exit 2
fi
hosts=$((ranks / per_host))
case "$bench" in
  allreduce-rank) main=io.lockstep.driver.bench.AllReduceRankBenchmark ;;
  train-rank) main=io.lockstep.driver.bench.TrainRankBenchmark ;;
  *) echo "allreduce.sh: --bench takes allreduce-rank or train-rank, got $bench" >&2; exit 2 ;;
esac
if [[ $bench == train-rank && $per_host != 1 ]]; then
  echo "allreduce.sh: --bench train-rank runs one replica per namespace; drop --per-host" >&2
  exit 2
fi
if [[ $EUID -ne 0 ]]; then
  echo "allreduce.sh: needs root to create network namespaces and shape links with tc" >&2
  exit 2
fi
root="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/../.." && pwd)"
flags_file="$root/driver/target/classes/lockstep-jvm.flags"
if [[ -z "${LOCKSTEP_CP:-}" ]]; then
  jar="$root/driver/target/lockstep-driver-0.1.0-SNAPSHOT.jar"
  if [[ ! -f "$jar" || ! -f "$flags_file" ]]; then
    echo "allreduce.sh: not built yet; run: (cd $root && mvn -B -DskipTests package), or set LOCKSTEP_CP" >&2
    exit 2
  fi
  LOCKSTEP_CP="$jar:$root/driver/target/lib/*"
fi
rate_mbps=$(awk -v r="$rate" 'BEGIN { v = r + 0; u = tolower(substr(r, length(v "") + 1));
  if (u == "gbit") v *= 1000; else if (u == "kbit") v /= 1000; else if (u != "mbit") { print "bad"; exit }
  print v }')
if [[ "$rate_mbps" == bad ]]; then
  echo "allreduce.sh: --rate takes kbit, mbit or gbit (e.g. 1gbit), got $rate" >&2
  exit 2
fi
hop_delay_us=$((rtt_us / 4))
prefix="lsb-$$"
hub="$prefix-hub"
work="$(mktemp -d /tmp/lsb-XXXXXX)"
pids=()

cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for ((k = 0; k < hosts; k++)); do ip netns del "$prefix-r$k" 2>/dev/null || true; done
  ip netns del "$hub" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

# tc netem gives rate and delay; kernels built without sch_netem (some VMs) get tbf: rate only, and the
# RTT is then what the veth path itself takes (ping's figure, when ping is installed, and the
# benchmark's latency per ring round are printed with the results).
shaping=netem
probe="$prefix-probe"
ip netns add "$probe"
if ! ip netns exec "$probe" tc qdisc add dev lo root netem delay 1us 2>/dev/null; then
  shaping=tbf
fi
ip netns del "$probe"
burst_bytes=$(awk -v m="$rate_mbps" 'BEGIN { b = m * 1e6 / 8 / 500; if (b < 65536) b = 65536; printf "%d", b }')

shape() { # namespace device: the rate, and one quarter of the RTT, on this egress
  if [[ $shaping == netem ]]; then
    ip netns exec "$1" tc qdisc add dev "$2" root netem delay "${hop_delay_us}us" rate "$rate" limit 100000
  else
    ip netns exec "$1" tc qdisc add dev "$2" root tbf rate "$rate" burst "$burst_bytes" latency 10ms
  fi
}

ip netns add "$hub"
ip -n "$hub" link add br0 type bridge
ip -n "$hub" link set br0 up
ip -n "$hub" link set lo up
for ((k = 0; k < hosts; k++)); do
  ns="$prefix-r$k"
  ip netns add "$ns"
  ip link add "lsb$$h$k" mtu "$link_mtu" type veth peer name "lsb$$r$k" mtu "$link_mtu"
  ip link set "lsb$$h$k" netns "$hub"
  ip link set "lsb$$r$k" netns "$ns"
  ip -n "$hub" link set "lsb$$h$k" master br0 up
  ip -n "$ns" link set "lsb$$r$k" name eth0
  ip -n "$ns" addr add "10.213.0.$((k + 1))/24" dev eth0
  ip -n "$ns" link set eth0 up
  ip -n "$ns" link set lo up
  shape "$ns" eth0
  shape "$hub" "lsb$$h$k"
done
ip -n "$hub" link set br0 mtu "$link_mtu"
rtt_line="(no ping installed)"
if command -v ping > /dev/null; then
  rtt_line=$(ip netns exec "$prefix-r0" ping -c 5 -i 0.2 -q "10.213.0.$hosts" | tail -1)
fi

mkdir -p "$work/rendezvous"
for ((k = hosts - 1; k >= 0; k--)); do
  mkdir -p "$work/driver-$k"
  # shellcheck disable=SC2046
  local_ranks=()
  if [[ $bench == allreduce-rank ]]; then local_ranks=(--local-ranks "$per_host"); fi
  ip netns exec "$prefix-r$k" java -Xmx"$heap" $(cat "$flags_file") -cp "$LOCKSTEP_CP" "$main" \
    --rank "$((k * per_host))" "${local_ranks[@]}" --ranks "$ranks" --bind "10.213.0.$((k + 1))" \
    --rendezvous "$work/rendezvous" --dir "$work/driver-$k" --link-mbps "$rate_mbps" "$@" > "$work/rank-$k.out" 2>&1 &
  pids+=($!)
done
status=0
for ((k = 0; k < hosts; k++)); do
  if ! wait "${pids[$((hosts - 1 - k))]}"; then
    echo "allreduce.sh: host $k (ranks $((k * per_host))..$((k * per_host + per_host - 1))) failed; its output:" >&2
    cat "$work/rank-$k.out" >&2
    status=1
  fi
done
pids=()
if [[ $shaping == netem ]]; then
  echo "emulated cluster: $hosts namespaces x $per_host ranks on one bridge, links $rate, RTT ${rtt_us} us (netem)," \
    "link MTU $link_mtu"
else
  echo "emulated cluster: $hosts namespaces x $per_host ranks on one bridge, links $rate (tbf, burst $burst_bytes B), link MTU" \
    "$link_mtu; no sch_netem in this kernel, so --rtt-us is not applied: the RTT is the veth path's own"
fi
echo "ping host 0 -> host $((hosts - 1)): $rtt_line"
grep -v -E '^\[|^[0-9]{2}:[0-9]{2}|INFO|WARN' "$work/rank-0.out" || true
exit $status
