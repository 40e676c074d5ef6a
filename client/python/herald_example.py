"""Publishes to and consumes from a Herald broker with the Python client generated from
proto/ (client/generate.sh). Prints one JSON object per line so that scripts and tests can
read what happened.

    python herald_example.py publish --addr 127.0.0.1:7600 --topic orders --key k1 --count 3 --body hello
    python herald_example.py consume --addr 127.0.0.1:7600 --topic orders --partition 0 --group billing --count 3

With security on (docs/security.md): --ca ca.crt and a token, --token-file (a projected
ServiceAccount token, audience herald, read before each call so that a refreshed file is used)
or --token (a HeraldUser token; $HERALD_TOKEN).
"""

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "herald_pb"))

import grpc  # noqa: E402
from herald.v1 import broker_pb2, broker_pb2_grpc  # noqa: E402


def emit(obj):
    print(json.dumps(obj), flush=True)


def publish(stub, args):
    messages = [broker_pb2.Message(key=args.key, body=f"{args.body}-{i}".encode()) for i in range(args.count)]
    resp = stub.Publish(
        broker_pb2.PublishRequest(topic=args.topic, key=args.key, messages=messages), timeout=args.timeout
    )
    for r in resp.results:
        emit({"partition": resp.partition, "offset": r.offset, "message_id": r.message_id})


def consume(stub, args):
    received = 0
    while received < args.count:
        resp = stub.Pull(
            broker_pb2.PullRequest(
                group=args.group,
                topic=args.topic,
                partition=args.partition,
                max_messages=args.count - received,
                max_wait_ms=5000,
            ),
            timeout=args.timeout,
        )
        offsets = []
        for d in resp.messages:
            emit({"offset": d.offset, "key": d.key, "body": d.body.decode()})
            offsets.append(d.offset)
        if offsets:
            stub.Ack(
                broker_pb2.AckRequest(group=args.group, topic=args.topic, partition=args.partition, offsets=offsets),
                timeout=args.timeout,
            )
        received += len(offsets)


class FileToken(grpc.AuthMetadataPlugin):
    """Sends `authorization: Bearer <token>`, the token read from a file (or given) at each call."""

    def __init__(self, token=None, token_file=None):
        self.token, self.token_file = token, token_file

    def __call__(self, context, callback):
        if self.token_file:
            with open(self.token_file, encoding="utf-8") as f:
                token = f.read().strip()
        else:
            token = self.token
        callback((("authorization", f"Bearer {token}"),), None)


def channel(args):
    if not args.ca:
        if args.token or args.token_file:
            sys.exit("--token and --token-file need --ca: a token travels over TLS only")
        return grpc.insecure_channel(args.addr)
    with open(args.ca, "rb") as f:
        creds = grpc.ssl_channel_credentials(root_certificates=f.read())
    if args.token or args.token_file:
        creds = grpc.composite_channel_credentials(
            creds, grpc.metadata_call_credentials(FileToken(args.token, args.token_file))
        )
    options = [("grpc.ssl_target_name_override", args.server_name)] if args.server_name else []
    return grpc.secure_channel(args.addr, creds, options)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=["publish", "consume"])
    parser.add_argument("--addr", default="127.0.0.1:7600", help="broker address host:port")
    parser.add_argument("--topic", required=True)
    parser.add_argument("--key", default="", help="publish: partitioning key")
    parser.add_argument("--body", default="message", help='publish: body prefix; message i gets "<body>-<i>"')
    parser.add_argument("--partition", type=int, default=0, help="consume: partition")
    parser.add_argument("--group", default="", help="consume: consumer group")
    parser.add_argument("--count", type=int, default=1, help="messages to publish or to consume")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds for each call")
    parser.add_argument("--ca", help="the CA bundle that signed the brokers' certificates: TLS")
    parser.add_argument("--token", default=os.environ.get("HERALD_TOKEN"), help="a bearer token")
    parser.add_argument("--token-file", help="a file holding a bearer token (re-read at each call)")
    parser.add_argument("--server-name", help="the name the broker's certificate carries, if not --addr's host")
    args = parser.parse_args()
    with channel(args) as conn:
        stub = broker_pb2_grpc.BrokerStub(conn)
        try:
            (publish if args.command == "publish" else consume)(stub, args)
        except grpc.RpcError as err:
            emit({"error": err.code().name, "message": err.details()})
            sys.exit(1)


if __name__ == "__main__":
    main()
