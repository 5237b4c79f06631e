package gc

import (
	"encoding/json"
	"time"
)

// Report is the --json output of `rezup gc`: the plan, and what executing
// it did. Field names and reason values are stable (see README.md).
// Every field is always there: null where it does not apply (no remote
// root, no cache), as in `rezup status --json`.
type Report struct {
	Root              string    `json:"root"`
	Remote            *string   `json:"remote"`
	Cache             *string   `json:"cache"`
	DryRun            bool      `json:"dry_run"`
	Now               time.Time `json:"now"`
	Keep              int       `json:"keep"`
	OlderThanSeconds  int64     `json:"older_than_seconds"`
	CacheGraceSeconds *int64    `json:"cache_grace_seconds"`
	// Remove is what the plan removes; Kept is every survivor it looked
	// at, with why it stays.
	Remove []Item `json:"remove"`
	Kept   []Item `json:"kept"`
	// Removed and Skipped are what execution did: empty in a dry run.
	Removed      []Item   `json:"removed"`
	Skipped      []Item   `json:"skipped"`
	PlannedBytes int64    `json:"planned_bytes"`
	RemovedBytes int64    `json:"removed_bytes"`
	Warnings     []string `json:"warnings"`
	Errors       []string `json:"errors"`
}

// NewReport puts a sweep and its result (nil for a dry run) together, with
// every list present (empty rather than null).
func NewReport(s *Sweep, r *Result, execErr error) Report {
	rep := Report{
		Root: s.Root, DryRun: r == nil,
		Now: s.Now.UTC(), Keep: s.Keep,
		OlderThanSeconds: int64(s.OlderThan / time.Second),
		Remove:           nonNil(s.Remove), Kept: nonNil(s.Kept),
		Removed: []Item{}, Skipped: []Item{},
		PlannedBytes: s.Bytes(),
		Warnings:     append([]string{}, s.Warnings...),
		Errors:       []string{},
	}
	if s.Remote != "" {
		rep.Remote = &s.Remote
	}
	if s.Cache != "" {
		grace := int64(s.CacheGrace / time.Second)
		rep.Cache, rep.CacheGraceSeconds = &s.Cache, &grace
	}
	if r != nil {
		rep.Removed, rep.Skipped, rep.RemovedBytes = nonNil(r.Removed), nonNil(r.Skipped), r.Bytes
	}
	if execErr != nil {
		for _, e := range unjoin(execErr) {
			rep.Errors = append(rep.Errors, e.Error())
		}
	}
	return rep
}

// nonNil copies items with their times in UTC, [] for none.
func nonNil(items []Item) []Item {
	out := make([]Item, len(items))
	for i, it := range items {
		if !it.LastUse.IsZero() {
			it.LastUse = it.LastUse.UTC()
		}
		out[i] = it
	}
	return out
}

func unjoin(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

// MarshalJSON writes every field of an item, null where it does not apply
// (no container, no key, no known last use, a count for a kind that is not
// objects).
func (it Item) MarshalJSON() ([]byte, error) {
	opt := func(s string) *string {
		if s == "" {
			return nil
		}
		return &s
	}
	var count *int
	if it.Kind == KindObjects {
		count = &it.Count
	}
	var lastUse *time.Time
	if !it.LastUse.IsZero() {
		lastUse = &it.LastUse
	}
	return json.Marshal(struct {
		Kind      Kind       `json:"kind"`
		Container *string    `json:"container"`
		Name      string     `json:"name"`
		Key       *string    `json:"key"`
		Bytes     int64      `json:"bytes"`
		Reason    Reason     `json:"reason"`
		Detail    string     `json:"detail"`
		LastUse   *time.Time `json:"last_use"`
		Count     *int       `json:"count"`
	}{it.Kind, opt(it.Container), it.Name, opt(it.Key), it.Bytes, it.Reason, it.Detail, lastUse, count})
}
