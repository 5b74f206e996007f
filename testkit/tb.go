package testkit

// TB is the part of testing.TB that testkit's helpers use. Declaring it here
// instead of importing package testing keeps `testing` (and its flags) out of
// the agora binary, which links testkit for `agora sim`. *testing.T and
// *testing.B satisfy it.
type TB interface {
	Helper()
	Cleanup(func())
	Errorf(format string, args ...any)
	Fatal(args ...any)
	Fatalf(format string, args ...any)
}
