//go:build !linux

package warehouse

// renameNoReplace moves oldpath to newpath unless newpath exists
// (fs.ErrExist), with a hard link and an unlink.
func renameNoReplace(oldpath, newpath string) error { return linkAndRemove(oldpath, newpath) }
