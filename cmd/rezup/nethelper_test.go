package main

import (
	"bytes"
	"testing"
)

// Opening a network cache starts nothing, and opening it again in the
// same run shares its helper.
func TestOpenNetSharesTheHelper(t *testing.T) {
	a := newApp([]string{"HOME=" + t.TempDir()}, &bytes.Buffer{}, &bytes.Buffer{})
	defer a.closeNet()
	open := func(loc string) any {
		b, err := a.openNet(loc)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	first := open("https://cache.studio/rezup")
	if again := open("https://cache.studio/rezup"); again != first {
		t.Error("the same location opened twice got two helpers")
	}
	if other := open("s3://bucket/rezup"); other == first {
		t.Error("two locations share a helper")
	}
	a.closeNet()
	if after := open("https://cache.studio/rezup"); after == first {
		t.Error("a location opened after closeNet got the closed helper")
	}
}
