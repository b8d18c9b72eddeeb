package engine

// reverseDependencies fills UsedBy by inverting the forward dependencies
// the source found, across the items of this run: a layer lists the web
// maps and apps of the run that use it.
func (e *engine) reverseDependencies() {
	at := make(map[string]int, len(e.rep.Items))
	for i, it := range e.rep.Items {
		at[it.ID] = i
	}
	for _, it := range e.rep.Items {
		for _, dep := range it.Dependencies {
			if j, ok := at[dep]; ok && dep != it.ID {
				e.rep.Items[j].UsedBy = append(e.rep.Items[j].UsedBy, it.ID)
			}
		}
	}
}
