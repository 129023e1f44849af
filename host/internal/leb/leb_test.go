package leb

import (
	"bytes"
	"testing"
)

func TestEncode(t *testing.T) {
	for _, c := range []struct {
		u    uint64
		want []byte
	}{{0, []byte{0}}, {127, []byte{0x7f}}, {128, []byte{0x80, 1}}, {624485, []byte{0xe5, 0x8e, 0x26}}} {
		if got := AppendUnsigned(nil, c.u); !bytes.Equal(got, c.want) {
			t.Errorf("AppendUnsigned(%d) = %x, want %x", c.u, got, c.want)
		}
	}
	for _, c := range []struct {
		s    int64
		want []byte
	}{{0, []byte{0}}, {-1, []byte{0x7f}}, {63, []byte{0x3f}}, {64, []byte{0xc0, 0}}, {-123456, []byte{0xc0, 0xbb, 0x78}}} {
		if got := AppendSigned(nil, c.s); !bytes.Equal(got, c.want) {
			t.Errorf("AppendSigned(%d) = %x, want %x", c.s, got, c.want)
		}
	}
}
