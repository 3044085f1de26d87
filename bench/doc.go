// Package bench compares github.com/deb4e658/retry with other Go retry
// libraries: the cost each adds to a call (overhead_test.go) and how each
// behaves against servers that push back with 429 answers
// (pushback_test.go). It is a nested module so that the library itself never
// depends on its peers. README.md gives the commands and the results.
package bench
