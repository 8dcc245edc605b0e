package jid

import "testing"

func BenchmarkParse(b *testing.B) {
	benchmarks := []struct {
		name string
		p    Profile
		in   string
	}{
		{"ASCII canonical full", Stringprep, "juliet@example.com/balcony"},
		{"ASCII canonical bare", Stringprep, "juliet@example.com"},
		{"ASCII needs lower-casing", Stringprep, "Juliet@Example.COM/Balcony"},
		{"ASCII trailing dot", Stringprep, "juliet@example.com./balcony"},
		{"non-ASCII canonical", Stringprep, "jürgen@bücher.example/\u265a"},
		{"non-ASCII needs preparation", Stringprep, "JÜRGEN@BÜCHER.example/ＢＡＬＣＯＮＹ"},
		{"ACE domain", Stringprep, "juliet@xn--bcher-kva.example/balcony"},
		{"PRECIS ASCII canonical full", PRECIS, "juliet@example.com/balcony"},
		{"PRECIS ASCII needs lower-casing", PRECIS, "Juliet@Example.COM/Balcony"},
		{"PRECIS non-ASCII canonical", PRECIS, "jürgen@bücher.example/\u265a"},
		{"PRECIS non-ASCII needs preparation", PRECIS, "JÜRGEN@BÜCHER.example/ＢＡＬＣＯＮＹ"},
	}
	for _, bm := range benchmarks {
		if _, err := bm.p.Parse(bm.in); err != nil {
			b.Fatalf("%v.Parse(%q): %v", bm.p, bm.in, err)
		}
		b.Run(bm.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(bm.in)))
			for b.Loop() {
				if _, err := bm.p.Parse(bm.in); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkBare(b *testing.B) {
	j := MustParse("juliet@example.com/balcony")
	b.ReportAllocs()
	for b.Loop() {
		if j.Bare().IsFull() {
			b.Fatal("Bare is full")
		}
	}
}
