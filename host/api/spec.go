package api

import "slices"

// OpenAPIYAML returns a copy of the embedded OpenAPI document, the bytes
// GET /api/openapi.yaml serves, for tools and tests that check traffic
// against it (host/api/openapitest).
func OpenAPIYAML() []byte { return slices.Clone(openapiYAML) }
