"""AlignSAR core: the science and I/O library of the pipeline (no Prefect here)."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("alignsar")
except PackageNotFoundError:  # running from a source tree without install
    __version__ = "0.0.0+unknown"
