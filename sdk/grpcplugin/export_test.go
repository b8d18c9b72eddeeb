package grpcplugin

// Test hooks for the data channel, used by the package's external tests.

// BreakAddress makes d offer an address nobody can connect to, until
// restore is called.
func (d *DataChannel) BreakAddress() (restore func()) {
	p := d.listener()
	if p == nil {
		return func() {}
	}
	old := p.addr
	p.addr = p.dir + "/missing"
	return func() { p.addr = old }
}

// HostDials counts the plugin side's broker dials to a host service, to
// prove one connection serves all of a plugin's calls (hostcalls.go).
func HostDials() int64 { return hostDials.Load() }

// ActAsOldHost makes the host side behave as one before uploads by
// artifact name (it neither announces nor reads them) until restore.
func ActAsOldHost() (restore func()) {
	asOldHost.Store(true)
	return func() { asOldHost.Store(false) }
}
