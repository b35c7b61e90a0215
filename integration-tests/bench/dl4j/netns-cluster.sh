#!/usr/bin/env bash
# Gives DL4J's SharedTrainingMaster what it needs to form a mesh on ONE machine: executors with addresses of
# their own. Builds three Linux network namespaces joined by a bridge (all on this machine, addresses only
# inside these namespaces), runs a standalone Spark 3.5 Master in the hub namespace and one Worker (1 core)
# in each worker namespace, from the peer's jars alone (no Spark tarball). Needs root and iproute2.
#
#   netns-cluster.sh up   WORKDIR    # namespaces + Master + 2 Workers; prints MASTER_URL, writes WORKDIR/cluster.env
#   netns-cluster.sh exec CMD...     # run CMD in the hub namespace (the driver's host: 10.213.7.1)
#   netns-cluster.sh bytes           # bytes received/sent by each worker namespace's interface
#   netns-cluster.sh down WORKDIR    # stop the daemons it started (by their recorded pids), delete the namespaces
#
# Layout: lsb-hub (bridge lsbbr0 10.213.7.1/24: driver + Master) <-veth-> lsb-w1 (eth0 10.213.7.2),
#         lsb-hub <-veth-> lsb-w2 (eth0 10.213.7.3). Network mask for DL4J: 10.213.7.0/24.
set -euo pipefail
here="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")" && pwd)"
HUB=lsb-hub
WORKERS=(lsb-w1 lsb-w2)
HUB_IP=10.213.7.1
NET_MASK=10.213.7.0/24
MASTER_PORT=7177
WORKER_MEMORY=${PEER_WORKER_MEMORY:-6g}

worker_ip() { echo "10.213.7.$(( $1 + 2 ))"; }

die() { echo "netns-cluster.sh: $*" >&2; exit 1; }

await_port() { # namespace ip port seconds who
  local deadline=$(( $(date +%s) + $4 ))
  until ip netns exec "$1" bash -c "exec 3<>/dev/tcp/$2/$3" 2>/dev/null; do
    (( $(date +%s) < deadline )) || die "$5 did not listen on $2:$3 within $4 s (see its log in the work directory)"
    sleep 0.5
  done
}

up() {
  local work="$1"
  [[ $EUID -eq 0 ]] || die "needs root (ip netns); run as root or use the local-mode SharedTrainingMaster figures, labelled as exchanging nothing"
  command -v ip >/dev/null || die "iproute2 missing: apt-get install -y iproute2"
  mkdir -p "$work"
  down_namespaces
  ip netns add "$HUB"
  ip -n "$HUB" link set lo up
  ip -n "$HUB" link add lsbbr0 type bridge
  ip -n "$HUB" addr add "$HUB_IP/24" dev lsbbr0
  ip -n "$HUB" link set lsbbr0 up
  for i in "${!WORKERS[@]}"; do
    local ns="${WORKERS[$i]}"
    ip netns add "$ns"
    ip -n "$ns" link set lo up
    ip -n "$HUB" link add "lsbv$i" type veth peer name eth0 netns "$ns"
    ip -n "$HUB" link set "lsbv$i" master lsbbr0 up
    ip -n "$ns" addr add "$(worker_ip "$i")/24" dev eth0
    ip -n "$ns" link set eth0 up
  done
  # Reachability check without ping (not always installed): the hub's ARP entry for each worker appears
  # once a packet crossed the bridge; bash's /dev/tcp to a closed port still resolves the neighbour.
  for i in "${!WORKERS[@]}"; do
    ip netns exec "${WORKERS[$i]}" timeout 3 bash -c "exec 3<>/dev/tcp/$HUB_IP/9" 2>/dev/null || true
    ip -n "$HUB" neigh show "$(worker_ip "$i")" | grep -q lladdr \
      || die "namespace ${WORKERS[$i]} cannot reach the hub over the bridge (no ARP entry for $(worker_ip "$i"))"
  done

  # SPARK_HOME from the peer's jars: Workers build executor classpaths from SPARK_HOME/jars.
  eval "$("$here/run-peer.sh" --print-env | sed 's/^/export /; s/=\(.*\)$/="\1"/')"
  local spark_home="$work/spark-home"
  mkdir -p "$spark_home/jars" "$spark_home/conf"
  local jar
  for jar in ${PEER_CLASSPATH//:/ }; do
    for j in $jar; do ln -sf "$j" "$spark_home/jars/$(basename "$j")"; done
  done
  local java_bin="${JAVA_HOME:+$JAVA_HOME/bin/}java"
  local cp="$spark_home/jars/*"
  # The daemons log at INFO (registration lines are awaited below); the peer's own config is quieter.
  cat >"$spark_home/conf/log4j2-daemons.properties" <<'LOG'
rootLogger.level = info
rootLogger.appenderRef.stderr.ref = console
appender.console.type = Console
appender.console.name = console
appender.console.target = SYSTEM_ERR
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = %d{HH:mm:ss.SSS} %-5p %c{1}: %m%n
LOG
  local daemon_log="-Dlog4j2.configurationFile=$spark_home/conf/log4j2-daemons.properties"
  # shellcheck disable=SC2086
  SPARK_HOME="$spark_home" SPARK_SCALA_VERSION=2.12 SPARK_LOCAL_IP="$HUB_IP" \
    ip netns exec "$HUB" "$java_bin" -Xmx512m $PEER_JVM_FLAGS "$daemon_log" -cp "$cp" org.apache.spark.deploy.master.Master \
      --host "$HUB_IP" --port "$MASTER_PORT" --webui-port 0 >"$work/master.log" 2>&1 &
  echo $! >"$work/master.pid"
  await_port "$HUB" "$HUB_IP" "$MASTER_PORT" 90 "the Spark Master"
  for i in "${!WORKERS[@]}"; do
    mkdir -p "$work/worker$i"
    # shellcheck disable=SC2086
    SPARK_HOME="$spark_home" SPARK_SCALA_VERSION=2.12 SPARK_LOCAL_IP="$(worker_ip "$i")" \
      ip netns exec "${WORKERS[$i]}" "$java_bin" -Xmx512m $PEER_JVM_FLAGS "$daemon_log" -cp "$cp" org.apache.spark.deploy.worker.Worker \
        --host "$(worker_ip "$i")" --cores 1 --memory "$WORKER_MEMORY" --webui-port 0 --work-dir "$work/worker$i" \
        "spark://$HUB_IP:$MASTER_PORT" >"$work/worker$i.log" 2>&1 &
    echo $! >"$work/worker$i.pid"
  done
  local deadline=$(( $(date +%s) + 120 ))
  until [[ $(grep -l "Successfully registered with master" "$work"/worker*.log 2>/dev/null | wc -l) -ge ${#WORKERS[@]} ]]; do
    (( $(date +%s) < deadline )) || die "the Workers did not register with the Master within 120 s (logs: $work/worker*.log)"
    sleep 1
  done
  cat >"$work/cluster.env" <<EOF
MASTER_URL=spark://$HUB_IP:$MASTER_PORT
HUB_NAMESPACE=$HUB
HUB_IP=$HUB_IP
NET_MASK=$NET_MASK
SPARK_HOME=$spark_home
EOF
  echo "MASTER_URL=spark://$HUB_IP:$MASTER_PORT"
}

bytes() {
  local i
  for i in "${!WORKERS[@]}"; do
    local rx tx
    rx=$(ip netns exec "${WORKERS[$i]}" cat /sys/class/net/eth0/statistics/rx_bytes)
    tx=$(ip netns exec "${WORKERS[$i]}" cat /sys/class/net/eth0/statistics/tx_bytes)
    echo "${WORKERS[$i]} $(worker_ip "$i") rx_bytes=$rx tx_bytes=$tx"
  done
}

down_namespaces() {
  local ns
  for ns in "$HUB" "${WORKERS[@]}"; do
    ip netns del "$ns" 2>/dev/null || true
  done
}

down() {
  local work="$1" f
  for f in "$work"/worker*.pid "$work"/master.pid; do
    [[ -f "$f" ]] || continue
    local pid; pid=$(cat "$f")
    # The daemon is the child of `ip netns exec`; end both, by pid, and its executors with it.
    pkill -TERM -P "$pid" 2>/dev/null || true
    kill -TERM "$pid" 2>/dev/null || true
    rm -f "$f"
  done
  sleep 2
  down_namespaces
}

case "${1:-}" in
  up) up "${2:?work directory}" ;;
  exec) shift; SPARK_LOCAL_IP="$HUB_IP" exec ip netns exec "$HUB" "$@" ;;
  bytes) bytes ;;
  down) down "${2:?work directory}" ;;
  *) die "usage: netns-cluster.sh up WORKDIR | exec CMD... | bytes | down WORKDIR" ;;
esac
