"""The indexer service: document events in, chunks with vectors in the knowledge-base store."""
