"""Embedding providers shared by the embedder (documents) and status (search queries)."""
