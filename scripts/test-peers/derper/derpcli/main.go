// SPDX-License-Identifier: Apache-2.0
// derpcli: a small driver of OUR OWN around the published tailscale.com/derp/derphttp client, so tests can run
// Tailscale's DERP client side against our relay. It connects with a fresh (or given) node key, prints
// "ready <own public key hex>", then executes stdin lines "send <dst public key hex> <payload hex>" and prints
// every received packet as "recv <source public key hex> <payload hex>". Exits when stdin closes.
package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/hex"
	"flag"
	"fmt"
	"log"
	"os"
	"strings"
	"sync"
	"time"

	"go4.org/mem"
	"tailscale.com/derp"
	"tailscale.com/derp/derphttp"
	"tailscale.com/net/netmon"
	"tailscale.com/types/key"
)

func main() {
	url := flag.String("url", "", "relay URL, e.g. https://10.0.0.1:8443/derp")
	priv := flag.String("private-key", "", "node private key, 64 hex digits (default: a new one)")
	insecure := flag.Bool("insecure", false, "skip TLS certificate verification (test relays use self-signed certificates)")
	flag.Parse()
	k := key.NewNode()
	if *priv != "" {
		var err error
		if k, err = key.ParseNodePrivateUntyped(mem.S(*priv)); err != nil {
			log.Fatalf("bad -private-key: %v", err)
		}
	}
	c, err := derphttp.NewClient(k, *url, func(f string, a ...any) { log.Printf(f, a...) }, netmon.NewStatic())
	if err != nil {
		log.Fatal(err)
	}
	if *insecure {
		c.TLSConfig = &tls.Config{InsecureSkipVerify: true}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	if err := c.Connect(ctx); err != nil {
		log.Fatalf("connect: %v", err)
	}
	cancel()
	var out sync.Mutex
	say := func(f string, a ...any) { out.Lock(); fmt.Printf(f+"\n", a...); out.Unlock() }
	say("ready %s", k.Public().UntypedHexString())
	go func() {
		for {
			m, err := c.Recv()
			if err != nil {
				say("error %v", err)
				os.Exit(1)
			}
			if p, ok := m.(derp.ReceivedPacket); ok {
				say("recv %s %s", p.Source.UntypedHexString(), hex.EncodeToString(p.Data))
			}
		}
	}()
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 3 || f[0] != "send" {
			continue
		}
		dst, err := key.ParseNodePublicUntyped(mem.S(f[1]))
		if err != nil {
			say("error bad key: %v", err)
			continue
		}
		b, err := hex.DecodeString(f[2])
		if err != nil {
			say("error bad payload: %v", err)
			continue
		}
		if err := c.Send(dst, b); err != nil {
			say("error send: %v", err)
		}
	}
}
