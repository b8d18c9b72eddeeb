// Command hashfloor times what core's fan-out cannot avoid for any
// artifact: reading every byte and hashing it with SHA-256 for the
// manifest. Next to `cp` of the same file it gives the ceiling of the
// streaming benchmark's ratio on this CPU (bench/stream/README.md).
//
//	go run ./bench/stream/hashfloor FILE [runs]
package main

import (
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: hashfloor FILE [runs]")
		os.Exit(2)
	}
	file := os.Args[1]
	runs := 3
	if len(os.Args) > 2 {
		runs, _ = strconv.Atoi(os.Args[2])
	}
	buf := make([]byte, 256<<10) // the fan-out's chunk size
	for i := 0; i < runs; i++ {
		hash, err := timeHash(file, buf)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		cp, err := timeCp(file)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		fmt.Printf("read+sha256 %.3fs  cp %.3fs  ceiling %.2fx cp\n", hash.Seconds(), cp.Seconds(), cp.Seconds()/hash.Seconds())
	}
}

func timeHash(file string, buf []byte) (time.Duration, error) {
	f, err := os.Open(file)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	start := time.Now()
	// struct{io.Reader} so the copy goes through buf, like the fan-out's reads.
	_, err = io.CopyBuffer(sha256.New(), struct{ io.Reader }{f}, buf)
	return time.Since(start), err
}

func timeCp(file string) (time.Duration, error) {
	dst := filepath.Join(filepath.Dir(file), ".hashfloor-cp")
	defer os.Remove(dst)
	start := time.Now()
	err := exec.Command("cp", file, dst).Run()
	return time.Since(start), err
}
