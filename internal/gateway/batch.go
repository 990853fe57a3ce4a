package gateway

import "sync"

// batch is a session's queue of items for its writer.
type batch struct{ items []item }

// batchPool recycles batches: most drains at moderate load carry one or two
// frames, and a fresh queue for each was the largest allocation per
// delivered event, so the collector ran more often on busy nodes. An idle
// session holds no batch.
type batchPool struct{ p sync.Pool }

// maxPooledBatch bounds the batches kept: a burst's large queue is left to
// the collector instead of being held by the pool.
const maxPooledBatch = 64

func (bp *batchPool) get() *batch {
	if b, ok := bp.p.Get().(*batch); ok {
		return b
	}
	return &batch{items: make([]item, 0, 8)}
}

// put returns a batch whose items have been processed.
func (bp *batchPool) put(b *batch) {
	if cap(b.items) > maxPooledBatch {
		return
	}
	clear(b.items) // drop the frames and maps the items point to
	b.items = b.items[:0]
	bp.p.Put(b)
}
