package verify

import (
	"archive/zip"
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"sort"
	"strconv"
	"strings"

	"github.com/agolpipe/agolpipe/core/catalog"
	"github.com/agolpipe/agolpipe/core/report"
)

// Deep checks look inside an artifact once its bytes have matched the
// manifest, where agolpipe can read the format:
//   - JSON (every JSON document an exporter wrote: item.json, data.json,
//     service and layer definitions, counts.json) parses, read as a
//     stream;
//   - a zip opens and each entry matches its CRC-32 (read in place by
//     ranged reads, never downloaded whole);
//   - a feature service's export that is the simulator's stand-in (a zip
//     of manifest.json and <layer id>.jsonl, see sim/README.md) holds the
//     rows and attachments the exporter counted in the live service at
//     export time (report.Item.Layers), and those it claims itself.
//
// A file item's own file (the file exporter's artifacts) is the user's
// upload, kept as the portal served it: its sha256 is checked, its content
// is not judged (a broken upload is the portal's copy, not the backup's).
// A real File Geodatabase is not read (no reader here): its zip and CRCs
// are checked, its rows are not counted, and the report says so.

// deepError is a finding of a deep check.
type deepError struct {
	problem catalog.Problem
	detail  string
}

func (e *deepError) Error() string { return string(e.problem) + ": " + e.detail }

func invalid(format string, args ...any) error {
	return &deepError{problem: Invalid, detail: fmt.Sprintf(format, args...)}
}

// deepCheck receives the artifact's bytes as they stream (Write) and
// judges them at finish.
type deepCheck struct {
	v    *sinkVerifier
	a    report.Artifact
	kind string
	pw   *io.PipeWriter
	done chan error
}

// A file item's own file is opaque: the file exporter writes it with the
// item's type as its format. What any exporter writes as a description
// (item.json, data.json, resources.zip) has one of these formats.
func opaque(a report.Artifact) bool {
	switch a.Format {
	case "JSON", "Thumbnail", "Metadata", "Resources (zip)":
		return false
	}
	return a.Exporter == "file"
}

func isJSON(a report.Artifact) bool {
	ext := strings.ToLower(path.Ext(a.Path))
	return a.Format == "JSON" || strings.HasPrefix(a.MediaType, "application/json") || ext == ".json" || ext == ".geojson" || ext == ".pjson"
}

func isZip(a report.Artifact) bool {
	return strings.ToLower(path.Ext(a.Path)) == ".zip" || a.MediaType == "application/zip"
}

// startDeep returns the deep check of a, or nil when there is none.
func (v *sinkVerifier) startDeep(ctx context.Context, a report.Artifact) *deepCheck {
	if opaque(a) {
		return nil
	}
	switch {
	case isJSON(a):
		pr, pw := io.Pipe()
		d := &deepCheck{v: v, a: a, kind: "json", pw: pw, done: make(chan error, 1)}
		go func() {
			err := validJSON(pr)
			// Drain what is left so the writer never blocks on a checker
			// that has stopped reading.
			_, _ = io.Copy(io.Discard, pr)
			d.done <- err
		}()
		return d
	case isZip(a):
		return &deepCheck{v: v, a: a, kind: "zip"}
	}
	return nil
}

func (d *deepCheck) Write(p []byte) (int, error) {
	if d.pw != nil {
		return d.pw.Write(p)
	}
	return len(p), nil
}

// finish ends the check; streamErr is how the artifact's stream ended. A
// copy that failed its size or sha256 is not judged further.
func (d *deepCheck) finish(ctx context.Context, streamErr error) error {
	switch d.kind {
	case "json":
		if streamErr != nil {
			d.pw.CloseWithError(streamErr)
			<-d.done
			return nil
		}
		d.pw.Close()
		if err := <-d.done; err != nil {
			return invalid("JSON does not parse: %v", err)
		}
	case "zip":
		if streamErr != nil {
			return nil
		}
		return d.v.checkZip(ctx, d.a)
	}
	return nil
}

// validJSON reads one JSON value token by token (memory flat in its size)
// and refuses anything after it.
func validJSON(r io.Reader) error {
	dec := json.NewDecoder(bufio.NewReaderSize(r, 64<<10))
	depth := 0
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			if depth != 0 {
				return io.ErrUnexpectedEOF
			}
			return errors.New("empty document")
		}
		if err != nil {
			return err
		}
		switch tok {
		case json.Delim('{'), json.Delim('['):
			depth++
		case json.Delim('}'), json.Delim(']'):
			depth--
		}
		if depth == 0 {
			break
		}
	}
	if _, err := dec.Token(); err != io.EOF {
		if err == nil {
			return errors.New("more than one JSON value")
		}
		return err
	}
	return nil
}

// checkZip opens the artifact as a zip in place and reads every entry
// (archive/zip checks each CRC-32), counting a stand-in's rows.
func (v *sinkVerifier) checkZip(ctx context.Context, a report.Artifact) error {
	ra, size, closeRA, err := v.cat.ReaderAt(ctx, v.run, a)
	if errors.Is(err, catalog.ErrNoRandomAccess) {
		v.note(fmt.Sprintf("%s: inside not checked: %v", a.Path, err))
		return nil
	}
	if err != nil {
		return err
	}
	defer closeRA()
	zr, err := zip.NewReader(ra, size)
	if err != nil && !errors.Is(err, zip.ErrInsecurePath) {
		return invalid("zip does not open: %v", err)
	}
	counted := map[string]int64{} // entry name -> lines, for .jsonl entries
	var standIn []byte
	for _, f := range zr.File {
		if err := ctx.Err(); err != nil {
			return err
		}
		if strings.HasSuffix(f.Name, "/") {
			continue
		}
		rc, err := f.Open()
		if err != nil {
			return invalid("zip entry %s: %v", f.Name, err)
		}
		var lines int64
		var buf bytes.Buffer
		w := io.Writer(io.Discard)
		switch {
		case strings.HasSuffix(f.Name, ".jsonl"):
			w = &lineCounter{n: &lines}
		case f.Name == "manifest.json" && f.UncompressedSize64 < 64<<20:
			w = &buf
		}
		_, err = io.Copy(w, rc)
		rc.Close()
		if errors.Is(err, zip.ErrChecksum) {
			return invalid("zip entry %s fails its CRC-32: the export was damaged before it was stored", f.Name)
		}
		if err != nil {
			return invalid("zip entry %s: %v", f.Name, err)
		}
		if strings.HasSuffix(f.Name, ".jsonl") {
			counted[f.Name] = lines
		}
		if f.Name == "manifest.json" {
			standIn = buf.Bytes()
		}
	}
	if standIn == nil || len(counted) == 0 {
		if a.Format == "File Geodatabase" {
			v.note(fmt.Sprintf("%s: a File Geodatabase: zip and CRCs checked; its rows are not counted (agolpipe cannot read the format)", a.Path))
		}
		return nil
	}
	return v.checkCounts(ctx, a, standIn, counted)
}

// lineCounter counts newline-terminated lines (and a last one without).
type lineCounter struct {
	n    *int64
	last byte
}

func (l *lineCounter) Write(p []byte) (int, error) {
	*l.n += int64(bytes.Count(p, []byte{'\n'}))
	if len(p) > 0 {
		l.last = p[len(p)-1]
	}
	return len(p), nil
}

// standInManifest is the part of the simulator's export stand-in's
// manifest.json the check reads (sim/README.md, "Stand-ins").
type standInManifest struct {
	Layers []struct {
		ID             int    `json:"id"`
		Name           string `json:"name"`
		Rows           *int64 `json:"rows"`
		HasAttachments bool   `json:"hasAttachments"`
		Attachments    int64  `json:"attachments"`
	} `json:"layers"`
}

// CountsArtifact is the name of the feature service exporter's record of
// each layer's rows and attachments, counted in the live service right
// after the export (plugins/exporters/featureservice/README.md).
const CountsArtifact = "counts.json"

// exportCounts is counts.json.
type exportCounts struct {
	CountedAt string `json:"counted_at"`
	// Attachments says whether the exported data holds the attachments.
	Attachments bool `json:"attachments_included"`
	Layers      []struct {
		ID          int    `json:"id"`
		Name        string `json:"name"`
		Rows        int64  `json:"rows"`
		Attachments *int64 `json:"attachments"`
	} `json:"layers"`
}

// LayerCount is one layer's or table's rows and attachments (-1: not
// counted, or no attachment table).
type LayerCount struct {
	ID          int
	Name        string
	Rows        int64
	Attachments int64
}

// counts reads the item's counts.json from this sink (through Open, so
// checked like any artifact), once per item; nil when the run has none.
func (v *sinkVerifier) counts(ctx context.Context, itemID string) (*exportCounts, error) {
	v.mu.Lock()
	c, done := v.countsCache[itemID]
	v.mu.Unlock()
	if done {
		return c, nil
	}
	a, ok := v.countsArtifact[itemID]
	if !ok {
		return nil, nil
	}
	rc, err := v.cat.Open(ctx, v.run, a)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	var ec exportCounts
	if err := json.NewDecoder(io.LimitReader(rc, 16<<20)).Decode(&ec); err != nil {
		return nil, err
	}
	if _, err := io.Copy(io.Discard, rc); err != nil { // to the end: the size and sha256 check
		return nil, err
	}
	v.mu.Lock()
	v.countsCache[itemID] = &ec
	v.mu.Unlock()
	return &ec, nil
}

// checkCounts compares the rows and attachments a stand-in holds (its
// .jsonl lines) with what it says of itself and with counts.json.
func (v *sinkVerifier) checkCounts(ctx context.Context, a report.Artifact, standIn []byte, counted map[string]int64) error {
	var m standInManifest
	if err := json.Unmarshal(standIn, &m); err != nil {
		return invalid("manifest.json in the export does not parse: %v", err)
	}
	held := map[int]LayerCount{}
	var ids []int
	for name, n := range counted {
		base := strings.TrimSuffix(name, ".jsonl")
		attach := strings.HasSuffix(base, ".attachments")
		base = strings.TrimSuffix(base, ".attachments")
		id, err := strconv.Atoi(base)
		if err != nil {
			continue
		}
		lc, ok := held[id]
		if !ok {
			lc = LayerCount{ID: id, Attachments: -1}
			ids = append(ids, id)
		}
		if attach {
			lc.Attachments = n
		} else {
			lc.Rows = n
		}
		held[id] = lc
	}
	sort.Ints(ids)
	var problems []string
	reported := map[int]bool{}
	ec, err := v.counts(ctx, a.ItemID)
	if err != nil {
		return err // counts.json itself is damaged: its own finding says how
	}
	if ec == nil {
		v.note(fmt.Sprintf("%s holds %s; the run has no %s (an older agolpipe) to compare with", a.Path, layerText(ids, held), CountsArtifact))
	} else {
		for _, r := range ec.Layers {
			h, ok := held[r.ID]
			switch {
			case !ok && r.Rows > 0:
				problems = append(problems, fmt.Sprintf("layer %d (%s): %d rows at export time, none in the export", r.ID, r.Name, r.Rows))
				reported[r.ID] = true
			case ok && h.Rows != r.Rows:
				problems = append(problems, fmt.Sprintf("layer %d (%s): %d rows at export time, %d in the export", r.ID, r.Name, r.Rows, h.Rows))
				reported[r.ID] = true
			}
			if ok && ec.Attachments && r.Attachments != nil && h.Attachments >= 0 && h.Attachments != *r.Attachments {
				problems = append(problems, fmt.Sprintf("layer %d (%s): %d attachments at export time, %d in the export", r.ID, r.Name, *r.Attachments, h.Attachments))
				reported[r.ID] = true
			}
		}
	}
	// What the export says of itself, for layers not already reported.
	for _, l := range m.Layers {
		h := held[l.ID]
		if reported[l.ID] {
			continue
		}
		if l.Rows != nil && *l.Rows != h.Rows {
			problems = append(problems, fmt.Sprintf("layer %d (%s): the export says %d rows and holds %d", l.ID, l.Name, *l.Rows, h.Rows))
		}
		if l.HasAttachments && h.Attachments >= 0 && l.Attachments != h.Attachments {
			problems = append(problems, fmt.Sprintf("layer %d (%s): the export says %d attachments and holds %d", l.ID, l.Name, l.Attachments, h.Attachments))
		}
	}
	if len(problems) > 0 {
		return &deepError{problem: CountMismatch, detail: strings.Join(problems, "; ")}
	}
	if ec != nil {
		v.note(fmt.Sprintf("%s: rows and attachments match the counts at export time (%s)", a.Path, layerText(ids, held)))
	}
	return nil
}

func layerText(ids []int, held map[int]LayerCount) string {
	var parts []string
	for _, id := range ids {
		h := held[id]
		s := fmt.Sprintf("layer %d: %d rows", id, h.Rows)
		if h.Attachments >= 0 {
			s += fmt.Sprintf(", %d attachments", h.Attachments)
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, "; ")
}

// liveNote shows the live service's counts beside those at export time
// (counts.json): drift since the backup, never an error. Once per item.
func (v *sinkVerifier) liveNote(ctx context.Context, a report.Artifact) {
	v.live.mu.Lock()
	if v.live.done[a.ItemID] {
		v.live.mu.Unlock()
		return
	}
	v.live.done[a.ItemID] = true
	v.live.mu.Unlock()
	ec, err := v.counts(ctx, a.ItemID)
	if err != nil || ec == nil {
		return
	}
	title := v.items[a.ItemID].title
	live, err := v.opts.Live(ctx, a.ItemID)
	if err != nil {
		v.note(fmt.Sprintf("item %s %q: live counts not read: %v", a.ItemID, title, err))
		return
	}
	var parts []string
	for _, r := range ec.Layers {
		l, ok := live[r.ID]
		if !ok {
			parts = append(parts, fmt.Sprintf("layer %d (%s): %d rows at export, no such layer now", r.ID, r.Name, r.Rows))
			continue
		}
		s := fmt.Sprintf("layer %d (%s): %d rows at export, %d now", r.ID, r.Name, r.Rows, l.Rows)
		if r.Attachments != nil && l.Attachments >= 0 {
			s += fmt.Sprintf("; %d attachments at export, %d now", *r.Attachments, l.Attachments)
		}
		parts = append(parts, s)
	}
	v.live.mu.Lock()
	when := ec.CountedAt // backups made before counts.json lost its timestamp
	if when == "" {
		when = "at export"
	}
	v.live.notes = append(v.live.notes, fmt.Sprintf("item %s %q (counted %s): %s", a.ItemID, title, when, strings.Join(parts, "; ")))
	v.live.mu.Unlock()
}
