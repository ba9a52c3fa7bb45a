// Package rayxfer is the end-to-end test of the ray transfer backend
// (plugins/transfer/ray) against a live Ray: a three-node cluster on this
// machine (a head from e2e/raycluster plus two `ray start --address`
// workers, token auth on), driven through sdk/plugintest over the real gRPC
// path.
//
// It owns the cluster it starts (its own ports and temp dir, stopped by
// raycluster's cleanup) and the delivery folders the backend creates for
// that cluster's node ids, which it removes. It must not touch any other
// Ray cluster on the machine, host/ or other plugins.
package rayxfer
