"""Prefect tasks: thin doors onto the stage functions of ``pdfrag.pipeline``.

Installed as ``pdfrag.tasks``. Tasks pass ids, URIs and small records, never
frames or clients; each resolves its ``Pipeline`` from the (serializable)
configuration overrides it is given.
"""
