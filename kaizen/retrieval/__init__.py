"""Knowledge bases: loading, chunking, embedding, vector stores, the indexer and the retriever."""
