#!/usr/bin/env bash
# The demo: Herald running locally, end to end.
#   1. the local environment (MariaDB, Kafka, a Kubernetes control plane with kwok nodes);
#   2. the CRDs, and the operator (the meta-server) as a local process;
#   3. examples/: a BrokerPool, a Topic and a ConsumerGroup, in namespace herald-demo;
#   4. the pool's brokers as local processes in lease mode, with the config the operator wrote
#      into the pool's ConfigMap and the names of the pool's pods (scheduled on kwok nodes);
#   5. the herald CLI publishes, consumes and traces messages, and is refused without a token
#      or outside its rules;
#   6. the console (docs/console.md), served by the operator on https://127.0.0.1:$CONSOLE_PORT/.
# Security is on as in the chart: TLS from the operator's CA (the meta-server's certificate
# issued by the operator; the brokers' from the same CA, for 127.0.0.1, in the Secret the pool
# names as security.tls.secretName, the way a cert-manager Secret is used), authentication and
# authorization. The CLI is the HeraldUser demo-app (examples/herald-user.yaml).
#
#   examples/demo.sh          start (or reuse) everything and run the round trip
#   examples/demo.sh --stop   stop the demo's processes (the environment keeps running)
#
# Logs: ~/.local/state/herald/logs/demo-*.log. PID files: ~/.local/state/herald/run/demo-*.pid.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
. test/env/lib.sh

NS="${HERALD_DEMO_NAMESPACE:-herald-demo}"
DATABASE="${HERALD_DEMO_DATABASE:-herald_demo}"
META_PORT="${HERALD_DEMO_META_PORT:-17700}"
BROKER_PORT="${HERALD_DEMO_BROKER_PORT:-17600}"
METRICS_PORT="${HERALD_DEMO_METRICS_PORT:-17650}"
HTTP_PORT="${HERALD_DEMO_HTTP_PORT:-17680}"
CONSOLE_PORT="${HERALD_DEMO_CONSOLE_PORT:-17790}"
MESSAGES="${HERALD_DEMO_MESSAGES:-5}"
META="127.0.0.1:$META_PORT"
NODE_TS=(node -r ts-node/register/transpile-only)
TLS_DIR="$RUN_DIR/demo-tls"
CA_FILE="$TLS_DIR/ca.crt"
TOKEN_FILE="$TLS_DIR/demo-app.token"
# --no-deprecation: grpc-js sets the TLS server name to the broker's IP, which Node warns about.
herald() { node --no-deprecation bin/herald --meta "$META" -n "$NS" --ca "$CA_FILE" --token-file "$TOKEN_FILE" "$@"; }
herald_anonymous() { env -u HERALD_TOKEN -u HERALD_TOKEN_FILE node --no-deprecation bin/herald --meta "$META" -n "$NS" --ca "$CA_FILE" "$@"; }

demo_pids() { ls "$RUN_DIR"/demo-*.pid 2>/dev/null | sed 's#.*/\(demo-[^/]*\)\.pid#\1#'; }

if [[ "${1:-}" == "--stop" ]]; then
  # Brokers first (they release their leases to the operator), then the operator.
  for name in $(demo_pids | grep broker || true) $(demo_pids | grep -v broker || true); do stop_daemon "$name"; done
  log "demo stopped (the environment still runs: make env-down stops it)"
  exit 0
fi
[[ $# -eq 0 ]] || die "usage: examples/demo.sh [--stop]"

STARTED=$SECONDS
STEP=""
STEP_LOGS=""
# step "LOGS" "WHAT": WHAT is printed, LOGS (names under logs/) are shown if the step fails.
step() { STEP_LOGS="$1"; STEP="$2"; log "$2"; }
on_exit() {
  local code=$?
  [[ $code -eq 0 ]] && return 0
  printf '\n[%s] ERROR: the demo failed at: %s (exit %s)\n' "$(_ts)" "$STEP" "$code" >&2
  for name in $STEP_LOGS; do
    [[ -f "$LOG_DIR/$name.log" ]] || continue
    printf -- '--- last lines of %s ---\n' "$LOG_DIR/$name.log" >&2
    tail -n 10 "$LOG_DIR/$name.log" >&2
  done
  printf 'Stop what was started with: examples/demo.sh --stop\n' >&2
}
trap on_exit EXIT

step "demo-env" "1/7 npm dependencies, generated types, and the local environment (a cold first run builds the control plane; later runs take seconds)"
need node "see the README's prerequisites"
need npm "see the README's prerequisites"
node_deps
run_logged demo-env npm run --silent build:console
run_logged demo-env bash test/env/up.sh
. "$HERALD_STATE/env.sh"

step "demo-operator" "2/7 CRDs, namespace $NS, the MySQL Secret, and the operator (meta-server on $META)"
kubectl apply --server-side --force-conflicts -f crds/ >/dev/null
kubectl wait --for=condition=Established --timeout=60s -f crds/ >/dev/null
kubectl create namespace "$NS" --dry-run=client -o yaml | kubectl apply -f - >/dev/null
MYSQL_URL="${HERALD_MYSQL_URL%/*}/$DATABASE"
kubectl -n "$NS" create secret generic herald-mysql --from-literal=url="$MYSQL_URL" \
  --dry-run=client -o yaml | kubectl apply -f - >/dev/null
mkdir -p "$TLS_DIR" && chmod 700 "$TLS_DIR"
start_daemon demo-operator "${NODE_TS[@]}" operator/main.ts --kubeconfig "$KUBECONFIG" \
  --watch-namespace "$NS" --lease-namespace "$NS" --meta-listen "$META" --meta-advertise "$META" \
  --broker-meta-address "$META" --assignment-poll-ms 500 \
  --meta-certificate-dir "$TLS_DIR/meta" --meta-dns-names localhost --meta-ip-addresses 127.0.0.1 \
  --authentication --authorization --console-listen "127.0.0.1:$CONSOLE_PORT"
WHAT="meta-server on $META" wait_for demo-operator 60 port_open "$META_PORT"
# The brokers' certificate from the operator's CA (created by now), for 127.0.0.1 where the
# demo's brokers listen (the pool's own certificate names the pods' cluster DNS names).
"${NODE_TS[@]}" operator/ca/issue-main.ts "$NS" demo-broker-tls "$TLS_DIR" --kubeconfig "$KUBECONFIG"

step "demo-operator" "3/7 examples/: BrokerPool default, Topic orders, ConsumerGroup billing, HeraldUser demo-app"
kubectl -n "$NS" apply -f examples/ >/dev/null
kubectl -n "$NS" patch brokerpool default --type merge \
  -p '{"spec":{"security":{"tls":{"secretName":"demo-broker-tls"}}}}' >/dev/null
user_token() { kubectl -n "$NS" get secret herald-user-demo-app -o jsonpath='{.data.token}' 2>/dev/null | base64 -d; }
has_token() { [[ -n "$(user_token)" ]]; }
WHAT="the HeraldUser demo-app's token" wait_for demo-operator 60 has_token
(umask 077 && user_token >"$TOKEN_FILE")
# The local Kafka serves the Kafka topic clicks (examples/kafka-topic.yaml).
KAFKA_SERVERS="$(printf '"%s",' ${HERALD_KAFKA_BROKERS//,/ })"
kubectl -n "$NS" patch brokerpool default --type merge \
  -p "{\"spec\":{\"storage\":{\"kafka\":{\"bootstrapServers\":[${KAFKA_SERVERS%,}]}}}}" >/dev/null
config_json() { kubectl -n "$NS" get configmap default-broker-config -o jsonpath='{.data.broker\.json}'; }
config_has_kafka() { config_json | grep -q bootstrapServers && config_json | grep -q /etc/herald/tls; }
WHAT="the pool's ConfigMap" wait_for demo-operator 60 config_has_kafka

REPLICAS="$(kubectl -n "$NS" get brokerpool default -o jsonpath='{.spec.replicas}')"
BROKER_LOGS="$(seq -f 'demo-broker-%g' 0 $((REPLICAS - 1)) | tr '\n' ' ')"
step "demo-operator $BROKER_LOGS" "4/7 $REPLICAS brokers in lease mode (as pods default-broker-0..$((REPLICAS - 1)))"
for ((i = 0; i < REPLICAS; i++)); do
  name="demo-broker-$i"
  config="$RUN_DIR/$name.json"
  # The pool's broker.json, listening on this broker's own loopback ports, with the mounted
  # Secret's files where the demo keeps them and the environment's kubeconfig for TokenReviews
  # and the access rules' watches (a pod uses its ServiceAccount).
  config_json | node -e '
    const c = JSON.parse(require("fs").readFileSync(0, "utf8"));
    const [listen, metrics, http, tls, kubeconfig] = process.argv.slice(1);
    c.listen = listen; c.metricsListen = metrics; c.httpListen = http;
    c.security.tls = { caFile: `${tls}/ca.crt`, certFile: `${tls}/tls.crt`, keyFile: `${tls}/tls.key` };
    c.security.kubeconfig = kubeconfig;
    process.stdout.write(JSON.stringify(c, null, 2));' \
    "127.0.0.1:$((BROKER_PORT + i))" "127.0.0.1:$((METRICS_PORT + i))" "127.0.0.1:$((HTTP_PORT + i))" "$TLS_DIR" "$KUBECONFIG" >"$config"
  start_daemon "$name" env HERALD_POD_NAME="default-broker-$i" \
    HERALD_ADVERTISED_ADDRESS="127.0.0.1:$((BROKER_PORT + i))" HERALD_MYSQL_URL="$MYSQL_URL" \
    "${NODE_TS[@]}" broker/main.ts --config "$config"
done
for ((i = 0; i < REPLICAS; i++)); do
  WHAT="broker default-broker-$i" wait_for "demo-broker-$i" 60 port_open "$((BROKER_PORT + i))"
done
kubectl -n "$NS" wait --for=condition=Ready --timeout=120s topic/orders >/dev/null
# The Topic's status may still show an earlier run; the routes tell whether every partition is
# held now (a restarted meta-server grants nothing new for one lease duration, 10 s).
PARTITIONS="$(kubectl -n "$NS" get topic orders -o jsonpath='{.spec.partitions}')"
all_leased() { [[ "$(herald lag --group billing --topic orders -o json 2>/dev/null | wc -l)" -eq "$PARTITIONS" ]]; }
WHAT="every partition of orders leased to a broker" wait_for demo-operator 90 all_leased
kubectl -n "$NS" wait --for=condition=Ready --timeout=120s topic/clicks >/dev/null

step "$BROKER_LOGS" "5/7 publish $MESSAGES messages with the herald CLI, then consume them as group billing"
PUBLISHED="$LOG_DIR/demo-published.txt"
seq 1 "$MESSAGES" | sed 's/^/order #/' | herald publish orders --lines --key customer-17 \
  --ref-key "demo-$(date +%s)" --tag demo | tee "$PUBLISHED"
# Everything the group has not acknowledged yet: these messages (and any left by an earlier run).
herald consume orders --group billing --idle 3s

step "$BROKER_LOGS" "6/7 the trace of the first message, and a message through the Kafka topic clicks"
FIRST_ID="$(awk 'NR == 2 { print $1 }' "$PUBLISHED")"
herald trace "$FIRST_ID"
echo "click on checkout" | herald publish clicks --lines --key visitor-9
herald consume clicks --group analytics --idle 3s

step "$BROKER_LOGS" "7/7 refused calls: a publish without a token, a lag read outside demo-app's rules"
# refused "WHAT" CMD...: CMD must fail; its error is printed.
refused() {
  local what="$1" out
  shift
  if out="$("$@" 2>&1 </dev/null)"; then die "$what was not refused"; fi
  printf 'REFUSED (%s): %s\n' "$what" "$(printf '%s' "$out" | tail -n 1)"
}
refused "publish without a token" herald_anonymous publish orders "no token"
refused "lag of group audit, which demo-app has no rule for" herald lag --group audit --topic orders

cat <<MSG

Herald runs locally (ready in $((SECONDS - STARTED)) s): the operator (meta-server $META) and
$REPLICAS brokers on 127.0.0.1:$BROKER_PORT.., namespace $NS, topic orders, group billing.
TLS, authentication and authorization are on; the CLI calls as the HeraldUser demo-app.
Logs: $LOG_DIR/demo-*.log

The console: https://127.0.0.1:$CONSOLE_PORT/ (the operator's CA: $CA_FILE)
  sign in to namespace $NS with demo-app's token: cat $TOKEN_FILE

Try next:
  export HERALD_META=$META HERALD_NAMESPACE=$NS HERALD_CA_FILE=$CA_FILE HERALD_TOKEN_FILE=$TOKEN_FILE
  npx herald publish orders "hello" --key customer-42 --tag vip
  npx herald publish orders "rush" --priority                  # delivered before the backlog
  npx herald publish orders "later" --delay 10s                # delivered in 10 s
  npx herald consume orders --group billing --follow          # Ctrl-C to stop
  npx herald lag --group billing --topic orders
  npx herald trace $FIRST_ID
  npx herald reset-offsets --group billing --topic orders --to earliest
  npx herald dlq list --group billing --topic orders
  npx herald --help
  source $HERALD_STATE/env.sh && kubectl -n $NS get topics,consumergroups,brokerpools,pods
  make demo-stop                                              # stop the demo's processes
MSG
