#!/usr/bin/env bash
# Stops the local environment. Data stays for a fast next start unless --purge is given.
# Usage: test/env/down.sh [--purge]
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

purge=0
for a in "$@"; do
  case "$a" in
    --purge) purge=1 ;;
    *) die "unknown argument '$a' (expected --purge)" ;;
  esac
done
for name in kwok kube-scheduler kube-controller-manager kube-apiserver etcd kafka mariadb; do
  stop_daemon "$name"
done
if (( purge )); then
  log "removing state in $HERALD_STATE (the build cache in $HERALD_CACHE stays)"
  rm -rf "$HERALD_STATE"
fi
log "environment down"
