"""pdfrag's HTTP service: upload-triggered ingestion (and the query API)."""
