// Command herald-example publishes to and consumes from a Herald broker with the Go client
// generated from proto/ (client/generate.sh). It prints one JSON object per line so that
// scripts and tests can read what happened.
//
//	herald-example publish -addr 127.0.0.1:7600 -topic orders -key k1 -count 3 -body hello
//	herald-example consume -addr 127.0.0.1:7600 -topic orders -partition 0 -group billing -count 3
//
// With security on (docs/security.md): -ca ca.crt and a token, -token-file (a projected
// ServiceAccount token, audience herald, read at each call so that a refreshed file is used) or
// -token (a HeraldUser token; $HERALD_TOKEN).
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"herald.dev/client/go/heraldv1"
)

func main() {
	if len(os.Args) < 2 || (os.Args[1] != "publish" && os.Args[1] != "consume") {
		fmt.Fprintln(os.Stderr, "usage: herald-example publish|consume [flags]")
		os.Exit(2)
	}
	cmd := os.Args[1]
	fs := flag.NewFlagSet(cmd, flag.ExitOnError)
	addr := fs.String("addr", "127.0.0.1:7600", "broker address host:port")
	topic := fs.String("topic", "", "topic name")
	key := fs.String("key", "", "publish: partitioning key")
	body := fs.String("body", "message", "publish: body prefix; message i gets \"<body>-<i>\"")
	partition := fs.Uint("partition", 0, "consume: partition")
	group := fs.String("group", "", "consume: consumer group")
	count := fs.Int("count", 1, "messages to publish or to consume")
	timeout := fs.Duration("timeout", 30*time.Second, "give up after this long")
	ca := fs.String("ca", "", "the CA bundle that signed the brokers' certificates: TLS")
	token := fs.String("token", os.Getenv("HERALD_TOKEN"), "a bearer token")
	tokenFile := fs.String("token-file", "", "a file holding a bearer token (read at each call)")
	serverName := fs.String("server-name", "", "the name the broker's certificate carries, if not -addr's host")
	_ = fs.Parse(os.Args[2:])

	opts, err := dialOptions(*ca, *serverName, bearer{token: *token, file: *tokenFile})
	if err != nil {
		fail(err)
	}
	conn, err := grpc.NewClient(*addr, opts...)
	if err != nil {
		fail(err)
	}
	defer conn.Close()
	client := heraldv1.NewBrokerClient(conn)
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()

	if cmd == "publish" {
		publish(ctx, client, *topic, *key, *body, *count)
	} else {
		consume(ctx, client, *topic, uint32(*partition), *group, *count)
	}
}

// bearer sends `authorization: Bearer <token>` on every call, over TLS only.
type bearer struct{ token, file string }

func (b bearer) set() bool { return b.token != "" || b.file != "" }

func (b bearer) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	token := b.token
	if b.file != "" {
		raw, err := os.ReadFile(b.file)
		if err != nil {
			return nil, err
		}
		token = strings.TrimSpace(string(raw))
	}
	return map[string]string{"authorization": "Bearer " + token}, nil
}

func (bearer) RequireTransportSecurity() bool { return true }

func dialOptions(ca, serverName string, auth bearer) ([]grpc.DialOption, error) {
	if ca == "" {
		if auth.set() {
			return nil, fmt.Errorf("-token and -token-file need -ca: a token travels over TLS only")
		}
		return []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}, nil
	}
	tls, err := credentials.NewClientTLSFromFile(ca, serverName)
	if err != nil {
		return nil, err
	}
	opts := []grpc.DialOption{grpc.WithTransportCredentials(tls)}
	if auth.set() {
		opts = append(opts, grpc.WithPerRPCCredentials(auth))
	}
	return opts, nil
}

func publish(ctx context.Context, client heraldv1.BrokerClient, topic, key, body string, count int) {
	msgs := make([]*heraldv1.Message, count)
	for i := range msgs {
		msgs[i] = &heraldv1.Message{Key: key, Body: []byte(fmt.Sprintf("%s-%d", body, i))}
	}
	resp, err := client.Publish(ctx, &heraldv1.PublishRequest{
		Topic:    topic,
		Route:    &heraldv1.PublishRequest_Key{Key: key},
		Messages: msgs,
	})
	if err != nil {
		fail(err)
	}
	for _, r := range resp.GetResults() {
		emit(map[string]any{"partition": resp.GetPartition(), "offset": r.GetOffset(), "message_id": r.GetMessageId()})
	}
}

func consume(ctx context.Context, client heraldv1.BrokerClient, topic string, partition uint32, group string, count int) {
	for received := 0; received < count; {
		resp, err := client.Pull(ctx, &heraldv1.PullRequest{
			Group: group, Topic: topic, Partition: partition,
			MaxMessages: uint32(count - received), MaxWaitMs: 5000,
		})
		if err != nil {
			fail(err)
		}
		var offsets []uint64
		for _, d := range resp.GetMessages() {
			emit(map[string]any{"offset": d.GetOffset(), "key": d.GetKey(), "body": string(d.GetBody())})
			offsets = append(offsets, d.GetOffset())
		}
		if len(offsets) > 0 {
			if _, err := client.Ack(ctx, &heraldv1.AckRequest{Group: group, Topic: topic, Partition: partition, Offsets: offsets}); err != nil {
				fail(err)
			}
		}
		received += len(offsets)
	}
}

func emit(v map[string]any) {
	line, _ := json.Marshal(v)
	fmt.Println(string(line))
}

func fail(err error) {
	st, _ := status.FromError(err)
	emit(map[string]any{"error": st.Code().String(), "message": st.Message()})
	os.Exit(1)
}
