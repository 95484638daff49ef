"""pdfrag: turn a corpus of PDFs into a searchable Milvus collection.

The package keeps the pure stage logic (extraction, chunking, embedding,
Milvus I/O, object storage) free of Prefect; ``pdfrag.tasks`` and
``pdfrag.flows`` are thin Prefect doors onto it.
"""

__version__ = "0.1.0"

# Bumped whenever a change alters what a stage produces for the same input and
# configuration; it is part of every stage key and chunk id.
PIPELINE_VERSION = "1"
