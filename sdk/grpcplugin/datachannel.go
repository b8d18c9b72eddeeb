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

// DataChannelMin is the smallest artifact (by announced size) sent on the
// data channel; smaller ones are not worth a connection and go in chunks.
// An artifact of unknown size (-1) always takes the channel. A variable so
// that tests can send everything on it.
var DataChannelMin int64 = 1 << 20

// DataChannelEnv is the environment variable that switches the data channel
// off ("off"): every artifact byte then travels in gRPC chunk messages.
const DataChannelEnv = "AGOLPIPE_DATA_CHANNEL"

// dataPort is the host's listener for data channels.
type dataPort struct {
	ln   net.Listener
	dir  string
	addr string

	mu      sync.Mutex
	waiters map[string]chan net.Conn
	early   map[string]net.Conn
	closed  bool
}

var (
	portMu sync.Mutex
	port   *dataPort
	// portTried: the host tried to listen once; a failure is not retried
	// (chunks over gRPC work everywhere). portErr is why it failed.
	portTried bool
	portErr   error
)

// hostDataPort returns the host's data channel listener, starting it on
// first use, or nil when there is none (switched off, or the system cannot
// listen on a Unix socket).
func hostDataPort() *dataPort {
	portMu.Lock()
	defer portMu.Unlock()
	if portTried {
		return port
	}
	portTried = true
	if os.Getenv(DataChannelEnv) == "off" {
		return nil
	}
	p, err := listenData()
	if err != nil {
		portErr = err
		return nil
	}
	port = p
	return port
}

// DataChannelReady starts the host's data channel if it is not running and
// says why it cannot run, if it cannot (nil also when AGOLPIPE_DATA_CHANNEL
// switched it off on purpose). A host calls it before a run so that the
// slower road is explained in the run's log rather than only felt.
func DataChannelReady() error {
	if hostDataPort() != nil || os.Getenv(DataChannelEnv) == "off" {
		return nil
	}
	portMu.Lock()
	defer portMu.Unlock()
	return portErr
}

// CloseDataChannel stops the host's data channel listener and removes its
// socket. Transfers already connected go on; new ones use gRPC chunks.
func CloseDataChannel() {
	portMu.Lock()
	p := port
	port, portTried, portErr = nil, false, nil // a later host in this process starts afresh
	portMu.Unlock()
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

func listenData() (*dataPort, error) {
	// MkdirTemp creates the directory 0700: only this user can reach the
	// socket in it.
	// The pid in the name lets a later run remove the folder of a process
	// that was killed before CloseDataChannel.
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
	p := &dataPort{ln: ln, dir: dir, addr: addr, waiters: map[string]chan net.Conn{}, early: map[string]net.Conn{}}
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

// dataTransfers counts transfers that took the data channel.
var dataTransfers atomic.Int64

// DataChannelTransfers is how many artifact transfers (either hop) this
// process received on its data channel so far; the rest went in gRPC
// chunks.
func DataChannelTransfers() int64 { return dataTransfers.Load() }

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
		dataTransfers.Add(1)
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
		dataTransfers.Add(1)
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

// useDataChannel says whether an artifact of this announced size is worth a
// data channel.
func useDataChannel(size int64) bool {
	return size < 0 || size >= DataChannelMin
}

// closeOnDone closes c when ctx ends, so a cancelled transfer's blocked
// Read or Write returns; the returned func stops the watch.
func closeOnDone(ctx context.Context, c net.Conn) func() bool {
	return context.AfterFunc(ctx, func() { c.Close() })
}
