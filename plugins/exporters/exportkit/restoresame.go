package exportkit

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"os"
	"path"
	"slices"
	"strings"

	"github.com/agolpipe/agolpipe/sdk"
	"github.com/agolpipe/agolpipe/sdk/arcgisrest"
)

// SameThumbnailAndResources reports whether target item id holds the
// backup's thumbnail and resources, compared by sha256 (a JSON resource as
// the restore would write it, remapped), and when not, which differs. What
// the backup does not hold is not compared: an overwrite would not change
// it either.
func (s *RestoreSession) SameThumbnailAndResources(ctx context.Context, id string, target BackupItem) (bool, string, error) {
	if t := s.ThumbnailArtifact(); t != "" {
		a, _ := s.Req.Artifact(t)
		if target.Thumbnail == "" {
			return false, "the item has no thumbnail", nil
		}
		sum, err := s.targetSHA256(ctx, ItemPath(id, "info", escapePath(target.Thumbnail)))
		if err != nil {
			return false, "", fmt.Errorf("reading the thumbnail of item %s: %w", id, err)
		}
		if !strings.EqualFold(sum, a.SHA256) {
			return false, "its thumbnail differs", nil
		}
	}
	if !s.Has(ResourcesZip) {
		return true, "", nil
	}
	want, err := s.backupResources(ctx)
	if err != nil {
		return false, "", err
	}
	have, err := s.targetResources(ctx, id)
	if err != nil {
		return false, "", fmt.Errorf("listing the resources of item %s: %w", id, err)
	}
	names := make([]string, 0, len(want))
	for n := range want {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		if !slices.Contains(have, n) {
			return false, fmt.Sprintf("its resource %s is missing", n), nil
		}
	}
	for _, n := range have {
		if _, ok := want[n]; !ok {
			return false, fmt.Sprintf("it holds resource %s, which the backup does not", n), nil
		}
	}
	for _, n := range names {
		sum, err := s.targetSHA256(ctx, ItemPath(id, "resources", escapePath(n)))
		if err != nil {
			return false, "", fmt.Errorf("reading resource %s of item %s: %w", n, id, err)
		}
		if sum != want[n] {
			return false, fmt.Sprintf("its resource %s differs", n), nil
		}
	}
	return true, "", nil
}

// targetSHA256 reads a file of the target (retried) and returns its sha256.
func (s *RestoreSession) targetSHA256(ctx context.Context, p string) (string, error) {
	var sum string
	err := s.Retry.Do(ctx, func(ctx context.Context, _ int) error {
		resp, err := s.Host.Portal(ctx, Raw(p, nil))
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		h := sha256.New()
		if _, err := io.Copy(h, resp.Body); err != nil {
			return arcgisrest.ClassifyTransport(err)
		}
		sum = hex.EncodeToString(h.Sum(nil))
		return nil
	})
	return sum, err
}

// targetResources lists the paths of the target item's resources.
func (s *RestoreSession) targetResources(ctx context.Context, id string) ([]string, error) {
	var out []string
	err := s.Retry.Do(ctx, func(ctx context.Context, _ int) error {
		out = out[:0]
		return arcgisrest.ForEachPage(ctx, s.Host.Portal, jsonGet(ItemPath(id, "resources"), url.Values{}), 100,
			func(_ arcgisrest.Page, body []byte) error {
				var pg struct {
					Resources []Resource `json:"resources"`
				}
				if err := json.Unmarshal(body, &pg); err != nil {
					return sdk.Permanent("resources listing of item %s is not the expected JSON: %v", id, err)
				}
				for _, r := range pg.Resources {
					out = append(out, r.Path)
				}
				return nil
			})
	})
	return out, err
}

// backupResources reads resources.zip (spooled: a zip is read from its end)
// and returns each entry's sha256 as RestoreResources would upload it.
func (s *RestoreSession) backupResources(ctx context.Context) (map[string]string, error) {
	rc, err := s.Host.ReadArtifact(ctx, ResourcesZip)
	if err != nil {
		return nil, err
	}
	f, err := os.CreateTemp("", "agolpipe-compare-*.zip")
	if err != nil {
		rc.Close()
		return nil, sdk.Permanent("spooling resources.zip: %v", err)
	}
	defer os.Remove(f.Name())
	defer f.Close()
	n, err := io.Copy(f, rc)
	rc.Close()
	if err != nil {
		return nil, err
	}
	zr, err := zip.NewReader(f, n)
	if err != nil {
		return nil, sdk.Permanent("resources.zip of item %s: %v", s.Req.Item.ID, err)
	}
	out := map[string]string{}
	for _, e := range zr.File {
		clean := path.Clean(e.Name)
		if strings.HasSuffix(e.Name, "/") || e.Name == "" || clean != e.Name || strings.HasPrefix(clean, "../") || clean == ".." || path.IsAbs(clean) || strings.ContainsAny(clean, "\\\x00:") {
			continue // RestoreResources does not write it either
		}
		er, err := e.Open()
		if err != nil {
			return nil, sdk.Permanent("resources.zip entry %s: %v", e.Name, err)
		}
		h := sha256.New()
		if strings.HasSuffix(strings.ToLower(path.Base(clean)), ".json") && len(s.Req.Remap) > 0 {
			b, err := io.ReadAll(io.LimitReader(er, arcgisrest.MaxJSONBytes))
			if err == nil {
				_, err = io.Copy(h, bytes.NewReader(sdk.RemapJSON(b, s.Req.Remap)))
			}
			if err != nil {
				er.Close()
				return nil, sdk.Permanent("resources.zip entry %s: %v", e.Name, err)
			}
		} else if _, err := io.Copy(h, er); err != nil {
			er.Close()
			return nil, sdk.Permanent("resources.zip entry %s: %v", e.Name, err)
		}
		er.Close()
		out[clean] = hex.EncodeToString(h.Sum(nil))
	}
	return out, nil
}
