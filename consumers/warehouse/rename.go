package warehouse

import "os"

// linkAndRemove publishes oldpath at newpath with link(2), which fails
// when newpath exists, then removes oldpath.
func linkAndRemove(oldpath, newpath string) error {
	if err := os.Link(oldpath, newpath); err != nil {
		return err
	}
	return os.Remove(oldpath)
}
