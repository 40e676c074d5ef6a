# Pinned versions of every component of the local environment. Changing one here
# changes the cache key, so the next `up` rebuilds just that component.
KUBE_VERSION=v1.34.4        # also pinned in gomod/k8s/go.mod
ETCD_VERSION=v3.6.16        # also pinned in gomod/etcd/go.mod
KWOK_VERSION=v0.8.0
HELM_VERSION=v3.22.0
GRPCURL_VERSION=v1.9.4
GHZ_VERSION=v0.120.0
KAFKA_VERSION=4.1.1         # also pinned in kafka/pom.xml
