package sasl_test

import (
	"context"
	"fmt"

	"github.com/starling-xmpp/starling/sasl"
)

func ExampleDerive() {
	creds, err := sasl.Derive("r0m30myr0m30", sasl.DeriveOptions{Iterations: 4096})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(len(creds.SHA256.Salt), creds.SHA256.Iterations, len(creds.SHA256.StoredKey), creds.DigestMD5 == nil)
	// Output: 16 4096 32 true
}

func ExampleChoose() {
	offered := []string{"SCRAM-SHA-1", "SCRAM-SHA-256", "SCRAM-SHA-256-PLUS", "PLAIN"}
	mech, _ := sasl.Choose(offered, []string{sasl.CBTLSExporter}, false)
	fmt.Println(mech)
	mech, _ = sasl.Choose(offered, nil, false)
	fmt.Println(mech)
	// Output:
	// SCRAM-SHA-256-PLUS
	// SCRAM-SHA-256
}

// The c2s code drives a Server with the decoded content of <auth/> and
// <response/>, and sends back <challenge/>, <success/> or <failure/>.
func ExampleNewServer() {
	creds, _ := sasl.Derive("r0m30myr0m30", sasl.DeriveOptions{Iterations: 4096})
	cfg := sasl.ServerConfig{
		Lookup: func(ctx context.Context, username string) (sasl.Credentials, error) {
			if username != "juliet" {
				return sasl.Credentials{}, sasl.ErrNoSuchUser
			}
			return creds, nil
		},
		Realm:      "example.test",
		Secret:     []byte("a server secret"),
		Iterations: 4096,
	}
	server, _ := sasl.NewServer(sasl.SCRAMSHA256, cfg)
	client, _ := sasl.NewClient(sasl.SCRAMSHA256, sasl.ClientConfig{Username: "juliet", Password: "r0m30myr0m30"})

	ctx := context.Background()
	msg, _ := client.Step(nil) // the initial response, in <auth/>
	for {
		out, done, err := server.Step(ctx, msg)
		if err != nil {
			fmt.Println("failure:", err) // <failure/> with the condition
			return
		}
		if done {
			// <success/> carries out; the client checks it.
			if err := client.Verify(out); err != nil {
				fmt.Println("client refuses the success:", err)
				return
			}
			break
		}
		if msg, err = client.Step(out); err != nil { // <challenge/>, then <response/>
			fmt.Println(err)
			return
		}
	}
	fmt.Println("authenticated as", server.Username())
	// Output: authenticated as juliet
}
