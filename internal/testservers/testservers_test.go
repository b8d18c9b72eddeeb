package testservers

import (
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

func TestReadEnvFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "env")
	content := "# generated\nexport A=1\nexport B='x;y=z'\nC=\"q\"\nexport PATH=/x:$PATH\nnot a line\n"
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	got := readEnvFile(p)
	want := map[string]string{"A": "1", "B": "x;y=z", "C": "q", "PATH": "/x:$PATH"}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
	if len(got) != len(want) {
		t.Errorf("got %d vars %v, want %d", len(got), got, len(want))
	}
}

// echo server behind the proxy: bytes go through until Cut, nothing after,
// and new connections work again after Restore.
func TestProxyCutAndRestore(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { _, _ = io.Copy(c, c); c.Close() }()
		}
	}()
	p := NewProxy(t, ln.Addr().String())
	echo := func() error {
		c, err := net.Dial("tcp", p.Addr())
		if err != nil {
			return err
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(2 * time.Second))
		if _, err := c.Write([]byte("ping")); err != nil {
			return err
		}
		b := make([]byte, 4)
		_, err = io.ReadFull(c, b)
		return err
	}
	if err := echo(); err != nil {
		t.Fatalf("echo through proxy: %v", err)
	}
	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	time.Sleep(50 * time.Millisecond) // let the proxy register the connection
	p.Cut()
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := c.Read(make([]byte, 1)); err == nil {
		t.Error("read on a cut connection succeeded")
	}
	if err := echo(); err == nil {
		t.Error("echo through a cut proxy succeeded")
	}
	p.Restore()
	if err := echo(); err != nil {
		t.Errorf("echo after Restore: %v", err)
	}
}

// outcomeTB records whether a test helper skipped or failed; both end the
// goroutine, as on a real *testing.T.
type outcomeTB struct {
	testing.TB
	skipped, failed bool
	msg             string
}

func (o *outcomeTB) Helper() {}
func (o *outcomeTB) Skipf(f string, a ...any) {
	o.skipped, o.msg = true, fmt.Sprintf(f, a...)
	runtime.Goexit()
}
func (o *outcomeTB) Fatalf(f string, a ...any) {
	o.failed, o.msg = true, fmt.Sprintf(f, a...)
	runtime.Goexit()
}

func outcome(get func(testing.TB) S3Server) *outcomeTB {
	o := &outcomeTB{}
	done := make(chan struct{})
	go func() { defer close(done); get(o) }()
	<-done
	return o
}

// MinIO is optional: CI's RequireEnv does not turn its absence into a
// failure, only RequireMinIOEnv does; versitygw fails under RequireEnv.
func TestMinIOIsOptional(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + ln.Addr().String()
	ln.Close() // nothing listens there now
	for _, k := range []string{"MINIO_ENDPOINT", "S3_ENDPOINT"} {
		t.Setenv(k, dead)
	}
	for _, k := range []string{"MINIO_ACCESS_KEY", "MINIO_SECRET_KEY", "S3_ACCESS_KEY", "S3_SECRET_KEY"} {
		t.Setenv(k, "x")
	}
	t.Setenv(RequireEnv, "1")
	t.Setenv(RequireMinIOEnv, "")
	if o := outcome(MinIO); !o.skipped || !strings.Contains(o.msg, "minio not listening") || !strings.Contains(o.msg, "TEST_SERVERS=minio") {
		t.Errorf("MinIO absent under %s=1: skipped=%v failed=%v %q, want a skip that says how to start it", RequireEnv, o.skipped, o.failed, o.msg)
	}
	if o := outcome(S3); !o.failed {
		t.Errorf("versitygw absent under %s=1: skipped=%v %q, want a failure", RequireEnv, o.skipped, o.msg)
	}
	t.Setenv(RequireMinIOEnv, "1")
	if o := outcome(MinIO); !o.failed {
		t.Errorf("MinIO absent under %s=1: skipped=%v %q, want a failure", RequireMinIOEnv, o.skipped, o.msg)
	}
}
