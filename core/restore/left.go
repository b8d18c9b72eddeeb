package restore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"github.com/agolpipe/agolpipe/sdk"
	"github.com/agolpipe/agolpipe/sdk/arcgisrest"
)

// What a restore or replace left on each item it changed or created, so
// that undo can tell an item someone edited since (today's work, which
// undo must not silently throw away) from one still as the restore left
// it. The item's modified stamp is read back right after the item's step;
// where the restore wrote the item's data itself (replace), its sha256 is
// kept too, which catches an edit that left the stamp alone. A hosted
// feature service's rows are edited without the item's stamp moving: its
// editingInfo.lastEditDate is recorded and compared as well.

// ItemState is what restore.json records of an item as a step left it.
type ItemState struct {
	// Modified is the portal's modified stamp of the item (ms since the
	// epoch, as the portal gives it) read back after the step.
	Modified int64 `json:"modified"`
	// DataSHA256 is the sha256 of the data the step wrote, when it wrote
	// the item's data itself.
	DataSHA256 string `json:"data_sha256,omitempty"`
	// ServiceLastEdit is a feature service's editingInfo.lastEditDate
	// (rows or layer definitions last edited), when it has one.
	ServiceLastEdit int64 `json:"service_last_edit,omitempty"`
}

// serviceLastEdit reads a feature service's editingInfo.lastEditDate; 0
// when the item is no feature service or the service does not say.
func serviceLastEdit(ctx context.Context, src sdk.Source, it sdk.Item) (int64, error) {
	if it.Type != "Feature Service" || !strings.Contains(strings.ToLower(it.URL), "/featureserver") {
		return 0, nil
	}
	var svc struct {
		EditingInfo struct {
			LastEditDate int64 `json:"lastEditDate"`
		} `json:"editingInfo"`
	}
	if err := readJSON(ctx, src.Do, arcgisrest.JSON(strings.TrimRight(it.URL, "/"), nil), &svc); err != nil {
		return 0, fmt.Errorf("reading the service's last edit: %w", err)
	}
	return svc.EditingInfo.LastEditDate, nil
}

// readLeft reads item id back from the target: its state as the step
// left it. data, when not nil, is what the step wrote as the item's data.
// A failed read is a warning for the item: undo then cannot check it and
// says so.
func readLeft(ctx context.Context, src sdk.Source, id string, data []byte) (ItemState, string) {
	it, err := targetItem(ctx, src, id)
	if err != nil {
		return ItemState{}, fmt.Sprintf("its state after the change could not be read back (%v): undo cannot tell whether it changed since", err)
	}
	st := ItemState{Modified: it.Modified.UnixMilli()}
	if data != nil {
		st.DataSHA256 = sha256Hex(data)
	}
	if st.ServiceLastEdit, err = serviceLastEdit(ctx, src, it); err != nil {
		return ItemState{}, fmt.Sprintf("its state after the change could not be read back (%v): undo cannot tell whether it changed since", err)
	}
	return st, ""
}

// recordLeft records what a step left on item id in rep.Left (the
// caller holds whatever guards rep).
func recordLeft(ctx context.Context, src sdk.Source, rep *Report, id string, data []byte) string {
	st, w := readLeft(ctx, src, id, data)
	if w != "" {
		return w
	}
	if rep.Left == nil {
		rep.Left = map[string]ItemState{}
	}
	rep.Left[id] = st
	return ""
}

// leftStep records what an applied restore step left on its item: an
// item created or overwritten, or one whose overwrite failed after its
// safety copy was taken (undo puts that copy back).
// Items run in parallel: a.mu guards the report.
func leftStep(ctx context.Context, a *applier, st *Step) {
	id := ""
	switch st.Outcome {
	case Restored:
		id = st.NewItemID
	case Overwritten:
		id = st.TargetItemID
		if id == "" {
			id = st.NewItemID
		}
	case Failed:
		a.mu.Lock()
		for _, sc := range a.rep.Safety {
			if sc.ItemID == st.TargetItemID && st.TargetItemID != "" {
				id = st.TargetItemID
			}
		}
		a.mu.Unlock()
	}
	if id == "" || ctx.Err() != nil {
		return
	}
	left, w := readLeft(ctx, a.o.Target, id, nil)
	if w != "" {
		st.Warnings = append(st.Warnings, w)
		return
	}
	a.mu.Lock()
	if a.rep.Left == nil {
		a.rep.Left = map[string]ItemState{}
	}
	a.rep.Left[id] = left
	a.mu.Unlock()
}

func sha256Hex(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// changedSince compares the item as it is now with what the restore left
// on it. It returns "" when unchanged, else what changed; known reports
// whether restore.json recorded the item's state at all.
func changedSince(ctx context.Context, src sdk.Source, rep *Report, it sdk.Item) (what string, known bool, err error) {
	left, ok := rep.Left[it.ID]
	if !ok {
		return "", false, nil
	}
	now := it.Modified.UnixMilli()
	if now != left.Modified {
		return fmt.Sprintf("modified %s, after the change left it at %s", fmtMillis(now), fmtMillis(left.Modified)), true, nil
	}
	if left.ServiceLastEdit != 0 {
		last, err := serviceLastEdit(ctx, src, it)
		if err != nil {
			return "", true, err
		}
		if last != left.ServiceLastEdit {
			return fmt.Sprintf("its rows or layers edited %s, after the change left them at %s", fmtMillis(last), fmtMillis(left.ServiceLastEdit)), true, nil
		}
	}
	if left.DataSHA256 != "" {
		data, _, err := readData(ctx, src, it.ID)
		if err != nil {
			return "", true, fmt.Errorf("reading its data to compare: %w", err)
		}
		if sha256Hex(data) != left.DataSHA256 {
			return fmt.Sprintf("its data differs from what the change wrote (modified %s)", fmtMillis(now)), true, nil
		}
	}
	return "", true, nil
}

func fmtMillis(ms int64) string {
	return time.UnixMilli(ms).UTC().Format("2006-01-02 15:04:05 UTC")
}
