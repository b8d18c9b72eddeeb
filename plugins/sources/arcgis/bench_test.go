package arcgis

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"testing"

	"github.com/agolpipe/agolpipe/sdk"
	"github.com/agolpipe/agolpipe/sim"
	"github.com/zclconf/go-cty/cty"
)

// BenchmarkScan lists simulated orgs of growing size, deep and quick, and
// reports items per second and the heap in use after the listing (the
// source keeps only ids and sharing per item, so it should grow linearly
// and stay small). AGOLPIPE_BENCH_BIG=1 adds the 100,000-item org.
//
//	go test -run '^$' -bench Scan -benchtime 1x ./plugins/sources/arcgis
func BenchmarkScan(b *testing.B) {
	sizes := []int{1000, 10000}
	if os.Getenv("AGOLPIPE_BENCH_BIG") != "" {
		sizes = append(sizes, 100000)
	}
	for _, n := range sizes {
		srv, err := sim.Start(sim.Options{Items: n, Seed: 7})
		if err != nil {
			b.Fatal(err)
		}
		var admin sim.User
		for _, u := range srv.Users() {
			if u.Kind == "admin" {
				admin = u
			}
		}
		for _, scan := range []string{"deep", "quick"} {
			b.Run(fmt.Sprintf("%s/%d", scan, n), func(b *testing.B) {
				s := New().(*Source)
				if d := s.Configure(context.Background(), sdk.ConfigureRequest{Config: ConfigValue(map[string]cty.Value{
					"url": cty.StringVal(srv.PortalURL()), "auth": auth(admin.Username, admin.Password),
					"scan": cty.StringVal(scan), "dependencies": cty.False,
				})}); d.HasErrors() {
					b.Fatal(d.Err())
				}
				if _, err := s.Connect(context.Background()); err != nil {
					b.Fatal(err)
				}
				b.ResetTimer()
				for range b.N {
					count := 0
					if err := s.ListItems(context.Background(), sdk.ListItemsRequest{}, func(sdk.ListedItem) error { count++; return nil }); err != nil {
						b.Fatal(err)
					}
					if count < n {
						b.Fatalf("listed %d of %d", count, n)
					}
				}
				b.StopTimer()
				var ms runtime.MemStats
				runtime.GC()
				runtime.ReadMemStats(&ms)
				b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "items/s")
				b.ReportMetric(float64(ms.HeapInuse)/(1<<20), "heapMiB")
			})
		}
		srv.Close()
	}
}
