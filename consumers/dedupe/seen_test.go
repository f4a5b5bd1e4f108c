package dedupe

import "testing"

func TestSeenSetForgetsPastTheWindowAndStaysBounded(t *testing.T) {
	s := newSeenSet(1000, 100)
	s.add(1, 0)
	if !s.duplicate(1, 1000) {
		t.Fatal("id at the window's edge not a duplicate")
	}
	if s.duplicate(1, 1001) {
		t.Fatal("id past the window still a duplicate")
	}
	s.add(2, 5000) // moves stream time: id 1 is swept
	if s.len() != 1 {
		t.Fatalf("after the sweep %d ids remain, want 1", s.len())
	}
	for i := range 1000 {
		s.add(uint64(100+i), 5000+int64(i))
		if s.len() > 100 {
			t.Fatalf("set holds %d ids, over its maximum of 100", s.len())
		}
	}
	if s.forgotten == 0 {
		t.Fatal("no id was counted as forgotten early")
	}
	if !s.duplicate(1099, 6000) {
		t.Fatal("the newest id was forgotten; the oldest should go first")
	}
}
