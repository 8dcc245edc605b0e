package memory

import (
	"context"
	"maps"
	"slices"
	"time"

	"github.com/starling-xmpp/starling/storage"
)

type owner struct{ host, user, store string }

// Get returns one value of a per-account map, or storage.ErrNotFound.
func (s *Store) Get(_ context.Context, host, user, store, key string) ([]byte, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	v, ok := s.kv[owner{host, user, store}][key]
	if !ok {
		return nil, storage.ErrNotFound
	}
	return slices.Clone(v), nil
}

// Put creates or replaces one value.
func (s *Store) Put(_ context.Context, host, user, store, key string, value []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	o := owner{host, user, store}
	if s.kv[o] == nil {
		s.kv[o] = map[string][]byte{}
	}
	s.kv[o][key] = append([]byte{}, value...)
	return nil
}

// Delete removes one value; a missing key is not an error.
func (s *Store) Delete(_ context.Context, host, user, store, key string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.kv[owner{host, user, store}], key)
	return nil
}

// Map returns every key and value of one store of one account.
func (s *Store) Map(_ context.Context, host, user, store string) (map[string][]byte, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	m := maps.Clone(s.kv[owner{host, user, store}])
	if m == nil {
		m = map[string][]byte{}
	}
	for k, v := range m {
		m[k] = slices.Clone(v)
	}
	return m, nil
}

// Push appends a value to a queue; with max > 0 a full queue refuses it.
func (s *Store) Push(_ context.Context, host, user, store string, value []byte, max int) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	o := owner{host, user, store}
	if max > 0 && len(s.queues[o]) >= max {
		return storage.ErrQuota
	}
	s.nextID++
	s.queues[o] = append(s.queues[o], storage.Item{ID: s.nextID, Value: slices.Clone(value), Time: time.Now()})
	return nil
}

// Items returns a queue's values, oldest first.
func (s *Store) Items(_ context.Context, host, user, store string) ([]storage.Item, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := slices.Clone(s.queues[owner{host, user, store}])
	for i := range out {
		out[i].Value = slices.Clone(out[i].Value)
	}
	return out, nil
}

// Remove deletes queue values by id.
func (s *Store) Remove(_ context.Context, host, user, store string, ids ...int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	o := owner{host, user, store}
	s.queues[o] = slices.DeleteFunc(s.queues[o], func(it storage.Item) bool { return slices.Contains(ids, it.ID) })
	return nil
}

// Count returns how many values a queue holds.
func (s *Store) Count(_ context.Context, host, user, store string) (int, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.queues[owner{host, user, store}]), nil
}

// deleteData drops everything stored for an account. The caller holds mu.
func (s *Store) deleteData(host, user string) {
	for o := range s.kv {
		if o.host == host && o.user == user {
			delete(s.kv, o)
		}
	}
	for o := range s.queues {
		if o.host == host && o.user == user {
			delete(s.queues, o)
		}
	}
}
