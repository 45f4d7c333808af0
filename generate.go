package main

// go generate ./... regenerates all generated code, in order: ent (with the
// entgql extension, which writes graph/ent.graphql), then gqlgen.
//go:generate go run -mod=mod ./ent/entc.go
//go:generate go tool gqlgen generate
