"""SAR signatures per tile (AlignSAR categories 1 and 2): pure numpy functions.

- ``single_pol``: amplitude, intensity, calibrated backscatter (sigma0/beta0/gamma0,
  linear and dB, optional thermal noise removal), SLC phase, interferometric phase.
- ``coherence``: boxcar and multilook coherence, Touzi bias, effective looks.
- ``polarimetric``: dual-pol C2, H/alpha, RVI, DpRVI, ratios; quad-pol T3, Pauli,
  Cloude-Pottier H/A/alpha.
- ``soil_moisture``: change-detection relative soil moisture (Wagner et al. 1999).
- ``window``: the shared boxcar kernels and ``halo_for``.

Each module has an ``ATTRS`` mapping {variable: {units, long_name, formula, reference}}
for the Zarr variables; ``ATTRS`` here merges them. Speckle filters: ``alignsar_core.speckle``.
"""

from . import coherence, polarimetric, single_pol, soil_moisture, window
from .window import halo_for

ATTRS: dict[str, dict[str, str]] = {
    **single_pol.ATTRS, **coherence.ATTRS, **polarimetric.ATTRS, **soil_moisture.ATTRS,
}

__all__ = ["ATTRS", "coherence", "halo_for", "polarimetric", "single_pol", "soil_moisture", "window"]
