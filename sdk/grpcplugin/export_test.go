package grpcplugin

// Test hooks for the data channel, used by the package's external tests.

// SetDataChannelMin sends artifacts of at least n bytes on the data channel
// until restore is called.
func SetDataChannelMin(n int64) (restore func()) {
	old := DataChannelMin
	DataChannelMin = n
	return func() { DataChannelMin = old }
}

// BreakDataAddress makes the host offer a data channel address nobody can
// connect to, until restore is called.
func BreakDataAddress() (restore func()) {
	p := hostDataPort()
	if p == nil {
		return func() {}
	}
	old := p.addr
	p.addr = p.dir + "/missing"
	return func() { p.addr = old }
}
