package fsm

import (
	"fmt"
	"math/rand"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

// uploadListing is the comparable shape of a ListUploadsResult.
type uploadListing struct {
	IDs                []string
	Prefixes           []string
	Truncated          bool
	NextKeyMarker      string
	NextUploadIDMarker string
}

func toUploadListing(r ListUploadsResult) uploadListing {
	l := uploadListing{Prefixes: r.CommonPrefixes, Truncated: r.Truncated, NextKeyMarker: r.NextKeyMarker, NextUploadIDMarker: r.NextUploadIDMarker}
	for _, u := range r.Uploads {
		l.IDs = append(l.IDs, u.ID)
	}
	return l
}

func sortUploads(us []Upload) {
	sort.Slice(us, func(i, j int) bool {
		a, b := us[i], us[j]
		if a.Key != b.Key {
			return a.Key < b.Key
		}
		if !a.Initiated.Equal(b.Initiated) {
			return a.Initiated.Before(b.Initiated)
		}
		return a.ID < b.ID
	})
}

// refListUploads is the obvious implementation over uploads sorted by
// (key, initiated, id).
func refListUploads(us []Upload, o ListUploadsOptions) uploadListing {
	max := o.MaxUploads
	if max <= 0 {
		max = DefaultMaxUploads
	}
	start := 0
	if o.KeyMarker != "" {
		start = len(us)
		for i, u := range us {
			if u.Key > o.KeyMarker {
				start = i
				break
			}
		}
		if o.UploadIDMarker != "" {
			for i, u := range us {
				if u.Key == o.KeyMarker && u.ID == o.UploadIDMarker {
					start = i + 1
				}
			}
		}
	}
	var l uploadListing
	n := 0
	seen := map[string]bool{}
	for _, u := range us[start:] {
		if !strings.HasPrefix(u.Key, o.Prefix) {
			continue
		}
		cp := ""
		if o.Delimiter != "" {
			if i := strings.Index(u.Key[len(o.Prefix):], o.Delimiter); i >= 0 {
				cp = u.Key[:len(o.Prefix)+i+len(o.Delimiter)]
			}
		}
		if cp != "" && (cp <= o.KeyMarker || seen[cp]) {
			continue
		}
		if n == max {
			l.Truncated = true
			break
		}
		n++
		if cp != "" {
			seen[cp] = true
			l.Prefixes = append(l.Prefixes, cp)
			l.NextKeyMarker, l.NextUploadIDMarker = cp, ""
			continue
		}
		l.IDs = append(l.IDs, u.ID)
		l.NextKeyMarker, l.NextUploadIDMarker = u.Key, u.ID
	}
	return l
}

// fsmWithUploads returns an FSM whose bucket b1 holds exactly uploads.
func fsmWithUploads(t testing.TB, us []Upload) *testFSM {
	t.Helper()
	f := withBucket(t)
	var logs []*raft.Log
	for _, u := range us {
		logs = append(logs, entry(t, f.next, CmdCreateUpload, CreateUpload{Upload: u}))
		f.next++
	}
	for _, r := range applyInBatches(t, f.FSM, logs, 512) {
		if res := r.(Result); res.Err != nil {
			t.Fatalf("create upload: %v", res.Err)
		}
	}
	return f
}

func TestListUploadsCases(t *testing.T) {
	us := []Upload{
		upload("u3", "b1", "a", t0.Add(2*time.Second)),
		upload("u1", "b1", "a", t0),
		upload("u2", "b1", "a", t0), // same time as u1: ordered by id
		upload("u4", "b1", "dir/x", t0),
		upload("u5", "b1", "dir/y", t0),
		upload("u6", "b1", "dir/sub/z", t0),
		upload("u7", "b1", "e\x00f", t0),
		upload("u8", "b1", "e", t0.Add(-time.Hour)),
		upload("u9", "b1", "é", t0),
	}
	f := fsmWithUploads(t, us)
	cases := []struct {
		name string
		opts ListUploadsOptions
		want uploadListing
	}{
		{"all in (key, initiated, id) order", ListUploadsOptions{}, uploadListing{
			IDs: []string{"u1", "u2", "u3", "u6", "u4", "u5", "u8", "u7", "u9"}, NextKeyMarker: "é", NextUploadIDMarker: "u9"}},
		{"key marker skips the whole key", ListUploadsOptions{KeyMarker: "a"}, uploadListing{
			IDs: []string{"u6", "u4", "u5", "u8", "u7", "u9"}, NextKeyMarker: "é", NextUploadIDMarker: "u9"}},
		{"upload id marker continues within the key", ListUploadsOptions{KeyMarker: "a", UploadIDMarker: "u1", MaxUploads: 2}, uploadListing{
			IDs: []string{"u2", "u3"}, Truncated: true, NextKeyMarker: "a", NextUploadIDMarker: "u3"}},
		{"unknown upload id marker skips the key", ListUploadsOptions{KeyMarker: "a", UploadIDMarker: "gone", MaxUploads: 1}, uploadListing{
			IDs: []string{"u6"}, Truncated: true, NextKeyMarker: "dir/sub/z", NextUploadIDMarker: "u6"}},
		{"upload id marker without key marker is ignored", ListUploadsOptions{UploadIDMarker: "u2", MaxUploads: 1}, uploadListing{
			IDs: []string{"u1"}, Truncated: true, NextKeyMarker: "a", NextUploadIDMarker: "u1"}},
		{"delimiter", ListUploadsOptions{Delimiter: "/"}, uploadListing{
			IDs: []string{"u1", "u2", "u3", "u8", "u7", "u9"}, Prefixes: []string{"dir/"}, NextKeyMarker: "é", NextUploadIDMarker: "u9"}},
		{"prefix and delimiter", ListUploadsOptions{Prefix: "dir/", Delimiter: "/"}, uploadListing{
			IDs: []string{"u4", "u5"}, Prefixes: []string{"dir/sub/"}, NextKeyMarker: "dir/y", NextUploadIDMarker: "u5"}},
		{"page ending in a prefix", ListUploadsOptions{Delimiter: "/", KeyMarker: "a", MaxUploads: 1}, uploadListing{
			Prefixes: []string{"dir/"}, Truncated: true, NextKeyMarker: "dir/"}},
		{"key marker inside a prefix", ListUploadsOptions{Delimiter: "/", KeyMarker: "dir/sub/z"}, uploadListing{
			IDs: []string{"u8", "u7", "u9"}, NextKeyMarker: "é", NextUploadIDMarker: "u9"}},
		{"nul byte in key sorts after its prefix", ListUploadsOptions{Prefix: "e"}, uploadListing{
			IDs: []string{"u8", "u7"}, NextKeyMarker: "e\x00f", NextUploadIDMarker: "u7"}},
	}
	sorted := append([]Upload(nil), us...)
	sortUploads(sorted)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := f.ListUploads("b1", tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			if g := toUploadListing(got); !reflect.DeepEqual(g, tc.want) {
				t.Fatalf("got  %#v\nwant %#v", g, tc.want)
			}
			if ref := refListUploads(sorted, tc.opts); !reflect.DeepEqual(ref, tc.want) {
				t.Fatalf("reference disagrees with the case: %#v", ref)
			}
		})
	}
	if _, err := f.ListUploads("nope", ListUploadsOptions{}); !isCode(err, CodeNoSuchBucket) {
		t.Fatalf("ListUploads of a missing bucket: %v", err)
	}
}

func TestListUploadsMatchesReference(t *testing.T) {
	rng := rand.New(rand.NewSource(2))
	alphabet := []string{"a", "b", "/", "é", "\x00"}
	randStr := func(n int) string {
		var sb strings.Builder
		for i := 0; i < n; i++ {
			sb.WriteString(alphabet[rng.Intn(len(alphabet))])
		}
		return sb.String()
	}
	for round := 0; round < 5; round++ {
		var us []Upload
		for i := 0; i < 200; i++ {
			at := t0.Add(time.Duration(rng.Intn(5)) * time.Second)
			if rng.Intn(4) == 0 {
				at = t0.Add(-time.Duration(rng.Intn(1e9)) * time.Hour) // before 1970 too
			}
			us = append(us, upload(fmt.Sprintf("id%03d", rng.Intn(1000)*1000+i), "b1", randStr(1+rng.Intn(4)), at))
		}
		f := fsmWithUploads(t, us)
		sortUploads(us)
		for q := 0; q < 150; q++ {
			marker := us[rng.Intn(len(us))]
			opts := ListUploadsOptions{
				Prefix:     []string{"", randStr(1), randStr(2)}[rng.Intn(3)],
				Delimiter:  []string{"", "/", "é", "\x00"}[rng.Intn(4)],
				MaxUploads: []int{0, 1, 2, 5, 30}[rng.Intn(5)],
			}
			switch rng.Intn(4) {
			case 1:
				opts.KeyMarker = marker.Key
			case 2:
				opts.KeyMarker, opts.UploadIDMarker = marker.Key, marker.ID
			case 3:
				opts.KeyMarker = randStr(1 + rng.Intn(3))
			}
			got, err := f.ListUploads("b1", opts)
			if err != nil {
				t.Fatal(err)
			}
			if g, want := toUploadListing(got), refListUploads(us, opts); !reflect.DeepEqual(g, want) {
				t.Fatalf("round %d, options %#v:\ngot  %#v\nwant %#v", round, opts, g, want)
			}
			checkUploadPaging(t, f, us, opts)
		}
	}
}

func checkUploadPaging(t *testing.T, f *testFSM, us []Upload, opts ListUploadsOptions) {
	t.Helper()
	all := opts
	all.MaxUploads = len(us) + 1
	full := refListUploads(us, all)
	var got uploadListing
	page := opts
	for i := 0; ; i++ {
		if i > len(us)+1 {
			t.Fatalf("paging %#v does not end", opts)
		}
		r, err := f.ListUploads("b1", page)
		if err != nil {
			t.Fatal(err)
		}
		l := toUploadListing(r)
		got.IDs = append(got.IDs, l.IDs...)
		got.Prefixes = append(got.Prefixes, l.Prefixes...)
		if !r.Truncated {
			break
		}
		page.KeyMarker, page.UploadIDMarker = r.NextKeyMarker, r.NextUploadIDMarker
	}
	if !reflect.DeepEqual(got.IDs, full.IDs) || !reflect.DeepEqual(got.Prefixes, full.Prefixes) {
		t.Fatalf("paging %#v:\ngot  %#v %#v\nwant %#v %#v", opts, got.IDs, got.Prefixes, full.IDs, full.Prefixes)
	}
}

func TestAllUploads(t *testing.T) {
	var us []Upload
	for i := 0; i < 2*allUploadsPage+3; i++ {
		us = append(us, upload(fmt.Sprintf("u%04d", i), "b1", fmt.Sprintf("k%d", i%10), t0))
	}
	f := fsmWithUploads(t, us)
	var seen []string
	err := f.AllUploads(func(u Upload) bool {
		// fn may read the FSM: no transaction is open around it.
		if _, ok, err := f.Upload(u.ID); err != nil || !ok {
			t.Errorf("Upload(%s) inside AllUploads: %v, %v", u.ID, ok, err)
		}
		seen = append(seen, u.ID)
		return true
	})
	if err != nil || len(seen) != len(us) {
		t.Fatalf("AllUploads saw %d of %d: %v", len(seen), len(us), err)
	}
	for i, id := range seen {
		if id != us[i].ID {
			t.Fatalf("upload %d is %s, want %s", i, id, us[i].ID)
		}
	}
	n := 0
	if err := f.AllUploads(func(Upload) bool { n++; return n < 5 }); err != nil || n != 5 {
		t.Fatalf("stopping early: n=%d, %v", n, err)
	}
}

func TestParts(t *testing.T) {
	f := fsmWithUploads(t, []Upload{upload("u1", "b1", "k", t0), upload("u10", "b1", "k", t0)})
	for _, n := range []int{3, 1, 10000, 2, 7} {
		f.mustApply(CmdPutPart, PutPart{Part: Part{UploadID: "u1", Number: n, Size: int64(n), ModTime: t0}})
	}
	f.mustApply(CmdPutPart, PutPart{Part: Part{UploadID: "u10", Number: 4}})
	cases := []struct {
		marker, max int
		want        []int
		truncated   bool
	}{
		{0, 0, []int{1, 2, 3, 7, 10000}, false},
		{-5, 0, []int{1, 2, 3, 7, 10000}, false},
		{0, 2, []int{1, 2}, true},
		{2, 2, []int{3, 7}, true},
		{7, 2, []int{10000}, false},
		{3, 2, []int{7, 10000}, false},
		{10000, 0, nil, false},
	}
	for _, tc := range cases {
		parts, truncated, err := f.Parts("u1", tc.marker, tc.max)
		if err != nil {
			t.Fatal(err)
		}
		var got []int
		for _, p := range parts {
			got = append(got, p.Number)
			if p.UploadID != "u1" || p.Size != int64(p.Number) || !p.ModTime.Equal(t0) {
				t.Fatalf("part %+v", p)
			}
		}
		if !reflect.DeepEqual(got, tc.want) || truncated != tc.truncated {
			t.Fatalf("Parts(marker %d, max %d) = %v truncated %v, want %v %v", tc.marker, tc.max, got, truncated, tc.want, tc.truncated)
		}
	}
	if _, _, err := f.Parts("nope", 0, 0); !isCode(err, CodeNoSuchUpload) {
		t.Fatalf("Parts of an unknown upload: %v", err)
	}
}
