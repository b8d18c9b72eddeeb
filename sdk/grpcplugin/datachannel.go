package grpcplugin

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/agolpipe/agolpipe/sdk"
)

// The data channel carries an artifact's bytes between the host and a
// plugin on a local stream socket instead of as chunk messages on the gRPC
// stream. The gRPC stream still carries everything else (the artifact's
// description, the trailer with its size, errors, acks), so the protocol's
// guarantees stay where they were: the receiver sees end of body only when
// the trailer matched what arrived.
//
// Why: every byte of a chunk message is framed, encrypted and decrypted by
// the AutoMTLS connection and written 16 KiB per system call; on a
// two-core machine that made the plugin road CPU-bound at a fraction of
// disk speed (bench/stream). A Unix-domain socket moves the same bytes with
// one kernel copy per side.
//
// Why it is safe: the host listens in a directory that only its user can
// enter, and a connection is accepted for a transfer only when it first
// presents that transfer's 32-byte random token, which travelled over the
// mTLS gRPC stream. The bytes never leave the machine.
//
// The host offers the channel (ExportStart.data_address, and
// PutHeader.data_address when the sink announced SinkFeatures.data_channel);
// the plugin always connects. AGOLPIPE_DATA_CHANNEL=off makes the host offer
// none, so every byte goes through gRPC as before.

const (
	dataTokenSize = 32
	// dataHelloTimeout bounds how long a connection may take to present its
	// token.
	dataHelloTimeout = 10 * time.Second
	// dataClaimTimeout bounds how long the host waits for the plugin's
	// connection once the token is known on both sides. The plugin connects
	// right away (before it announces the token, on the exporter hop), so
	// this is only ever reached when something is badly wrong.
	dataClaimTimeout = 30 * time.Second
	// maxEarlyConns bounds connections that arrived before their token was
	// claimed.
	maxEarlyConns = 256
)

// DataChannelMin is the smallest artifact (by announced size) worth a data
// channel; smaller ones go in chunks. An artifact of unknown size (-1)
// always takes the channel. The sender of each hop decides: the host for
// a sink's Put (its DataChannel's minimum, this by default), the exporter
// plugin for its artifacts (always this).
const DataChannelMin int64 = 1 << 20

// DataChannelEnv is the environment variable that switches the data channel
// off ("off"): every artifact byte then travels in gRPC chunk messages.
const DataChannelEnv = "AGOLPIPE_DATA_CHANNEL"

// DataChannel is the data channel a host offers the plugins it launches.
// The host creates one (NewDataChannel), passes it to Launch for every
// plugin (LaunchOpts.DataChannel: the exporter and sink client adapters
// offer it), and closes it when it ends. It listens on first use, so a
// host that never moves an artifact never opens a socket. A nil
// *DataChannel offers none: every byte goes in gRPC chunks. It is safe for
// concurrent use.
type DataChannel struct {
	// min is the smallest Put (announced size) sent on the channel.
	min int64

	mu   sync.Mutex
	port *dataPort
	// tried: the channel tried to listen once; a failure is not retried
	// (chunks over gRPC work everywhere), err says why it failed.
	tried, closed bool
	err           error

	transfers atomic.Int64
}

// NewDataChannel returns the data channel of a host that sends objects of
// at least min bytes (announced size) to its sinks on it (DataChannelMin
// unless a test wants otherwise). It returns nil, no channel, when
// AGOLPIPE_DATA_CHANNEL=off.
func NewDataChannel(min int64) *DataChannel {
	if os.Getenv(DataChannelEnv) == "off" {
		return nil
	}
	return &DataChannel{min: min}
}

// listener returns the channel's listener, starting it on first use, or
// nil when there is none (no channel, closed, or the system cannot listen
// on a Unix socket).
func (d *DataChannel) listener() *dataPort {
	if d == nil {
		return nil
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.tried || d.closed {
		return d.port
	}
	d.tried = true
	d.port, d.err = listenData(&d.transfers)
	return d.port
}

// Ready starts the channel if it is not running and says why it cannot
// run, if it cannot (nil also for a nil DataChannel: switched off on
// purpose). A host calls it before a run so that the slower road is
// explained in the run's log rather than only felt.
func (d *DataChannel) Ready() error {
	if d == nil || d.listener() != nil {
		return nil
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.err
}

// use says whether a Put of this announced size takes the channel.
func (d *DataChannel) use(size int64) bool {
	return d != nil && (size < 0 || size >= d.min)
}

// Transfers is how many artifact transfers (either hop) took this channel
// so far; the rest went in gRPC chunks.
func (d *DataChannel) Transfers() int64 {
	if d == nil {
		return 0
	}
	return d.transfers.Load()
}

// Close stops the listener and removes its socket. Transfers already
// connected go on; new ones use gRPC chunks. Safe to call more than once.
func (d *DataChannel) Close() {
	if d == nil {
		return
	}
	d.mu.Lock()
	p := d.port
	d.port, d.closed = nil, true
	d.mu.Unlock()
	if p == nil {
		return
	}
	p.mu.Lock()
	p.closed = true
	for tok, c := range p.early {
		c.Close()
		delete(p.early, tok)
	}
	p.mu.Unlock()
	p.ln.Close()
	os.RemoveAll(p.dir)
}

// dataPort is a DataChannel's listener.
type dataPort struct {
	ln   net.Listener
	dir  string
	addr string
	// transfers counts the connections claimed (its DataChannel's).
	transfers *atomic.Int64

	mu      sync.Mutex
	waiters map[string]chan net.Conn
	early   map[string]net.Conn
	closed  bool
}

func listenData(transfers *atomic.Int64) (*dataPort, error) {
	// MkdirTemp creates the directory 0700: only this user can reach the
	// socket in it.
	// The pid in the name lets a later run remove the folder of a process
	// that was killed before DataChannel.Close.
	dir, err := os.MkdirTemp("", fmt.Sprintf("agolpipe-data-%d-", os.Getpid()))
	if err != nil {
		return nil, err
	}
	addr := filepath.Join(dir, "s")
	ln, err := net.Listen("unix", addr)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	p := &dataPort{ln: ln, dir: dir, addr: addr, transfers: transfers, waiters: map[string]chan net.Conn{}, early: map[string]net.Conn{}}
	go p.serve()
	return p, nil
}

func (p *dataPort) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			time.Sleep(10 * time.Millisecond)
			continue
		}
		go p.hello(c)
	}
}

// hello reads the token a new connection presents and hands the connection
// to whoever waits for it.
func (p *dataPort) hello(c net.Conn) {
	var tok [dataTokenSize]byte
	c.SetReadDeadline(time.Now().Add(dataHelloTimeout))
	if _, err := io.ReadFull(c, tok[:]); err != nil {
		c.Close()
		return
	}
	c.SetReadDeadline(time.Time{})
	sizeBuffers(c)
	key := string(tok[:])
	p.mu.Lock()
	defer p.mu.Unlock()
	if w, ok := p.waiters[key]; ok {
		delete(p.waiters, key)
		w <- c // buffered
		return
	}
	if p.closed || len(p.early) >= maxEarlyConns {
		c.Close()
		return
	}
	// Not claimed yet: the exporter hop connects before it announces the
	// token. Unclaimed connections do not stay for ever.
	p.early[key] = c
	time.AfterFunc(dataClaimTimeout, func() {
		p.mu.Lock()
		defer p.mu.Unlock()
		if p.early[key] == c {
			delete(p.early, key)
			c.Close()
		}
	})
}

// allTransfers counts the transfers of every DataChannel of this process:
// a statistic only, read by tests and benchmarks that run a whole host
// and cannot reach its channel.
var allTransfers atomic.Int64

// DataChannelTransfers is how many artifact transfers (either hop) the
// data channels of this process received so far; the rest went in gRPC
// chunks.
func DataChannelTransfers() int64 { return allTransfers.Load() }

// claimed counts a transfer that took the channel.
func (p *dataPort) claimed() {
	p.transfers.Add(1)
	allTransfers.Add(1)
}

// errDataAborted: the peer ended its gRPC stream before it connected.
var errDataAborted = errors.New("the plugin ended the transfer before it opened the data channel")

// claim returns the connection that presented tok, waiting for it until
// ctx ends, abort closes, or dataClaimTimeout.
func (p *dataPort) claim(ctx context.Context, tok []byte, abort <-chan struct{}) (net.Conn, error) {
	key := string(tok)
	p.mu.Lock()
	if c, ok := p.early[key]; ok {
		delete(p.early, key)
		p.mu.Unlock()
		p.claimed()
		return c, nil
	}
	ch := make(chan net.Conn, 1)
	p.waiters[key] = ch
	p.mu.Unlock()
	t := time.NewTimer(dataClaimTimeout)
	defer t.Stop()
	var err error
	select {
	case c := <-ch:
		p.claimed()
		return c, nil
	case <-ctx.Done():
		err = sdk.Classify(sdk.KindCanceled, ctx.Err())
	case <-abort:
		err = errDataAborted
	case <-t.C:
		err = sdk.Retryable("the plugin did not open the data channel within %s", dataClaimTimeout)
	}
	p.mu.Lock()
	delete(p.waiters, key)
	p.mu.Unlock()
	select {
	case c := <-ch: // delivered while giving up
		c.Close()
	default:
	}
	return nil, err
}

func newDataToken() []byte {
	b := make([]byte, dataTokenSize)
	rand.Read(b) // never fails (crypto/rand panics rather than return short)
	return b
}

// dialData connects a plugin to the host's data channel and presents tok.
func dialData(ctx context.Context, addr string, tok []byte) (net.Conn, error) {
	if len(tok) != dataTokenSize {
		return nil, fmt.Errorf("data channel token has %d bytes, want %d", len(tok), dataTokenSize)
	}
	d := net.Dialer{Timeout: dataHelloTimeout}
	c, err := d.DialContext(ctx, "unix", addr)
	if err != nil {
		return nil, err
	}
	c.SetWriteDeadline(time.Now().Add(dataHelloTimeout))
	if _, err := c.Write(tok); err != nil {
		c.Close()
		return nil, err
	}
	c.SetWriteDeadline(time.Time{})
	sizeBuffers(c)
	return c, nil
}

// dataSocketBuffer is the kernel buffer asked for on each side of a data
// channel: several chunks in flight, so the two processes wake each other
// less often than with the default (~200 KiB on Linux). Kernel memory, not
// the processes'.
const dataSocketBuffer = 1 << 20

func sizeBuffers(c net.Conn) {
	if uc, ok := c.(*net.UnixConn); ok {
		_ = uc.SetReadBuffer(dataSocketBuffer)
		_ = uc.SetWriteBuffer(dataSocketBuffer)
	}
}

// worthDataChannel says whether a plugin sends an artifact of this
// announced size on the host's data channel.
func worthDataChannel(size int64) bool {
	return size < 0 || size >= DataChannelMin
}

// closeOnDone closes c when ctx ends, so a cancelled transfer's blocked
// Read or Write returns; the returned func stops the watch.
func closeOnDone(ctx context.Context, c net.Conn) func() bool {
	return context.AfterFunc(ctx, func() { c.Close() })
}
