"""``alignsar inspect``: a product's global metadata and burst list, for people and machines."""

from __future__ import annotations

from typing import Any

from .sentinel1 import list_bursts, open_product


def inspect_product(url: str, storage_options: dict[str, Any] | None = None) -> dict[str, Any]:
    """Global metadata and bursts of a product, reading only its XML (no pixels).

    Swath/polarisations whose files are absent are reported under ``missing``
    instead of failing, so partial products can still be looked at.
    """
    product = open_product(url, storage_options, metadata_only=True, allow_partial=True)
    a = product.attrs
    bursts = []
    for b in list_bursts(product):
        for pol in b.polarisations:
            bursts.append({
                "swath": b.swath,
                "polarisation": pol,
                "burst_index": b.burst_index,
                "burst_id": b.burst_id if b.burst_id_source == "annotation" else None,
                "computed_burst_id": b.burst_id,
                "stack_id": b.stack_id,
                "first_line_time": b.first_line_time,
                "lines": b.lines,
                "samples": b.samples,
            })
    return {
        "product": product.name,
        "url": url,
        "mission": f"{a.get('family_name', '')} {a.get('number', '')}".strip(),
        "mode": a.get("mode"),
        "product_type": a.get("product_type"),
        "pass": a.get("pass"),
        "absolute_orbit": a.get("orbit_number"),
        "relative_orbit": a.get("relative_orbit_number"),
        "start_time": a.get("start_time"),
        "stop_time": a.get("stop_time"),
        "ascending_node_time": a.get("ascending_node_time"),
        "polarisations": a.get("transmitter_receiver_polarisations"),
        "swaths": a.get("swaths"),
        "available": {s: p for s, p in product.swath_pols().items()},
        "missing": product.missing,
        "bursts": bursts,
    }


def format_inspection(info: dict[str, Any]) -> str:
    lines = [
        f"Product   {info['product']}",
        f"  {info['mission']}  {info['mode']} {info['product_type']}  {info['pass']}  "
        f"orbit {info['absolute_orbit']} (relative {info['relative_orbit']})",
        f"  sensing {info['start_time']} .. {info['stop_time']}",
        f"  polarisations {'+'.join(info['polarisations'] or [])}  swaths {','.join(info['swaths'] or [])}",
        "  available: " + ", ".join(f"{s} {'+'.join(p)}" for s, p in info["available"].items()),
    ]
    for g, why in info["missing"].items():
        lines.append(f"  missing:   {g} ({why})")
    lines.append("")
    header = f"{'swath':5} {'pol':3} {'burst':>5} {'burst_id':>10}  {'first_line_time':26} {'lines':>5} {'samples':>7}"
    lines.append(header)
    computed = False
    for b in info["bursts"]:
        if b["burst_id"] is None:
            bid, computed = f"{b['computed_burst_id']}*", True
        else:
            bid = str(b["burst_id"])
        lines.append(f"{b['swath']:5} {b['polarisation']:3} {b['burst_index']:>5} {bid:>10}  "
                     f"{b['first_line_time']:26} {b['lines']:>5} {b['samples']:>7}")
    if computed:
        lines.append("* computed from the ESA burst ID map (the annotation has no burstId before IPF 3.40)")
    return "\n".join(lines)
