#!/usr/bin/env bash
# Shows what the local environment runs, where, and the fake nodes with their zones.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

printf '%-26s %-8s %-8s %s\n' COMPONENT STATE PID ENDPOINT
row() {
  local state=stopped pid=-
  if is_running "$1"; then state=running; pid="$(cat "$(pidfile "$1")")"; fi
  printf '%-26s %-8s %-8s %s\n' "$1" "$state" "$pid" "$2"
}
row mariadb "127.0.0.1:$MARIADB_PORT"
row kafka "127.0.0.1:$KAFKA_PORT"
row etcd "http://127.0.0.1:$ETCD_PORT"
row kube-apiserver "https://127.0.0.1:$APISERVER_PORT"
row kube-controller-manager "https://127.0.0.1:$KCM_PORT"
row kube-scheduler "https://127.0.0.1:$SCHEDULER_PORT"
row kwok "http://127.0.0.1:$KWOK_PORT"
echo
echo "kubeconfig: $KUBECONFIG_PATH   logs: $LOG_DIR   endpoints: $HERALD_STATE/env.sh"
if is_running kube-apiserver; then
  echo
  "$BIN_DIR/kubectl" --kubeconfig "$KUBECONFIG_PATH" get nodes -L topology.kubernetes.io/zone
fi
