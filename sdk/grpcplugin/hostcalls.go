package grpcplugin

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/agolpipe/agolpipe/sdk"
	plugin "github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
)

// A HostService over the go-plugin broker costs a new connection: a
// listener, a TLS handshake with go-plugin's P-521 certificates on both
// sides and a gRPC server. Served per export or restore call, that was a
// tenth of the CPU of a 500-item restore (bench/restore) and a connection
// set-up before each item's first portal request. A plugin that announces
// ExporterFeatures.host_calls instead gets one HostService for all its
// calls, dialed once, and names the call each request is for in this
// metadata key (the decimal host_call_id of its ExportStart or
// RestoreRequest).
const hostCallKey = "agolpipe-host-call"

// hostCalls is the host side of the shared HostService of one plugin
// process: the sdk.Host of each call under way, by call id.
type hostCalls struct {
	broker *plugin.GRPCBroker

	mu    sync.Mutex
	id    uint32 // broker id of the service, 0 until the first call
	stop  func()
	next  uint64
	calls map[uint64]*hostCall
}

// hostCall is one export's or restore's host. ctx ends when the call
// does: requests of the call still in flight then are canceled, as they
// were when each call had its own server and stopping it cut them off.
type hostCall struct {
	host   sdk.Host
	ctx    context.Context
	cancel context.CancelFunc
}

// open serves host for one call and returns the broker id and call id to
// send to the plugin, and the function that ends the call.
func (c *hostCalls) open(host sdk.Host) (uint32, uint64, func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.id == 0 {
		c.id = c.broker.NextId()
		c.calls = map[uint64]*hostCall{}
		c.stop = serveHost(c.broker, c.id, &HostServer{calls: c})
	}
	c.next++
	id := c.next
	ctx, cancel := context.WithCancel(context.Background())
	c.calls[id] = &hostCall{host: host, ctx: ctx, cancel: cancel}
	return c.id, id, func() {
		c.mu.Lock()
		delete(c.calls, id)
		c.mu.Unlock()
		cancel()
	}
}

func (c *hostCalls) get(id uint64) *hostCall {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.calls[id]
}

// close stops the shared service (the plugin is being closed).
func (c *hostCalls) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stop != nil {
		c.stop()
	}
}

// host is the sdk.Host a request on this HostService is for, and the
// context to serve it in (ended with its call on a shared service).
func (h *HostServer) host(ctx context.Context) (sdk.Host, context.Context, context.CancelFunc, error) {
	if h.calls == nil {
		return h.Impl, ctx, func() {}, nil
	}
	md, _ := metadata.FromIncomingContext(ctx)
	v := md.Get(hostCallKey)
	if len(v) != 1 {
		return nil, nil, nil, sdk.Permanent("plugin broke the protocol: a request to the shared host service names no call (%s metadata)", hostCallKey)
	}
	id, err := strconv.ParseUint(v[0], 10, 64)
	if err != nil {
		return nil, nil, nil, sdk.Permanent("plugin broke the protocol: %s metadata %q is not a call id", hostCallKey, v[0])
	}
	call := h.calls.get(id)
	if call == nil {
		return nil, nil, nil, sdk.Classify(sdk.KindCanceled, errors.New("the export or restore this request belongs to has ended"))
	}
	ctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(call.ctx, cancel)
	return call.host, ctx, func() { stop(); cancel() }, nil
}

// hostDials counts the plugin's broker dials to a host service (tests).
var hostDials atomic.Int64

// hostConns is the plugin side: its connections to shared host services,
// by broker id, each dialed once (with the first call) and kept.
type hostConns struct {
	mu    sync.Mutex
	conns map[uint32]*hostConn
}

type hostConn struct {
	conn *grpc.ClientConn
	err  error
}

// dial returns the connection to service id. A failed dial is kept too:
// the broker gave the service's address once, so dialing again would only
// wait out the broker's timeout for every call.
func (c *hostConns) dial(b *plugin.GRPCBroker, id uint32) (*grpc.ClientConn, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if hc, ok := c.conns[id]; ok {
		return hc.conn, hc.err
	}
	hostDials.Add(1)
	conn, err := b.Dial(id)
	if c.conns == nil {
		c.conns = map[uint32]*hostConn{}
	}
	c.conns[id] = &hostConn{conn: conn, err: err}
	return conn, err
}

func (c *hostConns) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for id, hc := range c.conns {
		if hc.conn != nil {
			_ = hc.conn.Close()
		}
		delete(c.conns, id)
	}
}

// endHost ends a call's host when the call returns; a canceled call's
// plugin may still be cleaning up (deleting temporary export items, or
// what a restore half created) through it for cancelledHostGrace.
func endHost(parent context.Context, stop func()) {
	if parent.Err() != nil {
		time.AfterFunc(cancelledHostGrace, stop)
		return
	}
	stop()
}
