package memory

import (
	"testing"

	"github.com/starling-xmpp/starling/storage/storetest"
)

func TestStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) storetest.Store { return New() })
}
