"""Local service stack helpers (shared servers for several pdfrag processes)."""
