package org

import (
	"encoding/binary"
	"fmt"
	"io"
	"strconv"
)

// BlobKind selects how generated file bytes look.
type BlobKind uint8

const (
	// BlobBinary: a format magic header then pseudo-random bytes.
	BlobBinary BlobKind = iota
	// BlobCSV: a header line then fixed-width CSV rows.
	BlobCSV
	// BlobGeoJSON: a GeoJSON FeatureCollection of fixed-width points.
	BlobGeoJSON
)

// Blob is file content generated on the fly from a seed. Any byte range can
// be produced without producing what comes before it, so ranges and very
// large files cost no memory. A Blob is an io.ReaderAt; it is safe for
// concurrent use.
type Blob struct {
	Seed  uint64
	Size  int64
	Kind  BlobKind
	Magic string
}

const (
	csvHeader   = "OBJECTID,NAME,STATUS,VALUE,LONGITUDE,LATITUDE\n"
	csvRowLen   = 64
	geoHeader   = "{\"type\":\"FeatureCollection\",\"features\":[\n"
	geoFooter   = "]}\n"
	geoFeatLen  = 160
	randomBlock = 8
)

// CSVSize is the size of a generated CSV with rows rows.
func CSVSize(rows int64) int64 { return int64(len(csvHeader)) + rows*csvRowLen }

// GeoJSONSize is the size of a generated GeoJSON file with n features.
func GeoJSONSize(n int64) int64 { return int64(len(geoHeader)+len(geoFooter)) + n*geoFeatLen }

// Reader returns a seekable reader over the whole blob.
func (b Blob) Reader() *io.SectionReader { return io.NewSectionReader(b, 0, b.Size) }

// ReadAt implements io.ReaderAt.
func (b Blob) ReadAt(p []byte, off int64) (int, error) {
	if off >= b.Size {
		return 0, io.EOF
	}
	n := len(p)
	if rem := b.Size - off; int64(n) > rem {
		n = int(rem)
	}
	switch b.Kind {
	case BlobCSV:
		b.fillCSV(p[:n], off)
	case BlobGeoJSON:
		b.fillGeo(p[:n], off)
	default:
		b.fillBinary(p[:n], off)
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// Mix is splitmix64: a fast, well-spread hash of x.
func Mix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

func (b Blob) fillBinary(p []byte, off int64) {
	i := 0
	for i < len(p) {
		pos := off + int64(i)
		if pos < int64(len(b.Magic)) {
			p[i] = b.Magic[pos]
			i++
			continue
		}
		blk := pos / randomBlock
		var w [8]byte
		binary.LittleEndian.PutUint64(w[:], Mix(b.Seed^uint64(blk)*0x2545f4914f6cdd1d))
		j := int(pos % randomBlock)
		for j < randomBlock && i < len(p) {
			p[i] = w[j]
			i++
			j++
		}
	}
}

// fillFixed fills p from a text made of head, fixed-width records and foot.
func fillFixed(p []byte, off int64, head, foot string, recLen int, n int64, rec func(i int64, buf []byte)) {
	var buf [256]byte
	i := 0
	headLen := int64(len(head))
	bodyEnd := headLen + n*int64(recLen)
	cur := int64(-1)
	for i < len(p) {
		pos := off + int64(i)
		switch {
		case pos < headLen:
			p[i] = head[pos]
			i++
		case pos < bodyEnd:
			r := (pos - headLen) / int64(recLen)
			if r != cur {
				rec(r, buf[:recLen])
				cur = r
			}
			j := int((pos - headLen) % int64(recLen))
			c := copy(p[i:], buf[j:recLen])
			i += c
		default:
			p[i] = foot[pos-bodyEnd]
			i++
		}
	}
}

var statusCodes = [...]string{"OPEN", "WIP", "CLOSED", "CXL"}

func pad(buf []byte, s []byte) {
	n := copy(buf, s)
	for ; n < len(buf); n++ {
		buf[n] = ' '
	}
}

func (b Blob) rows(recLen int, head, foot string) int64 {
	return (b.Size - int64(len(head)) - int64(len(foot))) / int64(recLen)
}

func (b Blob) fillCSV(p []byte, off int64) {
	n := b.rows(csvRowLen, csvHeader, "")
	fillFixed(p, off, csvHeader, "", csvRowLen, n, func(r int64, buf []byte) {
		h := Mix(b.Seed ^ uint64(r))
		lon, lat := coord(h)
		line := fmt.Appendf(nil, "%d,Site %x,%s,%d.%02d,%.5f,%.5f", r+1, h&0xffffff, statusCodes[h>>60&3], h>>40&0xfff, h>>32&63, lon, lat)
		pad(buf[:csvRowLen-1], line)
		buf[csvRowLen-1] = '\n'
	})
}

func (b Blob) fillGeo(p []byte, off int64) {
	n := b.rows(geoFeatLen, geoHeader, geoFooter)
	fillFixed(p, off, geoHeader, geoFooter, geoFeatLen, n, func(r int64, buf []byte) {
		h := Mix(b.Seed ^ uint64(r))
		lon, lat := coord(h)
		line := []byte(`{"type":"Feature","id":`)
		line = strconv.AppendInt(line, r+1, 10)
		line = fmt.Appendf(line, `,"geometry":{"type":"Point","coordinates":[%.5f,%.5f]},"properties":{"NAME":"Site %x","STATUS":"%s"}}`, lon, lat, h&0xffffff, statusCodes[h>>60&3])
		if r < n-1 {
			line = append(line, ',')
		}
		pad(buf[:geoFeatLen-1], line)
		buf[geoFeatLen-1] = '\n'
	})
}

// coord derives a WGS84 point in a city-sized box from a hash.
func coord(h uint64) (lon, lat float64) {
	return -122.6 + float64(h&0xffff)/65536*0.5, 37.5 + float64(h>>16&0xffff)/65536*0.4
}
