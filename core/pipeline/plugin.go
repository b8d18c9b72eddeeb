package pipeline

import (
	"encoding/hex"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/hashicorp/hcl/v2"
)

var pluginSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{
		{Name: "path", Required: true},
		{Name: "sha256", Required: true},
	},
}

// decodePlugins decodes the plugin blocks that declare third-party plugin
// binaries. A relative path starts at the pipeline file's folder.
func (l *loader) decodePlugins(blocks []*hcl.Block) {
	seen := map[string]hcl.Range{}
	for _, b := range blocks {
		d := &PluginDecl{Name: b.Labels[0], DeclRange: b.DefRange}
		if !l.firstNamed(seen, b, 0, "Duplicate plugin", "Plugin %q is already declared at %s. Remove one of the two blocks.") {
			continue
		}
		content, diags := b.Body.Content(pluginSchema)
		l.diags = append(l.diags, diags...)
		if p, _, ok := l.getString(content.Attributes, "path"); ok {
			if !filepath.IsAbs(p) {
				p = filepath.Join(l.dir, p)
			}
			d.Path = p
		}
		if s, a, ok := l.getString(content.Attributes, "sha256"); ok {
			s = strings.ToLower(strings.TrimSpace(s))
			if _, err := hex.DecodeString(s); err != nil || len(s) != 64 {
				l.diags = append(l.diags, &hcl.Diagnostic{
					Severity: hcl.DiagError,
					Summary:  "Invalid sha256",
					Detail: fmt.Sprintf("sha256 must be the 64 hexadecimal characters of the plugin binary's SHA-256 checksum (this one has %d characters). Compute it with `sha256sum <binary>` (Linux), `shasum -a 256 <binary>` (macOS) or `Get-FileHash <binary>` (PowerShell) when you install the plugin.",
						len(s)),
					Subject: a.Expr.Range().Ptr(),
				})
			} else {
				d.SHA256 = s
			}
		}
		l.p.Plugins = append(l.p.Plugins, d)
	}
}
