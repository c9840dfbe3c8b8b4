"""Retrieval over a collection: lexical (BM25), dense (brute force or HNSW) and their hybrid fusion.

Plain numpy (plus usearch for the HNSW index of large collections); no OpenVINO, gRPC or Ray. The
model factory builds collections with it, retriever replicas search them.
"""
