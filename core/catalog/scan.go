package catalog

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"

	"github.com/agolpipe/agolpipe/core/report"
	"github.com/agolpipe/agolpipe/sdk"
)

// Scan streams r's manifest: it calls item for every item and artifact for
// every artifact (either may be nil) without holding the lists, and returns
// the rest of the manifest. A manifest of a large organization is hundreds
// of megabytes; this reads it in the memory of one item at a time.
func (c *Catalog) Scan(ctx context.Context, r Run, item func(report.Item) error, artifact func(report.Artifact) error) (*report.Run, error) {
	s, ok := c.Sink(r.Sink)
	if !ok {
		return nil, fmt.Errorf("no sink named %q in this pipeline", r.Sink)
	}
	rc, err := s.Sink.Get(ctx, sdk.GetRequest{Path: r.Folder + "/" + report.ManifestFile})
	if err != nil {
		return nil, fmt.Errorf("sink %q: reading %s/%s: %w", r.Sink, r.Folder, report.ManifestFile, err)
	}
	defer rc.Close()
	m, err := scan(io.LimitReader(rc, maxManifestSize), item, artifact)
	if err == nil {
		err = checkHead(m, r.Folder)
	}
	if err != nil {
		return nil, fmt.Errorf("sink %q: %s/%s: %w", r.Sink, r.Folder, report.ManifestFile, err)
	}
	return m, nil
}

// errStop ends a scan early without error.
var errStop = errors.New("stop")

func scan(rd io.Reader, item func(report.Item) error, artifact func(report.Artifact) error) (*report.Run, error) {
	dec := json.NewDecoder(rd)
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, errors.New("not an agolpipe manifest (not a JSON object)")
	}
	head := map[string]json.RawMessage{}
	list := func(key string, each func() error) error {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		if tok == nil {
			return nil // null
		}
		if tok != json.Delim('[') {
			return fmt.Errorf("%s: not a list", key)
		}
		for dec.More() {
			if err := each(); err != nil {
				return err
			}
		}
		_, err = dec.Token()
		return err
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("not an agolpipe manifest (%v)", err)
		}
		key, _ := tok.(string)
		switch key {
		case "items":
			err = list(key, func() error {
				var it report.Item
				if err := dec.Decode(&it); err != nil {
					return err
				}
				if item != nil {
					return item(it)
				}
				return nil
			})
		case "artifacts":
			err = list(key, func() error {
				var a report.Artifact
				if err := dec.Decode(&a); err != nil {
					return err
				}
				if artifact != nil {
					return artifact(a)
				}
				return nil
			})
		default:
			var v json.RawMessage
			if err = dec.Decode(&v); err == nil {
				head[key] = v
			}
		}
		if err != nil {
			if errors.Is(err, errStop) {
				break
			}
			return nil, fmt.Errorf("manifest %s: %w", key, err)
		}
	}
	b, err := json.Marshal(head)
	if err != nil {
		return nil, err
	}
	return report.ReadManifest(bytes.NewReader(b))
}

// ItemRun is one run's record of an item.
type ItemRun struct {
	Run  Run
	Item report.Item
	// Artifacts are the item's artifacts this run's sink holds.
	Artifacts []report.Artifact
	// Change compares the item's artifacts with those of the next older
	// run that holds it: "first" (no older run holds it), "changed" or
	// "same"; empty when this run holds none of its artifacts.
	Change string
}

// Item changes between runs.
const (
	ChangeFirst   = "first"
	ChangeChanged = "changed"
	ChangeSame    = "same"
)

// ItemHistory lists every run of the sink named sink that records the item
// id, newest first, each with the item's artifacts and whether they changed
// since the previous run that held them (same names, same sha256).
func (c *Catalog) ItemHistory(ctx context.Context, sink, id string) ([]ItemRun, error) {
	l, err := c.List(ctx, sink)
	if err != nil {
		return nil, err
	}
	var out []ItemRun
	for _, r := range l.Runs {
		ir := ItemRun{Run: r}
		found := false
		_, err := c.Scan(ctx, r, func(it report.Item) error {
			if it.ID == id {
				ir.Item, found = it, true
			}
			return nil
		}, func(a report.Artifact) error {
			if a.ItemID == id {
				if _, ok := r.Outcome(a); ok {
					ir.Artifacts = append(ir.Artifacts, a)
				}
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		if found {
			out = append(out, ir)
		}
	}
	// Compare each run with the next older one holding the item.
	var older []report.Artifact
	held := false
	for i := len(out) - 1; i >= 0; i-- {
		if len(out[i].Artifacts) == 0 {
			continue
		}
		switch {
		case !held:
			out[i].Change = ChangeFirst
		case sameContent(older, out[i].Artifacts):
			out[i].Change = ChangeSame
		default:
			out[i].Change = ChangeChanged
		}
		older, held = out[i].Artifacts, true
	}
	return out, nil
}

// sameContent reports whether two runs hold the same artifacts of an item:
// the same names with the same sha256 (paths may differ with layouts).
func sameContent(a, b []report.Artifact) bool {
	key := func(as []report.Artifact) []string {
		var k []string
		for _, x := range as {
			k = append(k, x.Name+"\x00"+x.Format+"\x00"+x.SHA256)
		}
		sort.Strings(k)
		return k
	}
	return slices.Equal(key(a), key(b))
}
