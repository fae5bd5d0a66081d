"""Simulated Sentinel-1 products with known ground truth: the SAFE writer (``product``),
the known world (``scene``) and the radar that observes it on many dates (``radar``)."""

from ..settings import shared_data_dir
from .product import (
    PATCH_LINES,
    PATCH_SAMPLES,
    TEMPLATE_PRODUCT,
    SimulatedProduct,
    default_patch_class,
    default_sigma0,
    default_template,
    simulate_product,
)

__all__ = [
    "PATCH_LINES",
    "PATCH_SAMPLES",
    "TEMPLATE_PRODUCT",
    "SimulatedProduct",
    "default_patch_class",
    "default_sigma0",
    "default_template",
    "shared_data_dir",
    "simulate_product",
]
