package org

import "testing"

func TestTitleCase(t *testing.T) {
	for in, want := range map[string]string{
		"gis admin": "Gis Admin", "j.smith": "J.Smith", "a-b c_d": "A-B C_d", "x9y z": "X9y Z", "": "", "o'brien": "O'Brien",
	} {
		if got := titleCase(in); got != want {
			t.Errorf("titleCase(%q) = %q, want %q", in, got, want)
		}
	}
}
