#!/usr/bin/env bash
# Generates the Python and Go clients from proto/ with each language's standard tools:
# protoc from grpcio-tools (with its Python plugins) and protoc-gen-go / protoc-gen-go-grpc.
# The output (client/python/herald_pb/, client/go/heraldv1/) is never edited or committed.
# The generators come from `test/env/tools.sh clients`.
. "$(dirname "${BASH_SOURCE[0]}")/../test/env/lib.sh"

PY="$HERALD_CACHE/python/bin/python"
[[ -x "$PY" ]] || die "missing $PY: run test/env/tools.sh clients"
for plugin in protoc-gen-go protoc-gen-go-grpc; do
  [[ -x "$BIN_DIR/$plugin" ]] || die "missing $BIN_DIR/$plugin: run test/env/tools.sh clients"
done

CLIENT_DIR="$REPO_DIR/client"
PROTO_DIR="$REPO_DIR/proto"
# The public API: what clients in any language call.
FILES=(herald/v1/broker.proto herald/v1/admin.proto)
GO_MODULE=herald.dev/client/go
go_maps=(
  "Mgoogle/rpc/error_details.proto=google.golang.org/genproto/googleapis/rpc/errdetails"
  "Mgoogle/rpc/status.proto=google.golang.org/genproto/googleapis/rpc/status"
)
for f in "${FILES[@]}"; do go_maps+=("M$f=$GO_MODULE/heraldv1"); done
go_opts=("--go_opt=module=$GO_MODULE" "--go-grpc_opt=module=$GO_MODULE")
for m in "${go_maps[@]}"; do go_opts+=("--go_opt=$m" "--go-grpc_opt=$m"); done

rm -rf "$CLIENT_DIR/python/herald_pb" "$CLIENT_DIR/go/heraldv1"
mkdir -p "$CLIENT_DIR/python/herald_pb" "$CLIENT_DIR/go/heraldv1"

"$PY" -m grpc_tools.protoc -I "$PROTO_DIR" \
  --python_out="$CLIENT_DIR/python/herald_pb" --pyi_out="$CLIENT_DIR/python/herald_pb" \
  --grpc_python_out="$CLIENT_DIR/python/herald_pb" "${FILES[@]}"

"$PY" -m grpc_tools.protoc -I "$PROTO_DIR" \
  --plugin=protoc-gen-go="$BIN_DIR/protoc-gen-go" --plugin=protoc-gen-go-grpc="$BIN_DIR/protoc-gen-go-grpc" \
  --go_out="$CLIENT_DIR/go" --go-grpc_out="$CLIENT_DIR/go" "${go_opts[@]}" "${FILES[@]}"

log "generated client/python/herald_pb and client/go/heraldv1 from ${FILES[*]}"
