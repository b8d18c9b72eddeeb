package pipeline

import (
	"fmt"
	"slices"

	"github.com/agolpipe/agolpipe/sdk"
	"github.com/hashicorp/hcl/v2"
)

// RunStatuses are the outcomes a notify block's `on` may list.
var RunStatuses = []string{"success", "partial", "failed", "canceled"}

// DefaultNotifyOn is when a notifier fires if `on` is not given: whenever
// a run needs a person's attention.
var DefaultNotifyOn = []string{"partial", "failed", "canceled"}

var notifyMeta = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{{Name: "on"}}}

func (l *loader) decodeNotifiers(blocks []*hcl.Block) {
	seen := map[string]hcl.Range{}
	for _, b := range blocks {
		typ, name := b.Labels[0], b.Labels[1]
		if !l.firstNamed(seen, b, 1, "Duplicate notifier name", "The name %q is already used by the notifier at %s. Give each notify block its own name.") {
			continue
		}
		meta, rest, diags := b.Body.PartialContent(notifyMeta)
		l.diags = append(l.diags, diags...)
		n := &NotifierBlock{On: slices.Clone(DefaultNotifyOn)}
		if on, a, ok := l.getStringList(meta.Attributes, "on"); ok {
			n.On = nil
			for _, s := range on {
				if !slices.Contains(RunStatuses, s) {
					l.diags = append(l.diags, &hcl.Diagnostic{
						Severity: hcl.DiagError,
						Summary:  "Unknown run status",
						Detail:   fmt.Sprintf("%q is not a run status.%s A notifier can fire on %s.", s, didYouMean(s, RunStatuses), quotedList(RunStatuses)),
						Subject:  a.Expr.Range().Ptr(),
					})
					continue
				}
				if !slices.Contains(n.On, s) {
					n.On = append(n.On, s)
				}
			}
		}
		n.Component = *l.decodeComponent(sdk.KindNotifier, typ, name, b, rest, b.LabelRanges[0], notifyMeta)
		l.p.Notifiers = append(l.p.Notifiers, n)
	}
}
