"""A local model served over the OpenAI embeddings API (`python -m services.embedserver`)."""
