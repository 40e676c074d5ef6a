#!/usr/bin/env bash
# Brings the local environment up on 127.0.0.1: MariaDB, Kafka (KRaft) and a Kubernetes
# control plane (etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kwok with
# fake nodes in three zones). Idempotent: what already runs is checked and left alone.
# Usage: test/env/up.sh [mariadb|kafka|k8s|cli|clients ...]   (default: all; cli and clients
# only build tools: grpcurl and ghz, and the code generators of the Python and Go clients)
# Writes $HERALD_STATE/env.sh and env.json (endpoints) and $HERALD_STATE/kubeconfig.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# Credentials of the throwaway test database. They exist only on this machine's loopback.
MYSQL_USER=herald
MYSQL_PASSWORD=herald
MYSQL_DATABASE=herald

check_port_free() { # check_port_free NAME PORT: a port held by someone else is a clear error
  if ! is_running "$1" && port_open "$2"; then
    die "port $2 for $1 is taken by another process; stop it or set HERALD_${1^^}_PORT"
  fi
}

up_mariadb() {
  local dir="$HERALD_STATE/mariadb" sock="$RUN_DIR/mariadb.sock" user
  local mariadbd; mariadbd="$(command -v mariadbd || echo /usr/sbin/mariadbd)"
  [[ -x "$mariadbd" ]] || die "missing prerequisite 'mariadbd': run test/env/tools.sh mariadb"
  user="$(id -un)"
  mkdir -p "$dir/data" "$dir/tmp"
  cat >"$dir/my.cnf" <<CNF
[mariadbd]
bind-address=127.0.0.1
port=$MARIADB_PORT
socket=$sock
pid-file=$RUN_DIR/mariadbd.own.pid
datadir=$dir/data
tmpdir=$dir/tmp
log-error=$LOG_DIR/mariadb.err.log
skip-name-resolve
# Durable settings: every commit is flushed to disk before the client hears of it.
innodb_flush_log_at_trx_commit=1
innodb_doublewrite=1
innodb_buffer_pool_size=1G
innodb_log_file_size=512M
innodb_file_per_table=1
max_connections=1000
max_allowed_packet=64M
character-set-server=utf8mb4
collation-server=utf8mb4_bin
CNF
  check_port_free mariadb "$MARIADB_PORT"
  if [[ ! -d "$dir/data/mysql" ]]; then
    log "initialising MariaDB data directory $dir/data"
    run_logged mariadb-install-db mariadb-install-db --defaults-file="$dir/my.cnf" --user="$user" \
      --auth-root-authentication-method=socket --skip-test-db
  fi
  start_daemon mariadb "$mariadbd" --defaults-file="$dir/my.cnf" --user="$user"
  wait_for mariadb 60 mariadb-admin --socket="$sock" --user="$user" ping
  mariadb --socket="$sock" --user="$user" <<SQL
CREATE DATABASE IF NOT EXISTS \`$MYSQL_DATABASE\`;
CREATE USER IF NOT EXISTS '$MYSQL_USER'@'127.0.0.1' IDENTIFIED BY '$MYSQL_PASSWORD';
CREATE USER IF NOT EXISTS '$MYSQL_USER'@'localhost' IDENTIFIED BY '$MYSQL_PASSWORD';
-- Tests create their own databases named herald_<unique>.
GRANT ALL PRIVILEGES ON \`herald%\`.* TO '$MYSQL_USER'@'127.0.0.1';
GRANT ALL PRIVILEGES ON \`herald%\`.* TO '$MYSQL_USER'@'localhost';
FLUSH PRIVILEGES;
SQL
}

up_kafka() {
  local dir="$HERALD_STATE/kafka" libs="$HERALD_CACHE/kafka-$KAFKA_VERSION/libs"
  [[ -d "$libs" ]] || die "missing Kafka $KAFKA_VERSION jars in $libs: run test/env/tools.sh kafka"
  need java "Kafka runs on the machine's JDK (17 or newer)"
  mkdir -p "$dir/data"
  cat >"$dir/server.properties" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers=127.0.0.1:$KAFKA_CONTROLLER_PORT
listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT,CONTROLLER://127.0.0.1:$KAFKA_CONTROLLER_PORT
advertised.listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$dir/data
num.partitions=1
auto.create.topics.enable=false
offsets.topic.replication.factor=1
offsets.topic.num.partitions=8
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
PROPS
  cat >"$dir/log4j2.yaml" <<'YAML'
Configuration:
  Appenders:
    Console:
      name: STDOUT
      PatternLayout:
        pattern: "[%d] %p %m (%c)%n"
  Loggers:
    Root:
      level: INFO
      AppenderRef:
        - ref: STDOUT
    Logger:
      - name: kafka
        level: WARN
      - name: org.apache.kafka
        level: WARN
      - name: kafka.server.KafkaRaftServer
        level: INFO
YAML
  check_port_free kafka "$KAFKA_PORT"
  local java_opts=(-Xms256m -Xmx1g -XX:+UseG1GC -Djava.awt.headless=true
    "-Dlog4j2.configurationFile=$dir/log4j2.yaml" -cp "$libs/*")
  if [[ ! -f "$dir/data/meta.properties" ]]; then
    log "formatting Kafka KRaft storage in $dir/data"
    local cluster_id
    cluster_id="$(java "${java_opts[@]}" kafka.tools.StorageTool random-uuid 2>/dev/null | tail -n1)"
    run_logged kafka-format java "${java_opts[@]}" kafka.tools.StorageTool format --standalone \
      -t "$cluster_id" -c "$dir/server.properties"
  fi
  start_daemon kafka java "${java_opts[@]}" kafka.Kafka "$dir/server.properties"
  wait_for kafka 120 kafka_ready
}

kafka_ready() { # the broker answers metadata on its listener
  port_open "$KAFKA_PORT" && grep -q 'Kafka Server started' "$LOG_DIR/kafka.log"
}

# --- Kubernetes ---------------------------------------------------------------------

k8s_certs() {
  local pki="$HERALD_STATE/k8s/pki"
  [[ -f "$pki/admin.crt" ]] && return 0
  need openssl "the control plane's certificates are made with openssl"
  log "creating the control plane's CA and certificates in $pki"
  mkdir -p "$pki"
  (
    cd "$pki"
    openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -keyout ca.key -out ca.crt -subj "/CN=herald-local-ca" 2>/dev/null
    cat >server.ext <<EXT
subjectAltName=IP:127.0.0.1,IP:10.96.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local
extendedKeyUsage=serverAuth
EXT
    openssl req -newkey rsa:2048 -nodes -keyout apiserver.key -out apiserver.csr -subj "/CN=kube-apiserver" 2>/dev/null
    openssl x509 -req -in apiserver.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 3650 -extfile server.ext -out apiserver.crt 2>/dev/null
    printf 'extendedKeyUsage=clientAuth\n' >client.ext
    openssl req -newkey rsa:2048 -nodes -keyout admin.key -out admin.csr -subj "/O=system:masters/CN=herald-admin" 2>/dev/null
    openssl x509 -req -in admin.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 3650 -extfile client.ext -out admin.crt 2>/dev/null
    openssl genrsa -out sa.key 2048 2>/dev/null
    openssl rsa -in sa.key -pubout -out sa.pub 2>/dev/null
    rm -f ./*.csr ./*.ext
  )
}

k8s_kubeconfig() {
  local pki="$HERALD_STATE/k8s/pki"
  cat >"$KUBECONFIG_PATH.tmp" <<KC
apiVersion: v1
kind: Config
clusters:
- name: herald-local
  cluster:
    server: https://127.0.0.1:$APISERVER_PORT
    certificate-authority: $pki/ca.crt
users:
- name: herald-admin
  user:
    client-certificate: $pki/admin.crt
    client-key: $pki/admin.key
contexts:
- name: herald-local
  context:
    cluster: herald-local
    user: herald-admin
current-context: herald-local
KC
  mv "$KUBECONFIG_PATH.tmp" "$KUBECONFIG_PATH"
}

https_ok() { # https_ok URL: a health endpoint answers 200 ok
  curl -fsS --max-time 2 --cacert "$HERALD_STATE/k8s/pki/ca.crt" \
    --cert "$HERALD_STATE/k8s/pki/admin.crt" --key "$HERALD_STATE/k8s/pki/admin.key" "$1" | grep -q '^ok'
}
https_insecure_ok() { curl -fsSk --max-time 2 "$1" | grep -q '^ok'; }

up_k8s() {
  local k="$HERALD_STATE/k8s" pki="$HERALD_STATE/k8s/pki" b
  for b in etcd kube-apiserver kube-controller-manager kube-scheduler kubectl kwok helm; do
    [[ -x "$BIN_DIR/$b" ]] || die "missing $BIN_DIR/$b: run test/env/tools.sh k8s"
  done
  need curl "readiness checks use curl"
  mkdir -p "$k/etcd"
  k8s_certs
  k8s_kubeconfig

  check_port_free etcd "$ETCD_PORT"
  # The control plane's own store need not survive a power cut; skipping fsync keeps it
  # from competing with MariaDB's durable commits for the disk.
  start_daemon etcd "$BIN_DIR/etcd" --name herald --data-dir "$k/etcd" \
    --listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
    --listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-cluster "herald=http://127.0.0.1:$ETCD_PEER_PORT" --listen-metrics-urls "" \
    --unsafe-no-fsync --quota-backend-bytes 4294967296 --log-level warn
  wait_for etcd 60 curl -fsS --max-time 2 "http://127.0.0.1:$ETCD_PORT/health"

  check_port_free kube-apiserver "$APISERVER_PORT"
  start_daemon kube-apiserver "$BIN_DIR/kube-apiserver" \
    --etcd-servers "http://127.0.0.1:$ETCD_PORT" \
    --bind-address 127.0.0.1 --advertise-address 127.0.0.1 --secure-port "$APISERVER_PORT" \
    --endpoint-reconciler-type none \
    --tls-cert-file "$pki/apiserver.crt" --tls-private-key-file "$pki/apiserver.key" \
    --client-ca-file "$pki/ca.crt" \
    --service-account-key-file "$pki/sa.pub" --service-account-signing-key-file "$pki/sa.key" \
    --service-account-issuer https://kubernetes.default.svc.cluster.local \
    --service-cluster-ip-range 10.96.0.0/16 \
    --authorization-mode Node,RBAC --allow-privileged=true --profiling=false \
    --v=1
  wait_for kube-apiserver 120 https_ok "https://127.0.0.1:$APISERVER_PORT/readyz"

  check_port_free kube-controller-manager "$KCM_PORT"
  start_daemon kube-controller-manager "$BIN_DIR/kube-controller-manager" \
    --kubeconfig "$KUBECONFIG_PATH" --authentication-kubeconfig "$KUBECONFIG_PATH" --authorization-kubeconfig "$KUBECONFIG_PATH" \
    --bind-address 127.0.0.1 --secure-port "$KCM_PORT" --leader-elect=false \
    --service-account-private-key-file "$pki/sa.key" --root-ca-file "$pki/ca.crt" \
    --cluster-signing-cert-file "$pki/ca.crt" --cluster-signing-key-file "$pki/ca.key" \
    --use-service-account-credentials=false --profiling=false --v=1
  wait_for kube-controller-manager 60 https_insecure_ok "https://127.0.0.1:$KCM_PORT/healthz"

  check_port_free kube-scheduler "$SCHEDULER_PORT"
  start_daemon kube-scheduler "$BIN_DIR/kube-scheduler" \
    --kubeconfig "$KUBECONFIG_PATH" --authentication-kubeconfig "$KUBECONFIG_PATH" --authorization-kubeconfig "$KUBECONFIG_PATH" \
    --bind-address 127.0.0.1 --secure-port "$SCHEDULER_PORT" --leader-elect=false --profiling=false --v=1
  wait_for kube-scheduler 60 https_insecure_ok "https://127.0.0.1:$SCHEDULER_PORT/healthz"

  check_port_free kwok "$KWOK_PORT"
  start_daemon kwok "$BIN_DIR/kwok" --kubeconfig "$KUBECONFIG_PATH" \
    --config "$HERALD_CACHE/kwok-$KWOK_VERSION-stages.yaml" --node-lease-duration-seconds 40 \
    --manage-all-nodes=false --manage-nodes-with-annotation-selector kwok.x-k8s.io/node=fake \
    --cidr 10.244.0.1/16 --node-ip 10.240.0.1 --server-address "127.0.0.1:$KWOK_PORT"
  wait_for kwok 60 curl -fsS --max-time 2 "http://127.0.0.1:$KWOK_PORT/healthz"

  "$BIN_DIR/kubectl" --kubeconfig "$KUBECONFIG_PATH" apply -f "$ENV_DIR/k8s/nodes.yaml" >/dev/null
  WHAT="fake nodes" wait_for kwok 60 "$BIN_DIR/kubectl" --kubeconfig "$KUBECONFIG_PATH" wait --for=condition=Ready node -l herald.dev/fake-node=true --timeout=5s
  WHAT="default service account" wait_for kube-controller-manager 60 "$BIN_DIR/kubectl" --kubeconfig "$KUBECONFIG_PATH" get serviceaccount default -n default
}

write_env() {
  cat >"$HERALD_STATE/env.sh" <<ENVSH
# Endpoints of the local Herald environment (written by test/env/up.sh).
export KUBECONFIG=$KUBECONFIG_PATH
export HERALD_MYSQL_URL=mysql://$MYSQL_USER:$MYSQL_PASSWORD@127.0.0.1:$MARIADB_PORT/$MYSQL_DATABASE
export HERALD_KAFKA_BROKERS=127.0.0.1:$KAFKA_PORT
export PATH=$BIN_DIR:\$PATH
ENVSH
  cat >"$HERALD_STATE/env.json" <<ENVJSON
{
  "kubeconfig": "$KUBECONFIG_PATH",
  "mysqlUrl": "mysql://$MYSQL_USER:$MYSQL_PASSWORD@127.0.0.1:$MARIADB_PORT/$MYSQL_DATABASE",
  "kafkaBrokers": ["127.0.0.1:$KAFKA_PORT"],
  "binDir": "$BIN_DIR",
  "logDir": "$LOG_DIR"
}
ENVJSON
}

main() {
  local parts=("$@") start=$SECONDS
  (( ${#parts[@]} )) || parts=(mariadb kafka k8s cli clients chromium)
  # One bring-up at a time (test runs started together each call this): the second waits for
  # the first, then finds everything built and running.
  mkdir -p "$HERALD_STATE"
  exec 9>"$HERALD_STATE/up.lock"
  if ! flock -n 9; then
    log "another test/env/up.sh is bringing the environment up; waiting for it"
    flock 9
  fi
  log "building or checking tools (cache: $HERALD_CACHE)"
  "$ENV_DIR/tools.sh" "${parts[@]}"
  for p in "${parts[@]}"; do
    case "$p" in
      mariadb|kafka|k8s) log "bringing up $p"; "up_$p" ;;
      cli|clients|chromium) ;;
      *) die "unknown part '$p' (expected mariadb, kafka, k8s, cli, clients or chromium)" ;;
    esac
  done
  write_env
  log "environment up in $((SECONDS - start)) s; endpoints in $HERALD_STATE/env.sh, logs in $LOG_DIR"
}
main "$@"
