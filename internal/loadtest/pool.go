package loadtest

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hookbridge/hookbridge/internal/sample"
)

// Pool holds a run's signed webhooks. A first batch is signed before the
// run (SignAhead) so the load starts at full speed; the rest is signed in
// the background while the run goes on, only as far as the run gets, so a
// short run does not wait for a pool sized for a long one.
type Pool struct {
	opts  Options
	gen   *sample.Generator
	reqs  []Request
	ready atomic.Int64 // reqs[:ready] are signed
	taken atomic.Int64 // the senders have asked for reqs[:taken]
	ahead int          // how far the background signer keeps ahead of the senders

	mu      sync.Mutex
	cond    *sync.Cond
	stopped bool // no more will be signed
	stalls  atomic.Int64
}

// NewPool returns an empty pool for opts.MaxRequests webhooks.
func NewPool(opts Options) (*Pool, error) {
	if opts.Source != "pique" && opts.Source != "product-agents" {
		return nil, fmt.Errorf("source %q: use pique or product-agents", opts.Source)
	}
	if opts.MaxRequests < 1 {
		return nil, fmt.Errorf("max requests %d: want at least 1", opts.MaxRequests)
	}
	p := &Pool{opts: opts, gen: sample.NewGenerator(uint64(time.Now().UnixNano())), reqs: make([]Request, opts.MaxRequests)}
	p.cond = sync.NewCond(&p.mu)
	return p, nil
}

// SignAhead signs up to n more webhooks now, calling progress after every
// few thousand. The background signer then stays about n ahead of the
// senders, so it costs the machine no more than the run needs.
func (p *Pool) SignAhead(n int, progress func(signed, of int)) {
	p.ahead = max(n, 1024)
	end := min(int(p.ready.Load())+n, len(p.reqs))
	for i := int(p.ready.Load()); i < end; i++ {
		p.sign(i)
		if progress != nil && ((i+1)%5000 == 0 || i+1 == end) {
			progress(i+1, end)
		}
	}
}

// Signed is how many webhooks are signed so far.
func (p *Pool) Signed() int { return int(p.ready.Load()) }

// Stalls is how often a sender had to wait for signing: the run then
// measured the signer as much as the receiver.
func (p *Pool) Stalls() int { return int(p.stalls.Load()) }

func (p *Pool) sign(i int) {
	body, id := Body(p.gen, p.opts.Source, time.Now(), p.opts.BodySize)
	h := p.opts.Sign("msg_"+id, body)
	r := Request{EventID: id, Body: body}
	for k := range h {
		r.Headers = append(r.Headers, [2]string{k, h.Get(k)})
	}
	p.reqs[i] = r
	p.ready.Store(int64(i + 1)) // publishes reqs[i] to the senders
	if (i+1)%256 == 0 {
		p.wake()
	}
}

// signInBackground signs the rest of the pool until it is full or ctx ends.
func (p *Pool) signInBackground(ctx context.Context) {
	defer func() {
		p.mu.Lock()
		p.stopped = true
		p.mu.Unlock()
		p.cond.Broadcast()
	}()
	if p.ahead == 0 {
		p.ahead = 1024
	}
	for i := int(p.ready.Load()); i < len(p.reqs) && ctx.Err() == nil; i++ {
		for i-int(p.taken.Load()) >= p.ahead && ctx.Err() == nil {
			time.Sleep(time.Millisecond) // far enough ahead: leave the CPU to the run
		}
		p.sign(i)
	}
}

func (p *Pool) wake() {
	p.mu.Lock() // orders the wake-up after a waiter's check of ready
	p.cond.Broadcast()
	p.mu.Unlock()
}

// get returns webhook i, waiting for it to be signed; false when it never
// will be (the pool is used up or the run is over).
func (p *Pool) get(i int) (*Request, bool) {
	if i >= len(p.reqs) {
		return nil, false
	}
	for t := p.taken.Load(); t < int64(i+1) && !p.taken.CompareAndSwap(t, int64(i+1)); t = p.taken.Load() {
	}
	if i < int(p.ready.Load()) {
		return &p.reqs[i], true
	}
	p.stalls.Add(1)
	p.mu.Lock()
	defer p.mu.Unlock()
	for i >= int(p.ready.Load()) && !p.stopped {
		p.cond.Wait()
	}
	if i >= int(p.ready.Load()) {
		return nil, false
	}
	return &p.reqs[i], true
}
