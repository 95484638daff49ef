"""Prefect flows: they only sequence the tasks. Installed as ``pdfrag.flows``."""
