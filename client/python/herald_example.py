"""Publishes to and consumes from a Herald broker with the Python client generated from
proto/ (client/generate.sh). Prints one JSON object per line so that scripts and tests can
read what happened.

    python herald_example.py publish --addr 127.0.0.1:7600 --topic orders --key k1 --count 3 --body hello
    python herald_example.py consume --addr 127.0.0.1:7600 --topic orders --partition 0 --group billing --count 3
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
    args = parser.parse_args()
    with grpc.insecure_channel(args.addr) as channel:
        stub = broker_pb2_grpc.BrokerStub(channel)
        try:
            (publish if args.command == "publish" else consume)(stub, args)
        except grpc.RpcError as err:
            emit({"error": err.code().name, "message": err.details()})
            sys.exit(1)


if __name__ == "__main__":
    main()
