package jid_test

import (
	"errors"
	"fmt"

	"github.com/starling-xmpp/starling/jid"
)

func ExampleParse() {
	j, err := jid.Parse("Juliet@Example.COM/Balcony")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(j)
	fmt.Println(j.Local(), j.Domain(), j.Resource())
	fmt.Println(j.Bare(), j.IsFull())
	// Output:
	// juliet@example.com/Balcony
	// juliet example.com Balcony
	// juliet@example.com true
}

func ExampleParse_malformed() {
	for _, s := range []string{"juliet@", "foo bar@example.com", "example.com/"} {
		_, err := jid.Parse(s)
		fmt.Println(errors.Is(err, jid.ErrMalformed), err)
	}
	// Output:
	// true jid: empty domainpart
	// true jid: localpart: prohibited character U+0020 ' '
	// true jid: empty resourcepart after '/'
}

func ExampleJID_equality() {
	// Addresses are compared in canonical form, so == is address equality.
	a := jid.MustParse("JULIET@xn--bcher-kva.example.")
	b := jid.MustParse("juliet@BÜCHER.example")
	fmt.Println(a, a == b)
	// Output:
	// juliet@bücher.example true
}

func ExampleNew() {
	j, err := jid.New("Romeo", "Example.NET", "Orchard")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(j)
	// Output:
	// romeo@example.net/Orchard
}

func ExampleProfile_WithResource() {
	bare := jid.MustParse("juliet@example.com")
	full, err := jid.Stringprep.WithResource(bare, "balcony")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(full, full.Bare() == bare)
	// Output:
	// juliet@example.com/balcony true
}

func ExampleParseProfile() {
	p, err := jid.ParseProfile("precis")
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, s := range []string{"fußball@example.com", "ς@example.com"} {
		a, _ := jid.Stringprep.Parse(s)
		b, _ := p.Parse(s)
		fmt.Printf("%s: stringprep %s, %v %s\n", s, a, p, b)
	}
	// Output:
	// fußball@example.com: stringprep fussball@example.com, precis fußball@example.com
	// ς@example.com: stringprep σ@example.com, precis ς@example.com
}

func ExampleProfile_Local() {
	// Preparing one part, as when registering an account.
	local, err := jid.Stringprep.Local("ＪＵＬＩＥＴ")
	fmt.Println(local, err)
	_, err = jid.Stringprep.Local("juliet@home")
	fmt.Println(err)
	// Output:
	// juliet <nil>
	// jid: localpart: prohibited character U+0040 '@'
}
