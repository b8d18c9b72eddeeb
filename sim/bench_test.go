package sim

import (
	"fmt"
	"io"
	"net/http"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/agolpipe/agolpipe/sim/org"
)

// BenchmarkRequests measures requests per second over loopback for the mix
// of reads a backup makes (search pages, item JSON, user content, feature
// queries, JSON data), with no added latency. Target: >= 2,000 req/s.
//
//	go test ./sim -run '^$' -bench Requests -benchtime 5s
func BenchmarkRequests(b *testing.B) {
	s := startSim(b, Options{Items: 2000})
	admin := signIn(b, s, "admin")
	var ids, maps []string
	var layer, owner string
	s.Org().Mu.RLock()
	for _, it := range s.Org().Items {
		ids = append(ids, it.ID)
		if it.Type == "Web Map" {
			maps = append(maps, it.ID)
		}
		if layer == "" && it.Service != nil && it.Service.Kind == org.FeatureServer && it.Service.Layers[0].Rows > 100 {
			layer = org.AbsURL(s.Origin(), it.URL) + "/0/query"
			owner = it.Owner
		}
	}
	s.Org().Mu.RUnlock()
	root := s.PortalURL() + "/sharing/rest"
	tok := "&token=" + admin.token
	urls := []string{}
	for i := 0; i < 50; i++ {
		urls = append(urls,
			root+"/content/items/"+ids[i*37%len(ids)]+"?f=json"+tok,
			fmt.Sprintf("%s/search?f=json&q=orgid:%s&num=100&start=%d%s", root, s.OrgID(), 1+i*100%1900, tok),
			root+"/content/users/"+owner+"?f=json&num=100"+tok,
			layer+"?f=json&where=1=1&outFields=*&resultRecordCount=100&resultOffset="+fmt.Sprint(i)+tok,
			root+"/content/items/"+maps[i%len(maps)]+"/data?f=json"+tok,
		)
	}
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64, MaxConnsPerHost: 64}}
	var n, fails atomic.Int64
	b.SetParallelism(8)
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := n.Add(1)
			resp, err := hc.Get(urls[int(i)%len(urls)])
			if err != nil {
				fails.Add(1)
				continue
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				fails.Add(1)
			}
		}
	})
	el := time.Since(start)
	b.ReportMetric(float64(n.Load())/el.Seconds(), "req/s")
	if fails.Load() > 0 {
		b.Fatalf("%d failed requests", fails.Load())
	}
	var total time.Duration
	reqs := s.Requests()
	for _, r := range reqs {
		total += r.ServiceTime
	}
	if len(reqs) > 0 {
		b.ReportMetric(float64(total.Microseconds())/float64(len(reqs)), "µs-service/req")
	}
}

// BenchmarkStart100k measures starting a simulator with 100,000 items and
// the heap it holds afterwards. Targets: < 5 s, < 1 GB.
//
//	go test ./sim -run '^$' -bench Start100k -benchtime 3x
func BenchmarkStart100k(b *testing.B) {
	var heap uint64
	for i := 0; i < b.N; i++ {
		s, err := Start(Options{Items: 100000, Seed: uint64(i + 1)})
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		if ms.HeapAlloc > heap {
			heap = ms.HeapAlloc
		}
		// A search over everything must work on the big org too.
		resp, err := http.Get(s.PortalURL() + "/sharing/rest/search?f=json&num=1&q=" + strings.ReplaceAll("type:\"Web Map\"", " ", "%20"))
		if err != nil || resp.StatusCode != 200 {
			b.Fatalf("search on the 100k org: %v", err)
		}
		resp.Body.Close()
		s.Close()
		b.StartTimer()
	}
	b.ReportMetric(float64(heap)/(1<<20), "MB-heap")
}
