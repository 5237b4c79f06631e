package cache

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rezup/rezup/cas"
	"github.com/rezup/rezup/cas/backend"
	"github.com/rezup/rezup/internal/fsx"
)

// The farm build lease: one build per key across every machine that
// shares the cache, over any Backend (only Stat, Open, create-only Put,
// List and Delete; no rename, no lock). See ARCHITECTURE.md, "Build
// lease", for the protocol and what happens when a builder dies, is slow,
// or its clock is wrong.
//
//	<key>/lease.<gen>   gen 1, 2, 3…: the live lease is the highest one

// Defaults of LeaseOptions.
const (
	DefaultLeaseTTL  = 2 * time.Minute
	DefaultLeasePoll = 2 * time.Second
	DefaultLeaseWait = 10 * time.Minute
)

// MaxLeaseTTL is the longest TTL a holder may give its lease. A lease
// whose expiry lies further ahead than that (or than the waiter's own
// TTL, if longer), plus leaseSkew, was not written by a live rezup: it is
// taken for dead, as an unreadable one is. Without this bound, anyone who
// can write the cache could plant a lease expiring in a year and hold
// every node of the farm back for its whole LeaseOptions.Wait.
const MaxLeaseTTL = 15 * time.Minute

// leaseSkew is how far ahead of a waiter's clock a holder's may be.
const leaseSkew = time.Minute

// live says whether rec holds at now for a waiter whose own TTL is ttl.
func (rec LeaseRecord) live(now time.Time, ttl time.Duration) bool {
	return now.Before(rec.Expires) && rec.Expires.Sub(now) <= max(ttl, MaxLeaseTTL)+leaseSkew
}

// ErrLeaseWait means a waiter gave up on another node's build after
// LeaseOptions.Wait: the caller builds itself, and publishes only if the
// key is still not published then.
var ErrLeaseWait = errors.New("gave up waiting for another node's build")

// leasePrefix follows "<key>/" in a lease object's name.
const leasePrefix = "lease."

// LeaseHolder says who holds a lease, for people and for the holder to
// know its own leases.
type LeaseHolder struct {
	ID   string `json:"id"` // random, per AcquireBuild
	Host string `json:"host"`
	PID  int    `json:"pid"`
}

func (h LeaseHolder) String() string { return fmt.Sprintf("%s:%d", h.Host, h.PID) }

// LeaseRecord is the contents of a lease object.
type LeaseRecord struct {
	Holder  LeaseHolder `json:"holder"`
	Created time.Time   `json:"created"`
	// Expires is on the holder's clock: waiters compare it with theirs, so
	// clocks must agree to much better than the TTL.
	Expires time.Time `json:"expires"`
	TTL     string    `json:"ttl"` // a Go duration, for people
	// Gen is the generation the record was read from (not stored).
	Gen uint64 `json:"-"`
}

// LeaseOptions configure AcquireBuild. Zero values mean the defaults.
type LeaseOptions struct {
	// TTL is how long a lease lives without a refresh; the holder
	// refreshes it every TTL/3. It must be much longer than the clock
	// skew between nodes (default DefaultLeaseTTL).
	TTL time.Duration
	// Poll is the longest pause between two looks of a waiter; each pause
	// is drawn between Poll/4 and Poll, and never exceeds TTL/2 (default
	// DefaultLeasePoll).
	Poll time.Duration
	// Wait bounds how long a waiter waits for another node's build, in
	// all, before it gives up (ErrLeaseWait) and builds itself, whatever
	// leases it meets (default DefaultLeaseWait): a builder slower than
	// that costs a second build, never a stalled farm.
	Wait time.Duration
	// Holder names this node (empty Host and zero PID: os.Hostname and
	// os.Getpid). Its ID is always drawn at random.
	Holder LeaseHolder
	// Waiting, when set, is told of each live lease of another holder a
	// waiter starts waiting on (once per generation).
	Waiting func(key cas.Key, held LeaseRecord)
	// Polled, when set, is told what each look of a waiter found.
	Polled func(key cas.Key, what string)
	// Now and Sleep are the clock, for tests (nil: time.Now and a timer
	// that ctx interrupts).
	Now   func() time.Time
	Sleep func(ctx context.Context, d time.Duration) error
}

func (o LeaseOptions) withDefaults() LeaseOptions {
	if o.TTL <= 0 {
		o.TTL = DefaultLeaseTTL
	}
	if o.Poll <= 0 {
		o.Poll = DefaultLeasePoll
	}
	o.Poll = min(o.Poll, o.TTL/2)
	if o.Wait <= 0 {
		o.Wait = DefaultLeaseWait
	}
	if o.Holder.Host == "" {
		o.Holder.Host, _ = os.Hostname() // "" is only less helpful to read
	}
	if o.Holder.PID == 0 {
		o.Holder.PID = os.Getpid()
	}
	o.Holder.ID = fsx.RandomName("")
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Sleep == nil {
		o.Sleep = sleepCtx
	}
	return o
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// BuildLease is a held farm lease on a key: its holder builds the key and
// publishes it, while a goroutine refreshes the lease. Release it when the
// entry is committed, or when the build failed (so that a waiter takes
// over at once).
type BuildLease struct {
	c   *Cache
	key cas.Key
	opt LeaseOptions

	lost atomic.Bool
	stop context.CancelFunc
	done chan struct{}

	mu   sync.Mutex
	gen  uint64   // the generation held now
	mine []uint64 // the generations this holder wrote and has not deleted
	once sync.Once
}

// AcquireBuild makes sure that one node of the farm builds key. It returns
// either a held lease (build, publish, then Release) or, when another node
// published key meanwhile, its entry (fetch it). While another node holds
// a live lease on key, it waits, looking at the cache every Poll or so.
//
// After opt.Wait it gives up with an error wrapping ErrLeaseWait; any
// other error is the cache's or ctx's. Either way the caller may still
// build, but must look the key up again before publishing: nothing
// guarantees it is the only builder then.
func (c *Cache) AcquireBuild(ctx context.Context, key cas.Key, opt LeaseOptions) (*BuildLease, Entry, error) {
	opt = opt.withDefaults()
	deadline := opt.Now().Add(opt.Wait)
	var seen uint64 // the generation a Waiting report was made for
	// A generation is honoured for at most MaxLeaseTTL from when this
	// waiter first saw it, whatever expiry it states: a live holder
	// writes a new one every TTL/3, so only a planted lease lasts longer.
	firstSeen := map[uint64]time.Time{}
	honoured := func(rec LeaseRecord) bool {
		now := opt.Now()
		t, ok := firstSeen[rec.Gen]
		if !ok {
			firstSeen[rec.Gen], t = now, now
		}
		return rec.live(now, opt.TTL) && now.Sub(t) < MaxLeaseTTL
	}
	for {
		e, err := c.Lookup(ctx, key)
		switch {
		case err == nil:
			return nil, e, nil
		case !errors.Is(err, ErrNotFound):
			return nil, Entry{}, err
		}
		l, held, err := c.takeLease(ctx, key, opt, honoured)
		if err != nil {
			return nil, Entry{}, fmt.Errorf("take the build lease of %s in %s: %w", key, c, err)
		}
		if l != nil {
			// Whoever held the lease before may have committed and
			// released between the look-up above and the take: check
			// again, so that a finished build is not done twice.
			if e, err := c.Lookup(ctx, key); err == nil {
				l.Release(context.WithoutCancel(ctx))
				return nil, e, nil
			}
			l.start(ctx)
			return l, Entry{}, nil
		}
		if held.Gen != seen && opt.Waiting != nil {
			opt.Waiting(key, held)
		}
		seen = held.Gen
		if opt.Polled != nil {
			opt.Polled(key, fmt.Sprintf("lease %d held by %s until %s", held.Gen, held.Holder, held.Expires.Format(time.RFC3339)))
		}
		now := opt.Now()
		if !now.Before(deadline) {
			return nil, Entry{}, fmt.Errorf("%w %s (held by %s) after %v", ErrLeaseWait, key, held.Holder, opt.Wait)
		}
		pause := opt.Poll/4 + rand.N(opt.Poll-opt.Poll/4+1)
		if err := opt.Sleep(ctx, min(pause, deadline.Sub(now))); err != nil {
			return nil, Entry{}, err
		}
	}
}

// takeLease takes key's lease if nobody holds a live one that honoured
// accepts: it returns the held lease, or the record of the live lease
// someone else holds.
func (c *Cache) takeLease(ctx context.Context, key cas.Key, opt LeaseOptions, honoured func(LeaseRecord) bool) (*BuildLease, LeaseRecord, error) {
	// Each round either takes the lease, finds a live one, or saw the
	// lease change under it (released, refreshed, taken): a few rounds
	// settle it unless others keep taking and releasing.
	for range 8 {
		gens, err := c.leaseGens(ctx, key)
		if err != nil {
			return nil, LeaseRecord{}, err
		}
		next := uint64(1)
		if len(gens) > 0 {
			top := gens[len(gens)-1]
			rec, err := c.readLease(ctx, key, top)
			switch {
			case backend.IsNotExist(err):
				continue // released or superseded since the listing
			case err == nil && honoured(rec):
				return nil, rec, nil
			case err != nil && !errors.Is(err, errBadLease):
				return nil, LeaseRecord{}, err
			}
			// Expired, unreadable, expiring too far ahead, or honoured
			// for long enough (written by no live rezup): its holder is
			// taken for dead.
			next = top + 1
		}
		l := &BuildLease{c: c, key: key, opt: opt, gen: next}
		err = l.put(ctx, next)
		switch {
		case err == nil:
			l.mine = append(l.mine, next)
			return l, LeaseRecord{}, nil
		case errors.Is(err, backend.ErrExist):
			continue // another node won this generation: look at it
		default:
			return nil, LeaseRecord{}, err
		}
	}
	return nil, LeaseRecord{}, errors.New("the lease keeps changing; try again")
}

var errBadLease = errors.New("unreadable lease")

// leaseGens lists the generations of key's lease objects, in order.
func (c *Cache) leaseGens(ctx context.Context, key cas.Key) ([]uint64, error) {
	prefix := key.String() + "/" + leasePrefix
	var gens []uint64
	err := c.b.List(ctx, prefix, func(o backend.ObjectInfo) error {
		if g, ok := leaseGen(strings.TrimPrefix(o.Name, key.String()+"/")); ok {
			gens = append(gens, g)
		}
		return nil
	})
	sort.Slice(gens, func(i, j int) bool { return gens[i] < gens[j] })
	return gens, err
}

// maxLeaseGen bounds a lease's generation: far more than a farm writes
// in centuries, and far from the wrap of a uint64 (a planted
// lease.18446744073709551615 would make the next generation 0).
const maxLeaseGen = 1 << 40

// leaseGen parses the generation of a lease object's name relative to
// its key ("lease.7"); temp names, generations that do not parse or are
// out of range, and anything else are not leases (see isJunkLease).
func leaseGen(rel string) (uint64, bool) {
	s, ok := strings.CutPrefix(rel, leasePrefix)
	if !ok {
		return 0, false
	}
	g, err := strconv.ParseUint(s, 10, 64)
	if err != nil || g == 0 || g > maxLeaseGen || strconv.FormatUint(g, 10) != s {
		return 0, false
	}
	return g, true
}

func isLeaseName(rel string) bool { _, ok := leaseGen(rel); return ok }

// isJunkLease says whether rel, a name relative to its key, is in the
// lease's name space but no lease ("lease.x", "lease.18446744073709551615"):
// never honoured, and removed with its key or by gc (JunkLeases). Temp
// names of a put in flight are not junk.
func isJunkLease(rel string) bool {
	return strings.HasPrefix(rel, leasePrefix) && !strings.Contains(rel, "/") && !isLeaseName(rel) && !isTempName(rel)
}

// JunkLeases lists what lies in key's lease name space and is no lease
// (see isJunkLease): no rezup writes it, none honours it.
func (c *Cache) JunkLeases(ctx context.Context, key cas.Key) ([]backend.ObjectInfo, error) {
	var out []backend.ObjectInfo
	prefix := key.String() + "/"
	err := c.b.List(ctx, prefix+leasePrefix, func(o backend.ObjectInfo) error {
		if isJunkLease(strings.TrimPrefix(o.Name, prefix)) {
			out = append(out, o)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list the leases of %s in %s: %w", key, c, err)
	}
	return out, nil
}

// RemoveJunkLease deletes name, an object JunkLeases listed for key; a
// name that is not junk (a real lease, anything else) is refused.
func (c *Cache) RemoveJunkLease(ctx context.Context, key cas.Key, name string) error {
	rel, ok := strings.CutPrefix(name, key.String()+"/")
	if !ok || !isJunkLease(rel) {
		return fmt.Errorf("remove %s from %s: not a junk lease of %s", name, c, key)
	}
	if err := c.b.Delete(ctx, name); err != nil && !backend.IsNotExist(err) {
		return fmt.Errorf("remove %s from %s: %w", name, c, err)
	}
	return nil
}

func leaseName(key cas.Key, gen uint64) string {
	return key.String() + "/" + leasePrefix + strconv.FormatUint(gen, 10)
}

// readLease reads generation gen of key's lease, without a transfer slot
// (see put). A record that is not a lease (not JSON, too large, no
// expiry, not a plain file) is an error wrapping errBadLease.
func (c *Cache) readLease(ctx context.Context, key cas.Key, gen uint64) (LeaseRecord, error) {
	b, err := c.readSmall(backend.Unlimited(ctx), leaseName(key, gen))
	switch {
	case errors.Is(err, backend.ErrNotRegular), errors.Is(err, fsx.ErrTooLarge):
		return LeaseRecord{}, fmt.Errorf("%w: %v", errBadLease, err)
	case err != nil:
		return LeaseRecord{}, err
	}
	var rec LeaseRecord
	if err := json.Unmarshal(b, &rec); err != nil || rec.Expires.IsZero() {
		return LeaseRecord{}, fmt.Errorf("%w: %s", errBadLease, leaseName(key, gen))
	}
	rec.Gen = gen
	return rec, nil
}

// put creates generation gen of the lease, expiring a TTL from now. It
// returns an error wrapping backend.ErrExist only when the generation is
// another holder's.
//
// Lease objects skip the transfer limit (backend.Unlimited): a refresh
// that waited for a slot behind uploads longer than the TTL would let the
// lease expire under a live holder.
func (l *BuildLease) put(ctx context.Context, gen uint64) error {
	ctx = backend.Unlimited(ctx)
	now := l.opt.Now().UTC()
	rec := LeaseRecord{Holder: l.opt.Holder, Created: now, Expires: now.Add(l.opt.TTL), TTL: l.opt.TTL.String()}
	b, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	err = l.c.b.Put(ctx, leaseName(l.key, gen), backend.BytesSource(append(b, '\n')))
	if !errors.Is(err, backend.ErrExist) {
		return err
	}
	// A Put tried again after a try that stored the object but lost the
	// answer meets ErrExist on its own object (backend.Retrying): the
	// holder would read its own lease as another's, wait a TTL on itself,
	// or take itself for lost and let a second node build. The record
	// says whose the generation is; the holder's ID is drawn at random
	// per AcquireBuild, so nobody else writes it. Its expiry is not
	// compared: a refresh that failed at one tick and stored its record
	// all the same meets that record at the next tick, and it is still
	// this holder's.
	got, rerr := l.c.readLease(ctx, l.key, gen)
	switch {
	case rerr == nil && got.Holder == l.opt.Holder:
		return nil
	case rerr == nil, backend.IsNotExist(rerr), errors.Is(rerr, errBadLease):
		// Another holder's, or unreadable (which no rezup writes), or
		// gone already (only another holder deletes a generation this
		// one did not take).
		return err
	default:
		// Whose it is stays unknown: not ErrExist, so that neither a
		// take nor a refresh reads it as another holder's.
		return fmt.Errorf("put %s: it exists, and reading it back failed: %w", leaseName(l.key, gen), rerr)
	}
}

// start runs the refresher until Release.
func (l *BuildLease) start(ctx context.Context) {
	ctx, l.stop = context.WithCancel(context.WithoutCancel(ctx))
	l.done = make(chan struct{})
	go func() {
		defer close(l.done)
		t := time.NewTicker(l.opt.TTL / 3)
		defer t.Stop()
		for !l.lost.Load() {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				// A failed refresh is tried again at the next tick: the
				// lease lives a whole TTL, and a refresh that comes too
				// late finds the next generation taken (lost).
				_ = l.refresh(ctx)
			}
		}
	}()
}

// refresh puts the next generation with a new expiry, then deletes the
// one before the generation it replaces: the two newest generations stay,
// so that a listing made during a refresh always sees a live one (an
// object created or deleted while a listing runs may go unseen, one that
// stays throughout may not). The next generation already taken by another
// holder (see put) means a waiter judged this holder dead: the lease is
// lost.
func (l *BuildLease) refresh(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.lost.Load() {
		return nil
	}
	next := l.gen + 1
	err := l.put(ctx, next)
	switch {
	case errors.Is(err, backend.ErrExist):
		l.lost.Store(true)
		return fmt.Errorf("refresh the build lease of %s: %w", l.key, err)
	case err != nil:
		return fmt.Errorf("refresh the build lease of %s: %w", l.key, err)
	}
	l.gen = next
	l.mine = append(l.mine, next)
	var keep []uint64
	for _, g := range l.mine {
		if g+1 >= next {
			keep = append(keep, g)
			continue
		}
		if err := l.c.b.Delete(ctx, leaseName(l.key, g)); err != nil && !backend.IsNotExist(err) {
			keep = append(keep, g) // Release tries again
		}
	}
	l.mine = keep
	return nil
}

// Lost reports whether another node took the lease over, having judged
// this holder dead (its refresh came after the expiry). A holder that
// lost its lease may finish its build, but publishes only if the key is
// still not published then.
func (l *BuildLease) Lost() bool { return l.lost.Load() }

// Generation is the lease generation held now.
func (l *BuildLease) Generation() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.gen
}

// Release stops the refresher and deletes the lease objects, oldest
// first: every generation up to the one held (those of dead holders it
// took over from too), or, when the lease was lost, only those this
// holder wrote. It is called once the entry is committed, or once the
// build failed, so that waiters take over at once; a lease it fails to
// delete expires after its TTL. Calling it again does nothing.
func (l *BuildLease) Release(ctx context.Context) {
	l.once.Do(func() {
		if l.stop != nil {
			l.stop()
			<-l.done
		}
		l.mu.Lock()
		defer l.mu.Unlock()
		gens := l.mine
		if !l.lost.Load() {
			if all, err := l.c.leaseGens(ctx, l.key); err == nil {
				gens = nil
				for _, g := range all {
					if g <= l.gen {
						gens = append(gens, g)
					}
				}
			}
		}
		for _, g := range gens {
			// Best effort: a lease left behind expires, and gc removes
			// it with the key.
			_ = l.c.b.Delete(ctx, leaseName(l.key, g))
		}
		l.mine = nil
	})
}

// Lease returns the record of key's live lease: ok false when there is
// none, or it expired by now.
func (c *Cache) Lease(ctx context.Context, key cas.Key, now time.Time) (rec LeaseRecord, ok bool, err error) {
	gens, err := c.leaseGens(ctx, key)
	if err != nil || len(gens) == 0 {
		return LeaseRecord{}, false, err
	}
	rec, err = c.readLease(ctx, key, gens[len(gens)-1])
	switch {
	case backend.IsNotExist(err), errors.Is(err, errBadLease):
		return LeaseRecord{}, false, nil
	case err != nil:
		return LeaseRecord{}, false, err
	}
	// Waiters honour at most their own TTL or MaxLeaseTTL; a report goes
	// by the TTL the lease states, up to a day, so that a planted lease
	// keeps its key from gc for a day at most.
	ttl, _ := time.ParseDuration(rec.TTL)
	return rec, rec.live(now, min(ttl, 24*time.Hour)), nil
}
