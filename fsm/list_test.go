package fsm

import (
	"math/rand"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/hashicorp/raft"
)

// listing is the comparable shape of a ListResult.
type listing struct {
	Keys      []string
	Prefixes  []string
	Truncated bool
	NextAfter string
}

func toListing(r ListResult) listing {
	l := listing{Prefixes: r.CommonPrefixes, Truncated: r.Truncated, NextAfter: r.NextAfter}
	for _, o := range r.Objects {
		l.Keys = append(l.Keys, o.Key)
	}
	return l
}

// refList is the obvious implementation of ListObjects over a sorted key
// slice: roll every key after After up into its entry, drop entries not
// after After, take the first MaxKeys.
func refList(keys []string, o ListOptions) listing {
	max := o.MaxKeys
	if max <= 0 {
		max = DefaultMaxKeys
	}
	type ent struct {
		name   string
		prefix bool
	}
	seen := map[string]bool{}
	var ents []ent
	for _, k := range keys {
		if !strings.HasPrefix(k, o.Prefix) {
			continue
		}
		e := ent{name: k}
		if o.Delimiter != "" {
			if i := strings.Index(k[len(o.Prefix):], o.Delimiter); i >= 0 {
				e = ent{name: k[:len(o.Prefix)+i+len(o.Delimiter)], prefix: true}
			}
		}
		if e.name <= o.After || seen[e.name] {
			continue
		}
		seen[e.name] = true
		ents = append(ents, e)
	}
	sort.Slice(ents, func(i, j int) bool { return ents[i].name < ents[j].name })
	var l listing
	if len(ents) > max {
		ents, l.Truncated = ents[:max], true
	}
	for _, e := range ents {
		if e.prefix {
			l.Prefixes = append(l.Prefixes, e.name)
		} else {
			l.Keys = append(l.Keys, e.name)
		}
		l.NextAfter = e.name
	}
	return l
}

// fsmWithKeys returns an FSM whose bucket b1 holds exactly keys.
func fsmWithKeys(t testing.TB, keys []string) *testFSM {
	t.Helper()
	f := withBucket(t)
	var logs []*raft.Log
	for _, k := range keys {
		logs = append(logs, entry(t, f.next, CmdPutObject, PutObject{Object: object("b1", k, 1)}))
		f.next++
	}
	for _, r := range applyInBatches(t, f.FSM, logs, 512) {
		if res := r.(Result); res.Err != nil {
			t.Fatalf("put: %v", res.Err)
		}
	}
	return f
}

var listKeys = []string{
	"a", "a/", "a/b", "a/b/c", "a/c", "a//d", "ab", "b", "b/x", "c/",
	"photos/2024/jan.jpg", "photos/2024/feb.jpg", "photos/2025/mar.jpg", "photos/index.html",
	"é/1", "é/2", "日本/語", "z\x00nul", "z\x00nul/x", "zz/", "zz/€",
}

func TestListObjectsCases(t *testing.T) {
	f := fsmWithKeys(t, listKeys)
	cases := []struct {
		name string
		opts ListOptions
		want listing
	}{
		{"all", ListOptions{}, refList(sortedKeys(), ListOptions{})},
		{"prefix", ListOptions{Prefix: "photos/2024/"}, listing{Keys: []string{"photos/2024/feb.jpg", "photos/2024/jan.jpg"}, NextAfter: "photos/2024/jan.jpg"}},
		{"delimiter at root", ListOptions{Delimiter: "/"}, listing{
			Keys:      []string{"a", "ab", "b", "z\x00nul"},
			Prefixes:  []string{"a/", "b/", "c/", "photos/", "z\x00nul/", "zz/", "é/", "日本/"},
			NextAfter: "日本/",
		}},
		{"prefix and delimiter", ListOptions{Prefix: "photos/", Delimiter: "/"}, listing{
			Keys: []string{"photos/index.html"}, Prefixes: []string{"photos/2024/", "photos/2025/"}, NextAfter: "photos/index.html",
		}},
		{"key ending in the delimiter under its own prefix", ListOptions{Prefix: "a/", Delimiter: "/"}, listing{
			Keys: []string{"a/", "a/b", "a/c"}, Prefixes: []string{"a//", "a/b/"}, NextAfter: "a/c",
		}},
		{"after inside a common prefix skips it", ListOptions{Delimiter: "/", After: "a/b"}, listing{
			Keys: []string{"ab", "b", "z\x00nul"}, Prefixes: []string{"b/", "c/", "photos/", "z\x00nul/", "zz/", "é/", "日本/"}, NextAfter: "日本/",
		}},
		{"after a common prefix", ListOptions{Delimiter: "/", After: "photos/", MaxKeys: 2}, listing{
			Keys: []string{"z\x00nul"}, Prefixes: []string{"z\x00nul/"}, Truncated: true, NextAfter: "z\x00nul/",
		}},
		{"max keys counts prefixes", ListOptions{Delimiter: "/", MaxKeys: 3}, listing{
			Keys: []string{"a", "ab"}, Prefixes: []string{"a/"}, Truncated: true, NextAfter: "ab",
		}},
		{"multi-byte delimiter", ListOptions{Delimiter: "20"}, refList(sortedKeys(), ListOptions{Delimiter: "20"})},
		{"unicode prefix", ListOptions{Prefix: "é"}, listing{Keys: []string{"é/1", "é/2"}, NextAfter: "é/2"}},
		{"unicode delimiter", ListOptions{Delimiter: "本"}, refList(sortedKeys(), ListOptions{Delimiter: "本"})},
		{"nul in keys", ListOptions{Prefix: "z\x00", Delimiter: "/"}, listing{Keys: []string{"z\x00nul"}, Prefixes: []string{"z\x00nul/"}, NextAfter: "z\x00nul/"}},
		{"after past everything", ListOptions{After: "\U0010ffff"}, listing{}},
		{"prefix matches nothing", ListOptions{Prefix: "q"}, listing{}},
		{"exact max keys is not truncated", ListOptions{Prefix: "photos/2024/", MaxKeys: 2}, listing{Keys: []string{"photos/2024/feb.jpg", "photos/2024/jan.jpg"}, NextAfter: "photos/2024/jan.jpg"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := f.ListObjects("b1", tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			if g := toListing(got); !reflect.DeepEqual(g, tc.want) {
				t.Fatalf("got  %#v\nwant %#v", g, tc.want)
			}
			if ref := refList(sortedKeys(), tc.opts); !reflect.DeepEqual(ref, tc.want) {
				t.Fatalf("reference disagrees with the case: %#v", ref)
			}
		})
	}
}

func sortedKeys() []string {
	keys := append([]string(nil), listKeys...)
	sort.Strings(keys)
	return keys
}

// TestListObjectsMatchesReference compares listings of random key sets with
// random options against refList, and checks that paging with NextAfter
// walks exactly the full listing.
func TestListObjectsMatchesReference(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	alphabet := []string{"a", "b", "/", "-", "é", "日", "z", "\x00", "~"}
	randStr := func(n int) string {
		var sb strings.Builder
		for i := 0; i < n; i++ {
			sb.WriteString(alphabet[rng.Intn(len(alphabet))])
		}
		return sb.String()
	}
	for round := 0; round < 8; round++ {
		seen := map[string]bool{}
		var keys []string
		for len(keys) < 300 {
			k := randStr(1 + rng.Intn(6))
			if !seen[k] {
				seen[k] = true
				keys = append(keys, k)
			}
		}
		sort.Strings(keys)
		f := fsmWithKeys(t, keys)
		for q := 0; q < 150; q++ {
			opts := ListOptions{
				Prefix:    []string{"", randStr(1), randStr(2), keys[rng.Intn(len(keys))]}[rng.Intn(4)],
				Delimiter: []string{"", "/", "-", "/-", "é", "\x00"}[rng.Intn(6)],
				After:     []string{"", randStr(1 + rng.Intn(4)), keys[rng.Intn(len(keys))]}[rng.Intn(3)],
				MaxKeys:   []int{0, 1, 2, 3, 7, 50}[rng.Intn(6)],
			}
			got, err := f.ListObjects("b1", opts)
			if err != nil {
				t.Fatal(err)
			}
			if g, want := toListing(got), refList(keys, opts); !reflect.DeepEqual(g, want) {
				t.Fatalf("round %d, options %#v:\ngot  %#v\nwant %#v", round, opts, g, want)
			}
			checkPaging(t, f, keys, opts)
		}
	}
}

// checkPaging lists page by page with NextAfter and compares the union with
// one unbounded listing.
func checkPaging(t *testing.T, f *testFSM, keys []string, opts ListOptions) {
	t.Helper()
	full := refList(keys, ListOptions{Prefix: opts.Prefix, Delimiter: opts.Delimiter, After: opts.After, MaxKeys: len(keys) + 1})
	var got listing
	page := opts
	for i := 0; ; i++ {
		if i > len(keys)+1 {
			t.Fatalf("paging %#v does not end", opts)
		}
		r, err := f.ListObjects("b1", page)
		if err != nil {
			t.Fatal(err)
		}
		got.Keys = append(got.Keys, toListing(r).Keys...)
		got.Prefixes = append(got.Prefixes, r.CommonPrefixes...)
		if !r.Truncated {
			break
		}
		page.After = r.NextAfter
	}
	if !reflect.DeepEqual(got.Keys, full.Keys) || !reflect.DeepEqual(got.Prefixes, full.Prefixes) {
		t.Fatalf("paging %#v:\ngot  %#v %#v\nwant %#v %#v", opts, got.Keys, got.Prefixes, full.Keys, full.Prefixes)
	}
}

func TestListObjectsRecords(t *testing.T) {
	f := fsmWithKeys(t, []string{"x"})
	r, err := f.ListObjects("b1", ListOptions{})
	if err != nil || len(r.Objects) != 1 {
		t.Fatalf("ListObjects = %+v, %v", r, err)
	}
	want := object("b1", "x", 1)
	if got := r.Objects[0]; !reflect.DeepEqual(got, want) {
		t.Fatalf("record = %+v\nwant %+v", got, want)
	}
	if _, err := f.ListObjects("nope", ListOptions{}); !isCode(err, CodeNoSuchBucket) {
		t.Fatalf("listing a missing bucket: %v", err)
	}
}

func TestBucketEmpty(t *testing.T) {
	f := fsmWithKeys(t, []string{"x"})
	if empty, err := f.BucketEmpty("b1"); err != nil || empty {
		t.Fatalf("BucketEmpty = %v, %v", empty, err)
	}
	f.mustApply(CmdDeleteObject, DeleteObject{Bucket: "b1", Key: "x"})
	if empty, err := f.BucketEmpty("b1"); err != nil || !empty {
		t.Fatalf("BucketEmpty after delete = %v, %v", empty, err)
	}
	if _, err := f.BucketEmpty("nope"); !isCode(err, CodeNoSuchBucket) {
		t.Fatalf("BucketEmpty(missing) = %v", err)
	}
}
