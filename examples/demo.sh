#!/usr/bin/env bash
# The demo: brings up Herald's local environment and shows what runs.
# Later stages add the operator, brokers and a publish/consume round trip.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
. test/env/lib.sh

log "Herald demo: bringing up the local environment (a cold first run builds the control plane; later runs take seconds)"
bash test/env/up.sh
echo
bash test/env/status.sh
cat <<MSG

Herald's local environment is up, on 127.0.0.1 only.
Try next:
  source $HERALD_STATE/env.sh          # KUBECONFIG, HERALD_MYSQL_URL, HERALD_KAFKA_BROKERS, tools on PATH
  kubectl get nodes -L topology.kubernetes.io/zone
  make test                             # the whole test suite
  make env-down                         # stop everything (data is kept for a fast restart)
MSG
