"""Simulated Sentinel-1 products with known ground truth (see ``product``)."""

from .product import (
    PATCH_LINES,
    PATCH_SAMPLES,
    TEMPLATE_PRODUCT,
    SimulatedProduct,
    SparseLut,
    default_patch_class,
    default_sigma0,
    default_template,
    shared_data_dir,
    simulate_product,
)

__all__ = [
    "PATCH_LINES",
    "PATCH_SAMPLES",
    "TEMPLATE_PRODUCT",
    "SimulatedProduct",
    "SparseLut",
    "default_patch_class",
    "default_sigma0",
    "default_template",
    "shared_data_dir",
    "simulate_product",
]
