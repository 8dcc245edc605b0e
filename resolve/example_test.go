package resolve_test

import (
	"context"
	"fmt"

	"github.com/starling-xmpp/starling/resolve"
)

func ExampleResolver_Lookup() {
	var r resolve.Resolver // net.DefaultResolver; an IP literal needs no DNS
	targets, err := r.Lookup(context.Background(), resolve.ServiceServer, "[2001:db8::1]")
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, t := range targets {
		fmt.Println(t.Addr(), "direct TLS:", t.DirectTLS)
	}
	// Output: [2001:db8::1]:5269 direct TLS: false
}
