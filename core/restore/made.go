package restore

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/agolpipe/agolpipe/sdk"
	"github.com/agolpipe/agolpipe/sdk/arcgisrest"
)

// The host sees every portal request a restorer makes: it notes the items
// the answers of addItem, publish and createService name, so that when the
// step fails (the restorer's error, or its plugin crashed before it could
// clean up) what the step made is deleted, not left half made and unnamed
// by the report (a later restore would take it for a changed copy).

// createsItem reports whether a request to path makes a new item.
func createsItem(path string) bool {
	if i := strings.IndexByte(path, '?'); i >= 0 {
		path = path[:i]
	}
	for _, op := range []string{"/addItem", "/publish", "/createService"} {
		if strings.HasSuffix(path, op) {
			return true
		}
	}
	return false
}

// maxMadeAnswer bounds how much of a create answer is kept to read its ids.
const maxMadeAnswer = 64 << 10

// madeCapture passes a create answer on and, at its end, notes the ids it
// names on the step's host.
type madeCapture struct {
	rc     io.ReadCloser
	h      *host
	cancel context.CancelFunc // the request's own context
	buf    []byte
	done   bool
}

func (m *madeCapture) Read(p []byte) (int, error) {
	n, err := m.rc.Read(p)
	if len(m.buf)+n <= maxMadeAnswer {
		m.buf = append(m.buf, p[:n]...)
	}
	if err == io.EOF {
		m.note()
	}
	return n, err
}

// Close reads what is left of the answer first (bounded): a plugin that
// died while the create was under way never read it, and its ids are just
// what is needed then.
func (m *madeCapture) Close() error {
	if !m.done {
		if rest, err := io.ReadAll(io.LimitReader(m.rc, maxMadeAnswer)); err == nil && len(m.buf)+len(rest) <= maxMadeAnswer {
			m.buf = append(m.buf, rest...)
		}
	}
	m.note()
	err := m.rc.Close()
	m.cancel()
	return err
}

func (m *madeCapture) note() {
	if m.done {
		return
	}
	m.done = true
	var a struct {
		ID            string `json:"id"`
		ItemID        string `json:"itemId"`
		ServiceItemID string `json:"serviceItemId"`
		Services      []struct {
			ServiceItemID string `json:"serviceItemId"`
		} `json:"services"`
	}
	if json.Unmarshal(m.buf, &a) != nil {
		return
	}
	ids := []string{a.ID, a.ItemID, a.ServiceItemID}
	for _, s := range a.Services {
		ids = append(ids, s.ServiceItemID)
	}
	m.h.mu.Lock()
	defer m.h.mu.Unlock()
	for _, id := range ids {
		if id != "" && !slices.Contains(m.h.made, id) {
			m.h.made = append(m.h.made, id)
		}
	}
}

// dropMade deletes, after the step failed, every item its restorer made
// that is still there and carries this restore's mark (never anything
// else), and says so in the step's warnings. It runs to its end even when
// ctx is canceled, within a bound.
func (h *host) dropMade(ctx context.Context) {
	h.mu.Lock()
	made := slices.Clone(h.made)
	h.mu.Unlock()
	if len(made) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 4*time.Minute)
	defer cancel()
	o, st := h.o, h.st
	mark := MarkPrefix + o.RestoreID
	for _, id := range made {
		var it struct {
			Owner        string   `json:"owner"`
			Title        string   `json:"title"`
			TypeKeywords []string `json:"typeKeywords"`
		}
		err := readJSON(ctx, o.Target.Do, arcgisrest.JSON("content/items/"+url.PathEscape(id), nil), &it)
		if sdk.IsNotFound(err) {
			continue // the restorer cleaned up after itself
		}
		if err == nil && !slices.Contains(it.TypeKeywords, mark) {
			continue
		}
		if err == nil {
			err = arcgisrest.DeleteItem(ctx, o.Target.Do, it.Owner, id, o.TargetOrg.Mode != "enterprise", arcgisrest.DeleteOptions{})
		}
		if err != nil {
			st.Warnings = append(st.Warnings, fmt.Sprintf("item %s that this step made could not be deleted after its failure (%v): `agolpipe restore undo %s` removes it", id, err, o.RestoreID))
			continue
		}
		st.Warnings = append(st.Warnings, fmt.Sprintf("item %s %q that this step made was deleted after its failure", id, it.Title))
	}
}
