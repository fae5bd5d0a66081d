"""Local S3-compatible object store (SeaweedFS ``weed mini``) for the demo, tests and CI.

Installed as ``alignsar_localstack`` (the folder is ``localstack/``). See README.md.
"""

from .server import DEFAULT_REGION, LocalObjectStore, ObjectStoreError, find_weed, free_ports

__all__ = ["DEFAULT_REGION", "LocalObjectStore", "ObjectStoreError", "find_weed", "free_ports"]
