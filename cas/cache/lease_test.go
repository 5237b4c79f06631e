package cache

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rezup/rezup/cas"
	"github.com/rezup/rezup/cas/backend"
	"github.com/rezup/rezup/internal/fsx"
)

// fakeClock is a clock that only moves when a waiter sleeps (or a test
// moves it), and runs a hook at each sleep: the other node's move.
type fakeClock struct {
	mu      sync.Mutex
	t       time.Time
	onSleep func(n int) // n counts sleeps from 1
	sleeps  int
}

func newFakeClock() *fakeClock {
	return &fakeClock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func (c *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	c.Advance(d)
	c.mu.Lock()
	c.sleeps++
	n, hook := c.sleeps, c.onSleep
	c.mu.Unlock()
	if hook != nil {
		hook(n)
	}
	return ctx.Err()
}

func leaseOpts(clk *fakeClock, host string) LeaseOptions {
	// A TTL of an hour keeps the refresher goroutine quiet: tests call
	// refresh themselves, on the fake clock.
	return LeaseOptions{TTL: time.Hour, Poll: 2 * time.Second, Wait: 10 * time.Minute,
		Holder: LeaseHolder{Host: host, PID: 1}, Now: clk.Now, Sleep: clk.Sleep}
}

// leaseFiles lists the lease objects of key in c, sorted.
func leaseFiles(t *testing.T, c *Cache, key cas.Key) []string {
	t.Helper()
	ents, err := os.ReadDir(filepath.Join(c.String(), key.String()))
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		if isLeaseName(e.Name()) {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	return names
}

func mustAcquire(t *testing.T, c *Cache, key cas.Key, opt LeaseOptions) *BuildLease {
	t.Helper()
	l, e, err := c.AcquireBuild(context.Background(), key, opt)
	if err != nil || l == nil {
		t.Fatalf("AcquireBuild = %v, %+v, %v; want a lease", l, e, err)
	}
	t.Cleanup(func() { l.Release(context.Background()) })
	return l
}

func TestLeaseTakeWaitTimeout(t *testing.T) {
	c := newTestCache(t)
	key := cas.KeyOf([]byte("lease"))
	clk := newFakeClock()
	a := mustAcquire(t, c, key, leaseOpts(clk, "a"))
	if a.Generation() != 1 || a.Lost() {
		t.Fatalf("first lease: gen %d, lost %v", a.Generation(), a.Lost())
	}
	if got := leaseFiles(t, c, key); !reflect.DeepEqual(got, []string{"lease.1"}) {
		t.Fatalf("lease objects %q", got)
	}
	rec, live, err := c.Lease(context.Background(), key, clk.Now())
	if err != nil || !live || rec.Holder.Host != "a" || rec.Holder.ID == "" || !rec.Expires.Equal(clk.Now().Add(time.Hour)) || rec.TTL != "1h0m0s" {
		t.Fatalf("Lease = %+v, %v, %v", rec, live, err)
	}

	// b waits on a live lease, says so once, and gives up after Wait.
	var waiting []string
	var polls int
	ob := leaseOpts(clk, "b")
	ob.Waiting = func(k cas.Key, r LeaseRecord) { waiting = append(waiting, r.Holder.String()) }
	ob.Polled = func(cas.Key, string) { polls++ }
	l, e, err := c.AcquireBuild(context.Background(), key, ob)
	if !errors.Is(err, ErrLeaseWait) || l != nil || e.Key != (cas.Key{}) {
		t.Fatalf("waiter: %v, %+v, %v; want ErrLeaseWait", l, e, err)
	}
	if !reflect.DeepEqual(waiting, []string{"a:1"}) || polls < 10*60/2 {
		t.Fatalf("waiting reports %q, %d polls in 10 min of 0.5-2 s pauses", waiting, polls)
	}
	if got := leaseFiles(t, c, key); !reflect.DeepEqual(got, []string{"lease.1"}) {
		t.Fatalf("a waiter changed the lease: %q", got)
	}
}

func TestLeaseExpiredTakeoverAndLost(t *testing.T) {
	c := newTestCache(t)
	key := cas.KeyOf([]byte("dead holder"))
	clk := newFakeClock()
	a := mustAcquire(t, c, key, leaseOpts(clk, "a"))

	// a stops refreshing (dead, or stuck): once its lease expires, the
	// next node takes generation 2.
	clk.Advance(time.Hour + time.Second)
	b := mustAcquire(t, c, key, leaseOpts(clk, "b"))
	if b.Generation() != 2 {
		t.Fatalf("takeover generation %d, want 2", b.Generation())
	}
	// a comes back and refreshes: generation 2 is taken, a lost.
	if err := a.refresh(context.Background()); !errors.Is(err, backend.ErrExist) || !a.Lost() {
		t.Fatalf("refresh of a dead holder: %v, lost %v", err, a.Lost())
	}
	if b.Lost() {
		t.Fatal("the new holder lost its lease")
	}
	// A lost holder's release leaves the new holder's lease alone.
	a.Release(context.Background())
	rec, live, err := c.Lease(context.Background(), key, clk.Now())
	if err != nil || !live || rec.Holder.Host != "b" || rec.Gen != 2 {
		t.Fatalf("after the lost holder's release: %+v, %v, %v", rec, live, err)
	}
	b.Release(context.Background())
	if got := leaseFiles(t, c, key); len(got) != 0 {
		t.Fatalf("released, yet %q", got)
	}
}

func TestLeaseRefreshKeepsTwoGenerations(t *testing.T) {
	c := newTestCache(t)
	key := cas.KeyOf([]byte("refresh"))
	clk := newFakeClock()
	a := mustAcquire(t, c, key, leaseOpts(clk, "a"))
	want := [][]string{
		{"lease.1", "lease.2"},
		{"lease.2", "lease.3"},
		{"lease.3", "lease.4"},
	}
	for i, w := range want {
		clk.Advance(20 * time.Minute)
		if err := a.refresh(context.Background()); err != nil {
			t.Fatal(err)
		}
		if got := leaseFiles(t, c, key); !reflect.DeepEqual(got, w) {
			t.Fatalf("after refresh %d: %q, want %q", i+1, got, w)
		}
	}
	// Refreshed past the first expiry: still live, and others wait.
	clk.Advance(50 * time.Minute)
	if _, live, err := c.Lease(context.Background(), key, clk.Now()); err != nil || !live {
		t.Fatalf("refreshed lease not live: %v, %v", live, err)
	}
	ob := leaseOpts(clk, "b")
	ob.Wait = time.Minute
	if _, _, err := c.AcquireBuild(context.Background(), key, ob); !errors.Is(err, ErrLeaseWait) {
		t.Fatalf("waiter on a refreshed lease: %v", err)
	}
	a.Release(context.Background())
	a.Release(context.Background()) // twice is harmless
	if got := leaseFiles(t, c, key); len(got) != 0 {
		t.Fatalf("released, yet %q", got)
	}
}

func TestLeaseWaiterOutcomes(t *testing.T) {
	tests := []struct {
		name     string
		holder   func(t *testing.T, c *Cache, key cas.Key, a *BuildLease) // at the waiter's 3rd sleep
		wantFrom bool                                                     // the waiter gets the published entry
	}{
		{"published then released", func(t *testing.T, c *Cache, key cas.Key, a *BuildLease) {
			if _, err := c.Publish(context.Background(), testEntry(key), archiveOf(t, []byte("built by a"), 1, 10)); err != nil {
				t.Error(err)
			}
			a.Release(context.Background())
		}, true},
		{"published, lease kept", func(t *testing.T, c *Cache, key cas.Key, a *BuildLease) {
			if _, err := c.Publish(context.Background(), testEntry(key), archiveOf(t, []byte("built by a"), 1, 10)); err != nil {
				t.Error(err)
			}
		}, true},
		{"build failed, released", func(t *testing.T, c *Cache, key cas.Key, a *BuildLease) {
			a.Release(context.Background())
		}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newTestCache(t)
			key := cas.KeyOf([]byte(tt.name))
			clk := newFakeClock()
			a := mustAcquire(t, c, key, leaseOpts(clk, "a"))
			clk.onSleep = func(n int) {
				if n == 3 {
					tt.holder(t, c, key, a)
				}
			}
			l, e, err := c.AcquireBuild(context.Background(), key, leaseOpts(clk, "b"))
			if err != nil {
				t.Fatal(err)
			}
			if tt.wantFrom {
				if l != nil || e.Key != key {
					t.Fatalf("got lease %v, entry %+v; want the entry", l, e)
				}
				return
			}
			if l == nil || l.Generation() != 1 {
				t.Fatalf("got lease %v, entry %+v; want generation 1", l, e)
			}
			l.Release(context.Background())
		})
	}
}

// hookBackend runs a hook before each List: another node's move between
// a waiter's look-up and its take.
type hookBackend struct {
	backend.Backend
	onList func()
}

func (h *hookBackend) List(ctx context.Context, prefix string, fn func(backend.ObjectInfo) error) error {
	if h.onList != nil {
		h.onList()
	}
	return h.Backend.List(ctx, prefix, fn)
}

func TestLeaseTakenAfterPublishReturnsEntry(t *testing.T) {
	base := newTestCache(t)
	hb := &hookBackend{Backend: base.Backend()}
	c := NewCache(hb)
	key := cas.KeyOf([]byte("late"))
	var once sync.Once
	hb.onList = func() {
		once.Do(func() {
			if _, err := base.Publish(context.Background(), testEntry(key), archiveOf(t, []byte("x"), 1, 1)); err != nil {
				t.Error(err)
			}
		})
	}
	l, e, err := c.AcquireBuild(context.Background(), key, leaseOpts(newFakeClock(), "b"))
	if err != nil || l != nil || e.Key != key {
		t.Fatalf("AcquireBuild = %v, %+v, %v; want the entry published before the take", l, e, err)
	}
	if got := leaseFiles(t, base, key); len(got) != 0 {
		t.Fatalf("the lease taken for nothing stays: %q", got)
	}
}

func TestLeaseUnreadableIsTakenOver(t *testing.T) {
	c := newTestCache(t)
	key := cas.KeyOf([]byte("garbage"))
	if err := c.Backend().Put(context.Background(), leaseName(key, 7), backend.BytesSource([]byte("not json"))); err != nil {
		t.Fatal(err)
	}
	// No live lease (gc ages the key as a stale one), and no error.
	if rec, live, err := c.Lease(context.Background(), key, time.Now()); live || err != nil {
		t.Fatalf("Lease of garbage = %+v, %v, %v; want not live", rec, live, err)
	}
	l := mustAcquire(t, c, key, leaseOpts(newFakeClock(), "a"))
	if l.Generation() != 8 {
		t.Fatalf("generation %d, want 8", l.Generation())
	}
}

func TestLeaseKeysRemove(t *testing.T) {
	c := newTestCache(t)
	ctx := context.Background()
	key := cas.KeyOf([]byte("stale lease"))
	clk := newFakeClock()
	l := mustAcquire(t, c, key, leaseOpts(clk, "a"))
	_ = l // never released: a node that died
	keys, err := c.Keys(ctx)
	if err != nil || len(keys) != 1 || keys[0].Key != key || keys[0].Size == 0 {
		t.Fatalf("Keys = %+v, %v; want the key with its lease", keys, err)
	}
	if as, err := c.Archives(ctx, key); err != nil || len(as) != 0 {
		t.Fatalf("Archives = %+v, %v; a lease is no archive", as, err)
	}
	if err := c.Remove(ctx, key); err != nil {
		t.Fatal(err)
	}
	if keys, err := c.Keys(ctx); err != nil || len(keys) != 0 {
		t.Fatalf("after Remove, Keys = %+v, %v", keys, err)
	}
}

// Many nodes at once, on the real clock: exactly one builds, the others
// fetch what it published; also when the first answer to each lease Put
// is lost, so that the node which stored a generation meets ErrExist on
// it.
func TestLeaseOneBuilder(t *testing.T) {
	for _, lossy := range []bool{false, true} {
		t.Run(fmt.Sprintf("answers lost %v", lossy), func(t *testing.T) {
			base := newTestCache(t)
			key := cas.KeyOf([]byte("farm"))
			c := base
			la := &lostAnswers{Backend: base.Backend(), lose: map[string]bool{}}
			if lossy {
				for g := range uint64(4) {
					la.lose[leaseName(key, g+1)] = true
				}
				c = NewCache(retrying(la))
			}
			var builds, fetched atomic.Int32
			var wg sync.WaitGroup
			for i := range 16 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					// Wait is far longer than this farm needs, and far
					// shorter than the TTL a node waiting on itself would
					// wait out.
					opt := LeaseOptions{TTL: time.Minute, Poll: 20 * time.Millisecond, Wait: 5 * time.Second, Holder: LeaseHolder{Host: "node", PID: i + 1}}
					l, e, err := c.AcquireBuild(context.Background(), key, opt)
					switch {
					case err != nil:
						t.Error(err)
					case l != nil:
						builds.Add(1)
						if _, err := c.Publish(context.Background(), testEntry(key), archiveOf(t, []byte("the build"), 1, 9)); err != nil {
							t.Error(err)
						}
						l.Release(context.Background())
					case e.Key == key:
						fetched.Add(1)
					}
				}()
			}
			wg.Wait()
			if builds.Load() != 1 || fetched.Load() != 15 {
				t.Fatalf("%d builds, %d fetched; want 1 and 15", builds.Load(), fetched.Load())
			}
			if as, err := c.Archives(context.Background(), key); err != nil || len(as) != 1 {
				t.Fatalf("archives %+v, %v; want one", as, err)
			}
			if lost := la.Lost(); lossy && len(lost) == 0 {
				t.Fatal("no answer was lost")
			}
		})
	}
}

// The refresher keeps a lease alive on the real clock, long past its
// first expiry.
func TestLeaseRefresher(t *testing.T) {
	c := newTestCache(t)
	key := cas.KeyOf([]byte("long build"))
	// A refresh every 300 ms, with 600 ms to spare: a loaded machine
	// running the race detector delays a tick by a few hundred.
	ttl := 900 * time.Millisecond
	a := mustAcquire(t, c, key, LeaseOptions{TTL: ttl, Holder: LeaseHolder{Host: "a", PID: 1}})
	deadline := time.Now().Add(30 * time.Second)
	for a.Generation() < 5 && time.Now().Before(deadline) {
		// Another node looks on its own real clock: the lease is live
		// whenever it looks.
		l, e, err := c.AcquireBuild(context.Background(), key, LeaseOptions{TTL: ttl, Wait: time.Millisecond, Holder: LeaseHolder{Host: "b", PID: 2}})
		if l != nil {
			l.Release(context.Background())
			t.Fatalf("a waiter took a refreshed lease over at generation %d", l.Generation())
		}
		if !errors.Is(err, ErrLeaseWait) {
			t.Fatalf("a waiter on a refreshed lease got %+v, %v", e, err)
		}
	}
	if a.Generation() < 5 || a.Lost() {
		t.Fatalf("generation %d, lost %v after %v", a.Generation(), a.Lost(), 30*time.Second)
	}
	a.Release(context.Background())
	if got := leaseFiles(t, c, key); len(got) != 0 {
		t.Fatalf("released, yet %q", got)
	}
}

// A holder that took over from a dead one removes the dead one's lease
// objects too when it releases.
func TestLeaseReleaseAfterTakeover(t *testing.T) {
	c := newTestCache(t)
	key := cas.KeyOf([]byte("takeover release"))
	clk := newFakeClock()
	a := mustAcquire(t, c, key, leaseOpts(clk, "a"))
	clk.Advance(20 * time.Minute)
	if err := a.refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	clk.Advance(2 * time.Hour) // a died
	b := mustAcquire(t, c, key, leaseOpts(clk, "b"))
	if got := leaseFiles(t, c, key); !reflect.DeepEqual(got, []string{"lease.1", "lease.2", "lease.3"}) {
		t.Fatalf("lease objects %q", got)
	}
	b.Release(context.Background())
	if got := leaseFiles(t, c, key); len(got) != 0 {
		t.Fatalf("released, yet %q", got)
	}
}

// A lease that says it expires far beyond any TTL a rezup may use (one a
// cache writer planted) is taken over at once, not waited for.
func TestLeasePlantedFarAheadIsTakenOver(t *testing.T) {
	c := newTestCache(t)
	key := cas.KeyOf([]byte("planted"))
	clk := newFakeClock()
	for _, tt := range []struct {
		ahead time.Duration
		live  bool
	}{
		{DefaultLeaseTTL, true},
		{MaxLeaseTTL + leaseSkew, true},
		{MaxLeaseTTL + leaseSkew + time.Second, false},
		{365 * 24 * time.Hour, false},
	} {
		rec := LeaseRecord{Holder: LeaseHolder{Host: "x", PID: 1}, Expires: clk.Now().Add(tt.ahead)}
		if got := rec.live(clk.Now(), DefaultLeaseTTL); got != tt.live {
			t.Errorf("a lease expiring %v ahead: live %v, want %v", tt.ahead, got, tt.live)
		}
	}
	planted := []byte(`{"holder":{"id":"x","host":"evil","pid":1},"expires":"2099-01-01T00:00:00Z","ttl":"8760h"}`)
	if err := c.Backend().Put(context.Background(), leaseName(key, 3), backend.BytesSource(planted)); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := c.Lease(context.Background(), key, clk.Now()); ok || err != nil {
		t.Errorf("Lease says the planted lease holds (%v, %v)", ok, err)
	}
	opt := leaseOpts(clk, "a")
	opt.TTL = DefaultLeaseTTL
	l := mustAcquire(t, c, key, opt)
	if l.Generation() != 4 {
		t.Fatalf("generation %d, want 4: the planted lease was waited for", l.Generation())
	}
	if clk.sleeps != 0 {
		t.Errorf("the waiter slept %d times before taking over", clk.sleeps)
	}
}

// lostAnswers stores each Put of a name in lose, once, then loses the
// answer (a connection reset after the server stored the object), so
// that the retry layer above tries the Put again and meets ErrExist.
type lostAnswers struct {
	backend.Backend
	mu   sync.Mutex
	lose map[string]bool
	lost []string // the names whose answer was lost
}

func (b *lostAnswers) Put(ctx context.Context, name string, src backend.Source) error {
	err := b.Backend.Put(ctx, name, src)
	b.mu.Lock()
	defer b.mu.Unlock()
	if err == nil && b.lose[name] {
		delete(b.lose, name)
		b.lost = append(b.lost, name)
		return fmt.Errorf("put %s: connection reset by peer", name)
	}
	return err
}

func (b *lostAnswers) Lost() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.lost)
}

// retrying wraps b as OpenWith does for retries, without waiting.
func retrying(b backend.Backend) backend.Backend {
	return backend.Retry(b, backend.RetryOptions{Sleep: func(ctx context.Context, _ time.Duration) error { return ctx.Err() }})
}

// A lease Put whose first try stored the generation but whose answer was
// lost is retried, and the retry says "exists": the record is the
// holder's own, so it holds the lease (it neither waits on itself nor
// counts itself lost), and the other node waits on it, then fetches what
// it published. One build, and no generation taken over while the
// holder lives.
func TestLeaseLostPutAnswer(t *testing.T) {
	tests := []struct {
		name    string
		dead    uint64 // an expired generation of a dead holder, when not 0
		refresh bool   // the holder refreshes once after the take
		lose    uint64 // the generation whose first Put loses its answer
	}{
		{"take lease.1", 0, false, 1},
		{"take over lease.4", 3, false, 4},
		{"refresh to lease.2", 0, true, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			base := newTestCache(t)
			key := cas.KeyOf([]byte(tt.name))
			clk := newFakeClock()
			if tt.dead != 0 {
				dead := []byte(`{"holder":{"id":"x","host":"dead","pid":9},"expires":"2026-01-02T03:00:00Z","ttl":"1h0m0s"}`)
				if err := base.Backend().Put(ctx, leaseName(key, tt.dead), backend.BytesSource(dead)); err != nil {
					t.Fatal(err)
				}
			}
			lossy := &lostAnswers{Backend: base.Backend(), lose: map[string]bool{leaseName(key, tt.lose): true}}
			nodeA := NewCache(retrying(lossy))
			nodeB := NewCache(retrying(base.Backend()))

			var builds, fetches int
			a, e, err := nodeA.AcquireBuild(ctx, key, leaseOpts(clk, "a"))
			if err != nil || a == nil {
				t.Fatalf("the first node: %v, %+v, %v; want the lease", a, e, err)
			}
			builds++
			defer a.Release(ctx)
			if tt.refresh {
				clk.Advance(20 * time.Minute)
				if err := a.refresh(ctx); err != nil {
					t.Fatalf("refresh: %v", err)
				}
			}
			if got := lossy.Lost(); !reflect.DeepEqual(got, []string{leaseName(key, tt.lose)}) {
				t.Fatalf("answers lost: %q, want that of generation %d", got, tt.lose)
			}
			if a.Generation() != tt.lose || a.Lost() {
				t.Fatalf("the holder is at generation %d (lost %v), want %d, held", a.Generation(), a.Lost(), tt.lose)
			}

			// The other node waits on the holder's generation; at its
			// third look, the holder has built, published and released.
			var polls []string
			ob := leaseOpts(clk, "b")
			ob.Polled = func(_ cas.Key, what string) { polls = append(polls, what) }
			clk.onSleep = func(n int) {
				if n == 3 {
					if _, err := nodeA.Publish(ctx, testEntry(key), archiveOf(t, []byte("built by a"), 1, 10)); err != nil {
						t.Error(err)
					}
					a.Release(ctx)
				}
			}
			b, e, err := nodeB.AcquireBuild(ctx, key, ob)
			switch {
			case err != nil:
				t.Fatal(err)
			case b != nil:
				builds++
				b.Release(ctx)
			case e.Key == key:
				fetches++
			}
			if builds != 1 || fetches != 1 {
				t.Fatalf("%d builds, %d fetches; want 1 and 1", builds, fetches)
			}
			held := fmt.Sprintf("lease %d held by a:1 ", tt.lose)
			if len(polls) != 3 {
				t.Fatalf("the waiter looked %d times, want 3: %q", len(polls), polls)
			}
			for _, p := range polls {
				if !strings.HasPrefix(p, held) {
					t.Fatalf("the waiter saw %q, want %q…", p, held)
				}
			}
			if got := leaseFiles(t, base, key); len(got) != 0 {
				t.Fatalf("released, yet %q", got)
			}
		})
	}
}

// failingOpens fails every Open with err.
type failingOpens struct {
	backend.Backend
	err error
}

func (f failingOpens) Open(context.Context, string, int64, int64) (io.ReadCloser, error) {
	return nil, f.err
}

// A Put of a generation that exists is the holder's only when the record
// there, read within the size cap, names this holder. Anything else is
// another's (ErrExist); a record that cannot be read at all leaves it
// unknown, an error that is not ErrExist.
func TestLeasePutExistingGeneration(t *testing.T) {
	clk := newFakeClock()
	opt := leaseOpts(clk, "a").withDefaults()
	record := func(h LeaseHolder) []byte {
		b, err := json.Marshal(LeaseRecord{Holder: h, Expires: clk.Now().Add(-time.Minute), TTL: "1h0m0s"})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	other := opt.Holder
	other.ID = "someone-else"
	tests := []struct {
		name     string
		existing []byte
		openErr  error
		want     string // "ours", "exists" or "unknown"
	}{
		// Expired or not, its record says it is this holder's: a
		// refresh that failed at the last tick may have stored it.
		{"this holder's record", record(opt.Holder), nil, "ours"},
		{"another holder on this host and pid", record(other), nil, "exists"},
		{"not JSON", []byte("not json"), nil, "exists"},
		{"no expiry", []byte(`{"holder":` + string(mustJSON(t, opt.Holder)) + `}`), nil, "exists"},
		{"this holder's, beyond the size cap", append(record(opt.Holder), bytes.Repeat([]byte(" "), fsx.MaxJSONMeta)...), nil, "exists"},
		{"not a plain file", record(opt.Holder), backend.ErrNotRegular, "exists"},
		// Only another holder deletes a generation this one did not take.
		{"gone since", record(opt.Holder), fs.ErrNotExist, "exists"},
		{"unreadable", record(opt.Holder), fs.ErrPermission, "unknown"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			base := newTestCache(t)
			key := cas.KeyOf([]byte(tt.name))
			if err := base.Backend().Put(ctx, leaseName(key, 5), backend.BytesSource(tt.existing)); err != nil {
				t.Fatal(err)
			}
			c := base
			if tt.openErr != nil {
				c = NewCache(failingOpens{base.Backend(), tt.openErr})
			}
			l := &BuildLease{c: c, key: key, opt: opt}
			err := l.put(ctx, 5)
			var got string
			switch {
			case err == nil:
				got = "ours"
			case errors.Is(err, backend.ErrExist):
				got = "exists"
			default:
				got = "unknown"
			}
			if got != tt.want {
				t.Fatalf("put over it: %v (%s), want %s", err, got, tt.want)
			}
		})
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// slowUploads holds every archive Put until released, as a large upload
// to a slow file server does; lease objects and the rest go through.
type slowUploads struct {
	backend.Backend
	started chan struct{} // closed when the first upload begins
	release chan struct{} // closed to let uploads finish
	once    sync.Once
}

func (s *slowUploads) Put(ctx context.Context, name string, src backend.Source) error {
	if isArchiveName(name) {
		s.once.Do(func() { close(s.started) })
		select {
		case <-s.release:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return s.Backend.Put(ctx, name, src)
}

// With one transfer slot (REZUP_CACHE_TRANSFERS=1) taken by an upload
// that lasts longer than the TTL, the holder still refreshes its lease
// every TTL/3: lease objects take no slot, neither to put a generation
// nor to read one back (the answer to one refresh is lost, so it meets
// its own record). Another node, looking all the while, always finds the
// lease live and never takes it over.
func TestLeaseRefreshedDuringSlowUpload(t *testing.T) {
	ctx := context.Background()
	base := newTestCache(t)
	key := cas.KeyOf([]byte("leased"))
	slow := &slowUploads{Backend: base.Backend(), started: make(chan struct{}), release: make(chan struct{})}
	var releaseOnce sync.Once
	letGo := func() { releaseOnce.Do(func() { close(slow.release) }) }
	lossy := &lostAnswers{Backend: slow, lose: map[string]bool{leaseName(key, 3): true}}
	noWait := backend.RetryOptions{Sleep: func(ctx context.Context, _ time.Duration) error { return ctx.Err() }}
	node := NewCache(backend.Stack(lossy, backend.StackOptions{Transfers: 1, Retry: noWait}))
	other := NewCache(base.Backend()) // another machine: slots of its own

	ttl := 900 * time.Millisecond
	a := mustAcquire(t, node, key, LeaseOptions{TTL: ttl, Holder: LeaseHolder{Host: "a", PID: 1}})

	// The node uploads another build it made meanwhile.
	built := archiveOf(t, []byte("a large archive"), 1, 15)
	uploaded := make(chan error, 1)
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		_, err := node.Publish(ctx, testEntry(cas.KeyOf([]byte("another build"))), built)
		uploaded <- err
	}()
	// Let the upload finish before the cache's directory is removed.
	t.Cleanup(func() { letGo(); <-finished })
	<-slow.started // the upload holds the one slot now
	start := time.Now()

	// Watch the generations as the other node sees them (the holder's
	// Generation waits for a refresh in flight).
	deadline := start.Add(30 * time.Second)
	var seen uint64
	for seen < 5 && time.Now().Before(deadline) {
		l, e, err := other.AcquireBuild(ctx, key, LeaseOptions{TTL: ttl, Wait: time.Millisecond, Holder: LeaseHolder{Host: "b", PID: 2}})
		if l != nil {
			l.Release(ctx)
			t.Fatalf("after %v of the upload, a waiter took the lease over at generation %d (the holder last seen at %d)", time.Since(start), l.Generation(), seen)
		}
		if !errors.Is(err, ErrLeaseWait) {
			t.Fatalf("after %v of the upload, a waiter got %+v, %v; want the lease live", time.Since(start), e, err)
		}
		rec, live, err := other.Lease(ctx, key, time.Now())
		if err != nil || !live {
			t.Fatalf("after %v of the upload: lease %+v, live %v, %v", time.Since(start), rec, live, err)
		}
		seen = rec.Gen
	}
	if seen < 5 || a.Lost() {
		t.Fatalf("generation %d, lost %v after %v of the upload", seen, a.Lost(), time.Since(start))
	}
	if got := lossy.Lost(); !reflect.DeepEqual(got, []string{leaseName(key, 3)}) {
		t.Fatalf("answers lost: %q, want that of generation 3", got)
	}
	// This node reads lease objects without a slot too.
	look, cancel := context.WithTimeout(ctx, ttl)
	defer cancel()
	if rec, live, err := node.Lease(look, key, time.Now()); err != nil || !live {
		t.Fatalf("this node's look at the lease during the upload: %+v, %v, %v", rec, live, err)
	}
	select {
	case err := <-uploaded:
		t.Fatalf("the upload ended early: %v", err)
	default:
	}
	if d := time.Since(start); d < ttl {
		t.Fatalf("four refreshes in %v, less than the TTL %v", d, ttl)
	}
	letGo()
	if err := <-uploaded; err != nil {
		t.Fatal(err)
	}
}

func TestLeaseOptionsDefaults(t *testing.T) {
	tests := []struct {
		name            string
		in              LeaseOptions
		ttl, poll, wait time.Duration
	}{
		{"zero", LeaseOptions{}, DefaultLeaseTTL, DefaultLeasePoll, DefaultLeaseWait},
		{"given", LeaseOptions{TTL: time.Hour, Poll: 20 * time.Millisecond, Wait: time.Minute}, time.Hour, 20 * time.Millisecond, time.Minute},
		// A waiter looks at least twice a TTL.
		{"poll beyond half the TTL", LeaseOptions{TTL: time.Second}, time.Second, time.Second / 2, DefaultLeaseWait},
		{"negative", LeaseOptions{TTL: -1, Poll: -1, Wait: -1}, DefaultLeaseTTL, DefaultLeasePoll, DefaultLeaseWait},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := tt.in.withDefaults()
			if o.TTL != tt.ttl || o.Poll != tt.poll || o.Wait != tt.wait {
				t.Fatalf("TTL %v, Poll %v, Wait %v; want %v, %v, %v", o.TTL, o.Poll, o.Wait, tt.ttl, tt.poll, tt.wait)
			}
			if o.Holder.ID == "" || o.Holder.Host == "" || o.Holder.PID == 0 || o.Now == nil || o.Sleep == nil {
				t.Fatalf("holder %+v, clock set %v %v", o.Holder, o.Now != nil, o.Sleep != nil)
			}
			if o2 := tt.in.withDefaults(); o2.Holder.ID == o.Holder.ID {
				t.Fatal("two AcquireBuild calls share a holder ID")
			}
		})
	}
}

// A waiter's pauses are jittered between Poll/4 and Poll.
func TestLeaseWaiterPauses(t *testing.T) {
	c := newTestCache(t)
	key := cas.KeyOf([]byte("pauses"))
	clk := newFakeClock()
	mustAcquire(t, c, key, leaseOpts(clk, "a"))
	var pauses []time.Duration
	ob := leaseOpts(clk, "b")
	ob.Sleep = func(ctx context.Context, d time.Duration) error {
		pauses = append(pauses, d)
		return clk.Sleep(ctx, d)
	}
	if _, _, err := c.AcquireBuild(context.Background(), key, ob); !errors.Is(err, ErrLeaseWait) {
		t.Fatal(err)
	}
	lo, hi := ob.Poll/4, ob.Poll
	var short int
	for _, d := range pauses[:len(pauses)-1] { // the last one is cut at the deadline
		if d < lo || d > hi {
			t.Fatalf("a pause of %v, want %v to %v", d, lo, hi)
		}
		if d < ob.Poll/2 {
			short++
		}
	}
	if short == 0 || short == len(pauses)-1 {
		t.Fatalf("%d of %d pauses under Poll/2: not jittered", short, len(pauses)-1)
	}
}

// failingLeaseDeletes fails every Delete of the object named fail.
type failingLeaseDeletes struct {
	backend.Backend
	fail string
}

func (f failingLeaseDeletes) Delete(ctx context.Context, name string) error {
	if name == f.fail {
		return errors.New("disk on fire")
	}
	return f.Backend.Delete(ctx, name)
}

// A generation a refresh failed to delete stays the holder's to delete:
// a holder that lost its lease deletes it on Release, with its other
// ones, and leaves the new holder's alone.
func TestLeaseRefreshFailedDeleteReleased(t *testing.T) {
	ctx := context.Background()
	base := newTestCache(t)
	key := cas.KeyOf([]byte("failed delete"))
	fd := &failingLeaseDeletes{Backend: base.Backend(), fail: leaseName(key, 1)}
	c := NewCache(fd)
	clk := newFakeClock()
	a := mustAcquire(t, c, key, leaseOpts(clk, "a"))
	for range 2 {
		clk.Advance(20 * time.Minute)
		if err := a.refresh(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if got := leaseFiles(t, base, key); !reflect.DeepEqual(got, []string{"lease.1", "lease.2", "lease.3"}) {
		t.Fatalf("lease objects %q", got)
	}
	clk.Advance(2 * time.Hour) // a stalled
	b := mustAcquire(t, base, key, leaseOpts(clk, "b"))
	if err := a.refresh(ctx); !a.Lost() {
		t.Fatalf("refresh after a takeover: %v, not lost", err)
	}
	fd.fail = ""
	a.Release(ctx)
	if got := leaseFiles(t, base, key); !reflect.DeepEqual(got, []string{"lease.4"}) {
		t.Fatalf("after the lost holder's release: %q, want the new holder's only", got)
	}
	b.Release(ctx)
}

// A lease planted just inside the bound of what a live rezup writes (15
// min 50 s ahead) is honoured for at most MaxLeaseTTL from when the waiter
// first saw it; one re-planted as new generations holds a waiter no longer
// than its total wait, after which it builds.
func TestPlantedLeasesDelayAWaiterBoundedly(t *testing.T) {
	put := func(t *testing.T, c *Cache, key cas.Key, gen uint64, expires time.Time) {
		t.Helper()
		b := fmt.Sprintf(`{"holder":{"id":"evil","host":"evil","pid":1},"expires":%q,"ttl":"2m"}`, expires.Format(time.RFC3339Nano))
		if err := c.Backend().Put(context.Background(), leaseName(key, gen), backend.BytesSource([]byte(b))); err != nil {
			t.Fatal(err)
		}
	}
	t.Run("planted once", func(t *testing.T) {
		c := newTestCache(t)
		key := cas.KeyOf([]byte("planted once"))
		clk := newFakeClock()
		put(t, c, key, 1, clk.Now().Add(15*time.Minute+50*time.Second))
		opt := leaseOpts(clk, "a")
		opt.TTL, opt.Wait = DefaultLeaseTTL, time.Hour
		start := clk.Now()
		l := mustAcquire(t, c, key, opt)
		defer l.Release(context.Background())
		if waited := clk.Now().Sub(start); waited < MaxLeaseTTL || waited > MaxLeaseTTL+opt.Poll {
			t.Errorf("waited %v on a planted lease, want MaxLeaseTTL (%v)", waited, MaxLeaseTTL)
		}
		if l.Generation() != 2 {
			t.Errorf("generation %d, want 2", l.Generation())
		}
	})
	t.Run("re-planted", func(t *testing.T) {
		c := newTestCache(t)
		key := cas.KeyOf([]byte("re-planted"))
		clk := newFakeClock()
		gen := uint64(1)
		put(t, c, key, gen, clk.Now().Add(15*time.Minute+50*time.Second))
		clk.onSleep = func(n int) {
			if n%30 == 0 { // every minute or so, a new generation
				gen++
				put(t, c, key, gen, clk.Now().Add(15*time.Minute+50*time.Second))
			}
		}
		opt := leaseOpts(clk, "a")
		opt.TTL = DefaultLeaseTTL // Wait: 10 min
		start := clk.Now()
		_, _, err := c.AcquireBuild(context.Background(), key, opt)
		if !errors.Is(err, ErrLeaseWait) {
			t.Fatalf("acquire against re-planted leases: %v, want ErrLeaseWait", err)
		}
		if waited := clk.Now().Sub(start); waited > opt.Wait+opt.Poll {
			t.Errorf("waited %v, the bound is %v", waited, opt.Wait)
		}
	})
}

// A lease name that is no lease (a generation that does not parse, or one
// at the wrap of a uint64) is ignored by the protocol: one build per key
// goes on from lease.1. gc removes it (JunkLeases, RemoveJunkLease), and
// so does the removal of the key.
func TestJunkLeasesAreIgnored(t *testing.T) {
	c := newTestCache(t)
	key := cas.KeyOf([]byte("junk"))
	clk := newFakeClock()
	for _, name := range []string{"lease.18446744073709551615", "lease.x", "lease.007"} {
		future := `{"holder":{"id":"evil","host":"evil","pid":1},"expires":"` + clk.Now().Add(10*time.Minute).Format(time.RFC3339) + `","ttl":"2m"}`
		if err := c.Backend().Put(context.Background(), key.String()+"/"+name, backend.BytesSource([]byte(future))); err != nil {
			t.Fatal(err)
		}
	}
	a := mustAcquire(t, c, key, leaseOpts(clk, "a"))
	if a.Generation() != 1 || clk.sleeps != 0 {
		t.Fatalf("generation %d after %d waits, want 1 at once", a.Generation(), clk.sleeps)
	}
	// A second node waits on a's lease, not on the junk.
	if _, held, err := c.takeLease(context.Background(), key, leaseOpts(clk, "b"), func(LeaseRecord) bool { return true }); err != nil || held.Gen != 1 {
		t.Fatalf("b sees %+v, %v; want a's lease.1", held, err)
	}
	a.Release(context.Background())
	junk, err := c.JunkLeases(context.Background(), key)
	if err != nil || len(junk) != 3 {
		t.Fatalf("junk leases: %v, %v", junk, err)
	}
	if err := c.RemoveJunkLease(context.Background(), key, junk[0].Name); err != nil {
		t.Fatal(err)
	}
	if err := c.RemoveJunkLease(context.Background(), key, leaseName(key, 1)); err == nil {
		t.Error("a real lease name was removed as junk")
	}
	if err := c.Remove(context.Background(), key); err != nil {
		t.Fatal(err)
	}
	if left := leaseFiles(t, c, key); len(left) != 0 {
		t.Errorf("left after Remove: %v", left)
	}
}
