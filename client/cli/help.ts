// The herald CLI's help text; docs/cli.md says the same at more length.
export const USAGE = `herald: publish, consume and inspect Herald topics

Usage: herald <command> [flags]

Commands:
  publish <topic> [message...]   publish the arguments, --file, or stdin (--lines: one message per line)
      --key K  --partition N  --tag T (repeat)  --ref-key R  --property name=value (repeat)
      --priority  --delay 10s | --deliver-at 2026-05-01T12:00:00Z
  consume [topic] --group G      print messages of a consumer group (acks them unless --no-ack)
      --max N  --follow  --idle 3s  --no-ack  --partition N (without --meta)
  trace <message-id>             the life of a message (topic/partition/offset)
  trace --ref-key R --topic T    the life of every message with a ref key  [--limit N]
  lag --group G --topic T        the group's lag, retries waiting and dead letters per partition
                                 (and consumer, in a broadcast group)
  peek <topic> --partition N     read messages without a group  [--offset N | --since T] [--limit N]
  dlq list --topic T --group G   dead letters, newest first  [--since T --until T --limit N]
  dlq replay --topic T --group G [id...] [--since T --until T | --all]   retry dead letters
  dlq purge --topic T --group G [id...] [--since T --until T | --all]    delete dead letters
  reset-offsets --group G --topic T --to earliest|latest|<time> | --offset N  [--partition N]
  (a broadcast group's consumers each have their own offsets and dead letters: add --consumer C
  to reset-offsets and dlq)
  topics list                    the namespace's topics

Global flags:
  --meta host:port      the meta-server (routing; also $HERALD_META)
  --broker host:port    one broker, without a meta-server (also $HERALD_BROKER)
  -n, --namespace NS    the topics' namespace (also $HERALD_NAMESPACE; default "default")
  -o, --output FORMAT   table (default) or json (one object per line)
  --timeout 10s         per call
  --ca FILE             trust this CA bundle: TLS (also $HERALD_CA_FILE; in a pod the mounted one)
  --token-file FILE     send the token in FILE (also $HERALD_TOKEN_FILE; in a pod the projected
                        ServiceAccount token); --token T or $HERALD_TOKEN for a HeraldUser token
  --cert FILE --cert-key FILE   a HeraldUser client certificate instead of a token
  -h, --help

Times: ISO 8601 (2026-05-01T12:00:00Z), ms since the epoch, or a duration ago (1h, 30m).
Exit codes: 0 ok, 1 error from the server, 2 usage error, 3 not found, 4 unavailable or timed out.
`;
