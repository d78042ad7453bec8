//go:build wasip1

package main

import "bitvault.internal/plugins/bitvault"

// The search point's operations, one export each (docs/extension-points.md).

//go:wasmexport search_v1_analyze
func searchAnalyze() int32 { return bitvault.Handle(analyze) }

//go:wasmexport search_v1_preview
func searchPreview() int32 { return bitvault.Handle(preview) }
