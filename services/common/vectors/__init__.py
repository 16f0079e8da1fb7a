"""Vector sets: per-model/chunking tables of chunks and vectors, their registry and search."""
