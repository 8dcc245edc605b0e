package account

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/starling-xmpp/starling/sasl"
	"github.com/starling-xmpp/starling/storage"
)

// MaxBulk is the most accounts one AddBulk call makes.
const MaxBulk = 10_000_000

// bulkBatch is how many accounts AddBulk stores per transaction.
const bulkBatch = 5000

// Errors of AddBulk.
var (
	ErrBadPattern = errors.New("account: the pattern must be user@host with exactly one %d, in the user part")
	ErrBulkCount  = fmt.Errorf("account: the count must be 1 to %d, the start 0 or more", MaxBulk)
)

// Bulk describes the accounts of an AddBulk call: Count accounts named by
// Pattern, with %d replaced by Start, Start+1, ... Start+Count-1.
type Bulk struct {
	// Pattern is a user@host address with exactly one %d, in the user
	// part, and no other %.
	Pattern string
	// Start is the first number (0 or more); Count how many accounts
	// (1 to MaxBulk).
	Start, Count int
	// Progress, if not nil, is called after each stored batch with the
	// number of accounts handled (created or skipped) and created so far.
	Progress func(done, created int)
}

// BulkResult is what AddBulk did.
type BulkResult struct {
	Created int // new accounts
	Skipped int // accounts that existed already, left as they were
}

// AddBulk creates many accounts with one password, for tests and load
// tests. It derives the password's SCRAM keys once: every account of the
// call shares one salt and the same stored keys (whoever reads the database
// sees which accounts share the password, as with any accounts that share
// a salt). Changing an account's password later (SetPassword, `starling
// user passwd`) gives it its own salt. DIGEST-MD5 digests, when enabled,
// depend on the username and are computed per account.
//
// Names are prepared like Add's. Accounts that already exist are skipped
// and counted. The accounts are stored in transactions of a few thousand:
// if one fails, the batches before it stay created (the result counts
// them) and nothing of the failed batch or later ones is.
func (m *Manager) AddBulk(ctx context.Context, b Bulk, password string) (BulkResult, error) {
	name, host, err := m.checkBulk(b)
	if err != nil {
		return BulkResult{}, err
	}
	shared, err := sasl.Derive(password, sasl.DeriveOptions{Iterations: m.Iterations})
	if err != nil {
		return BulkResult{}, fmt.Errorf("account: password: %w", err)
	}
	var res BulkResult
	batch := make([]storage.NewAccount, 0, min(bulkBatch, b.Count))
	end := b.Start + b.Count
	for n := b.Start; n < end; {
		batch = batch[:0]
		for ; n < end && len(batch) < bulkBatch; n++ {
			j, err := m.Address(name(n))
			if err != nil {
				return res, err
			}
			if j.Domain() != host {
				return res, fmt.Errorf("%w: %q makes addresses on %s and %s", ErrBadPattern, b.Pattern, host, j.Domain())
			}
			c := shared
			if m.DigestMD5 {
				if c.DigestMD5, err = sasl.DigestMD5Secret(j.Local(), host, password); err != nil {
					return res, fmt.Errorf("account: password: %w", err)
				}
			}
			batch = append(batch, storage.NewAccount{User: j.Local(), Credentials: c})
		}
		created, err := m.Store.CreateAccounts(ctx, host, batch)
		if err != nil {
			return res, fmt.Errorf("account: bulk creation stopped after %d accounts: %w", res.Created+res.Skipped, err)
		}
		res.Created += created
		res.Skipped += len(batch) - created
		if b.Progress != nil {
			b.Progress(res.Created+res.Skipped, res.Created)
		}
	}
	return res, nil
}

// CheckBulk returns the error AddBulk would return for b's pattern, range
// or host, so that a command can refuse them before asking for a password.
func (m *Manager) CheckBulk(b Bulk) error {
	_, _, err := m.checkBulk(b)
	return err
}

// checkBulk checks b and returns the function that names account n, and
// the prepared host.
func (m *Manager) checkBulk(b Bulk) (name func(n int) string, host string, err error) {
	prefix, suffix, ok := splitPattern(b.Pattern)
	if !ok {
		return nil, "", fmt.Errorf("%w: %q", ErrBadPattern, b.Pattern)
	}
	if b.Count < 1 || b.Count > MaxBulk || b.Start < 0 || b.Start > math.MaxInt-b.Count {
		return nil, "", fmt.Errorf("%w: start %d, count %d", ErrBulkCount, b.Start, b.Count)
	}
	name = func(n int) string { return prefix + strconv.Itoa(n) + suffix }
	first, err := m.Address(name(b.Start))
	if err != nil {
		return nil, "", err
	}
	return name, first.Domain(), nil
}

// splitPattern splits a bulk pattern around its %d, which must be the only
// % and come before the first @.
func splitPattern(p string) (prefix, suffix string, ok bool) {
	i := strings.Index(p, "%d")
	at := strings.IndexByte(p, '@')
	if i < 0 || strings.Count(p, "%") != 1 || at < 0 || i > at {
		return "", "", false
	}
	return p[:i], p[i+2:], true
}
