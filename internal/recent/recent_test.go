package recent

import (
	"strconv"
	"sync"
	"testing"
	"time"
)

func TestCache(t *testing.T) {
	now := time.Unix(1000, 0)
	c := &Cache[int]{TTL: time.Minute, Max: 16, Now: func() time.Time { return now }}
	if _, ok := c.Get("a"); ok {
		t.Fatal("a value in an empty cache")
	}
	c.Put("a", 1)
	if v, ok := c.Get("a"); !ok || v != 1 {
		t.Fatalf("Get = %v, %v", v, ok)
	}
	now = now.Add(time.Minute - time.Nanosecond)
	if _, ok := c.Get("a"); !ok {
		t.Fatal("expired before its TTL")
	}
	now = now.Add(time.Nanosecond)
	if _, ok := c.Get("a"); ok {
		t.Fatal("kept past its TTL")
	}
	c.Put("a", 2) // a new Put starts a new TTL
	if v, ok := c.Get("a"); !ok || v != 2 {
		t.Fatalf("after a new Put: %v, %v", v, ok)
	}
	c.Delete("a")
	if _, ok := c.Get("a"); ok {
		t.Fatal("kept after Delete")
	}
	for i := range 100 {
		c.Put(strconv.Itoa(i), i)
		if c.Len() > 16 {
			t.Fatalf("%d entries, at most 16", c.Len())
		}
	}
	if v, ok := c.Get("99"); !ok || v != 99 {
		t.Fatal("the last value put was dropped")
	}
}

// The zero value keeps nothing.
func TestZeroKeepsNothing(t *testing.T) {
	var c Cache[string]
	c.Put("a", "x")
	if _, ok := c.Get("a"); ok || c.Len() != 0 {
		t.Fatal("the zero Cache kept a value")
	}
}

func TestConcurrent(t *testing.T) {
	c := &Cache[int]{TTL: time.Minute, Max: 64}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 1000 {
				k := strconv.Itoa(g*1000 + i%100)
				c.Put(k, i)
				c.Get(k)
				if i%10 == 0 {
					c.Delete(k)
				}
			}
		})
	}
	wg.Wait()
	if c.Len() > 64 {
		t.Fatalf("%d entries, at most 64", c.Len())
	}
}
