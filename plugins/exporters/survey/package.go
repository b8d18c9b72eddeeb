package survey

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path"
	"strings"

	"github.com/agolpipe/agolpipe/plugins/exporters/exportkit"
	"github.com/agolpipe/agolpipe/sdk"
)

// A Survey123 form package (the form item's file) is a zip: the XLSForm
// spreadsheet, the XForm (.xml), the web form (.webform) and the survey's
// .info / .itemInfo JSON, media and scripts. Its text names the feature
// service the form submits to, by URL and item id (the .info's serviceInfo,
// the XLSForm's submission_url). Restored into another org, those must be
// the restored service's: the package's text entries, and the text inside
// the spreadsheet (itself a zip of XML), are rewritten with the remap table
// as every JSON a restore writes is; every other entry is copied as it is,
// compressed bytes and all.

// textEntries are the extensions of package entries that are text naming
// the service; nestedZips those that are zips of such text.
var (
	textEntries = map[string]bool{".json": true, ".info": true, ".iteminfo": true, ".webform": true, ".xml": true,
		".txt": true, ".html": true, ".htm": true, ".csv": true, ".js": true}
	nestedZips = map[string]bool{".xlsx": true}
)

// maxRewrite bounds an entry read whole to be rewritten; a larger one is
// copied as it is (forms' text is kilobytes).
const maxRewrite = 64 << 20

// formPackage is the form file a restore uploads, spooled to a temporary
// file: the backup's, or the backup's with its references rewritten.
type formPackage struct {
	path string // the package as it stands
	// Kept are text entries of the package that could not be read (a
	// compression method Go does not read, a bad CRC), so nothing in them
	// was rewritten: copied as they are.
	Kept []string
	// NotZip: the form file is no zip; it is uploaded as it is.
	NotZip bool
	spool  []string // temporary files to remove
	what   string
	Size   int64
	SHA256 string
	// Rewritten: the package differs from the backup's (references to
	// restored items rewritten).
	Rewritten bool
}

// Source is the package as an upload reads it: from its start, again for
// each attempt of a write.
func (p *formPackage) Source() exportkit.FileSource {
	path, size := p.path, p.Size
	return exportkit.FileSource{Size: size, What: p.what, Open: func(context.Context) (io.ReadCloser, error) {
		f, err := os.Open(path)
		if err != nil {
			return nil, sdk.Permanent("rereading the spooled form package: %v", err)
		}
		return f, nil
	}}
}

// Close removes the temporary files.
func (p *formPackage) Close() {
	for _, n := range p.spool {
		os.Remove(n)
	}
}

// preparePackage reads the run's form file (checked by the host against
// the manifest as it streams) into a temporary file and rewrites the
// backup's ids and URLs in it (s.Req.Remap).
func preparePackage(ctx context.Context, s *exportkit.RestoreSession, file sdk.RestoreArtifact) (*formPackage, error) {
	rc, err := s.Host.ReadArtifact(ctx, file.Name)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	p := &formPackage{what: "form file " + file.Name}
	f, err := os.CreateTemp("", "agolpipe-form-*.zip")
	if err != nil {
		return nil, sdk.Permanent("spooling the form package: %v", err)
	}
	p.spool = append(p.spool, f.Name())
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(f, h), rc)
	if cerr := f.Close(); err == nil && cerr != nil {
		err = sdk.Permanent("spooling the form package: %v", cerr)
	}
	if err != nil {
		p.Close()
		return nil, err
	}
	p.path, p.Size, p.SHA256 = f.Name(), n, hex.EncodeToString(h.Sum(nil))
	if _, err := p.rewrite(s.Req.Remap); err != nil {
		p.Close()
		return nil, sdk.Permanent("form package %s of form %s: %v", file.Name, s.Req.Item.ID, err)
	}
	return p, nil
}

// rewrite applies remap to the package's text entries and reports whether
// that changed it; the package stays as it is when nothing in it changes,
// or when it is no zip (nothing in it can be rewritten safely).
func (p *formPackage) rewrite(remap map[string]string) (bool, error) {
	if len(remap) == 0 {
		return false, nil
	}
	in, err := os.Open(p.path)
	if err != nil {
		return false, fmt.Errorf("rereading the spooled package: %v", err)
	}
	defer in.Close()
	zr, err := zip.NewReader(in, p.Size)
	if err != nil {
		p.NotZip = true
		return false, nil
	}
	out, err := os.CreateTemp("", "agolpipe-form-*.zip")
	if err != nil {
		return false, fmt.Errorf("spooling the rewritten package: %v", err)
	}
	p.spool = append(p.spool, out.Name())
	h := sha256.New()
	cw := &countWriter{w: io.MultiWriter(out, h)}
	changed, err := rewriteZip(zr, cw, sdk.Remapper(remap), "", &p.Kept)
	if cerr := out.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("spooling the rewritten package: %v", cerr)
	}
	if err != nil || !changed {
		return false, err
	}
	p.path, p.Size, p.SHA256, p.Rewritten = out.Name(), cw.n, hex.EncodeToString(h.Sum(nil)), true
	return true, nil
}

// names reports whether the package's text names s (what rewrite would
// replace).
func (p *formPackage) names(s string) (bool, error) {
	in, err := os.Open(p.path)
	if err != nil {
		return false, fmt.Errorf("rereading the spooled package: %v", err)
	}
	defer in.Close()
	zr, err := zip.NewReader(in, p.Size)
	if err != nil {
		return false, nil
	}
	var kept []string
	return rewriteZip(zr, io.Discard, strings.NewReplacer(s, s+"\x00"), "", &kept)
}

// rewriteZip writes zr to w with rm applied to its text entries (and to
// the text inside nested spreadsheets); the other entries are copied raw,
// in the same order, with the same names, times and comments. It reports
// whether any entry changed. The result depends only on the input, so a
// form restored earlier compares equal to the package a restore would
// upload again. A text entry that cannot be read (a compression method Go
// does not read, a bad CRC) is copied as it is and added to kept (its name
// after prefix).
func rewriteZip(zr *zip.Reader, w io.Writer, rm *strings.Replacer, prefix string, kept *[]string) (bool, error) {
	zw := zip.NewWriter(w)
	changed := false
	for _, e := range zr.File {
		ext := strings.ToLower(path.Ext(e.Name))
		if (!textEntries[ext] && !nestedZips[ext]) || e.UncompressedSize64 > maxRewrite || strings.HasSuffix(e.Name, "/") {
			if err := zw.Copy(e); err != nil {
				return false, fmt.Errorf("entry %s: %w", e.Name, err)
			}
			continue
		}
		b, err := readEntry(e)
		if err != nil {
			*kept = append(*kept, prefix+e.Name)
			if err := zw.Copy(e); err != nil {
				return false, fmt.Errorf("entry %s: %w", e.Name, err)
			}
			continue
		}
		nb := b
		if textEntries[ext] {
			nb = []byte(rm.Replace(string(b)))
		} else if inner, err := zip.NewReader(bytes.NewReader(b), int64(len(b))); err == nil {
			var buf bytes.Buffer
			ch, err := rewriteZip(inner, &buf, rm, prefix+e.Name+"!", kept)
			if err != nil {
				return false, fmt.Errorf("entry %s: %w", e.Name, err)
			}
			if ch {
				nb = buf.Bytes()
			}
		}
		if bytes.Equal(nb, b) {
			if err := zw.Copy(e); err != nil {
				return false, fmt.Errorf("entry %s: %w", e.Name, err)
			}
			continue
		}
		changed = true
		hdr := &zip.FileHeader{Name: e.Name, Comment: e.Comment, Method: e.Method, Modified: e.Modified,
			CreatorVersion: e.CreatorVersion, ExternalAttrs: e.ExternalAttrs}
		ew, err := zw.CreateHeader(hdr)
		if err != nil {
			return false, fmt.Errorf("entry %s: %w", e.Name, err)
		}
		if _, err := ew.Write(nb); err != nil {
			return false, fmt.Errorf("entry %s: %w", e.Name, err)
		}
	}
	if err := zw.SetComment(zr.Comment); err != nil {
		return false, err
	}
	return changed, zw.Close()
}

// readEntry reads one zip entry whole (its CRC checked at the end).
func readEntry(e *zip.File) ([]byte, error) {
	r, err := e.Open()
	if err != nil {
		return nil, fmt.Errorf("entry %s: %w", e.Name, err)
	}
	defer r.Close()
	b, err := io.ReadAll(io.LimitReader(r, maxRewrite+1))
	if err != nil {
		return nil, fmt.Errorf("entry %s: %w", e.Name, err)
	}
	return b, nil
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
