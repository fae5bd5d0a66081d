"""All SAR signatures of one full burst-date (VV + VH, 1501 x 21632, complex64), per tile.

The per-tile body is the signature stage's own: ``alignsar_core.signatures.tiles``
``date_signatures`` (every per-date output) + ``pair_signatures`` for the pair with the
previous date in VV and VH (the stage computes each date's pairs with the reference
and with the previous date: about two pairs per date).

Prints, side by side in one run:
  * the memory-bandwidth floor: a plain numpy pass over the same bytes (one read of
    the inputs + one write of the outputs; also a plain copy of the inputs alone);
  * all signatures of one date (the float32 outputs listed at the start) on one full
    burst: in this process (a tile loop with numba on every core; and tiles side by
    side, one thread and one numba thread each; the kernels compute each tile's own
    pixels, not its halo, straight into the burst-sized output arrays, as the stage
    computes them into the arrays it hands to Zarr as chunks), and as Dask tasks over 512 x 4096
    tiles with the halo on 1 and 2 workers (LocalCluster, processes, 1 thread each) and
    on 1 worker with a thread per core (inputs as shared-memory arrays and outputs as a
    file of tile chunks on tmpfs standing in for the Zarr stores: each task reads its
    tile + halo and writes its chunk of every output, ``ChunkFile``);
  * coherence 5 x 20: sarxarray's ``complex_coherence`` vs ours (the same multilook
    estimator; and our moving-window version), max abs difference;
  * sigma0: xarray-sentinel's ``calibrate_intensity`` vs ours, max relative difference;
  * speckle filters on one full-burst intensity (boxcar 7x7, refined Lee, Quegan-Yu on
    4 dates);
with seconds, MB/s of SLC input (VV + VH of the date, 520 MB), the ratio to the floor
and peak memory (VmHWM of this process per stage; per Dask worker: private memory =
RssAnon + peak numpy allocations of a task, and VmHWM, which also counts the pages of
the shared-memory inputs the worker touched).

    .venv/bin/python benchmarks/bench_signatures.py [--samples 21632] [--repeat 2] [--workers 1,2] [--beta-gamma]

Outputs of one burst-date (default ``SignatureConfig``: windows 5 x 20, thermal noise
removed): per polarisation amplitude, intensity and SLC phase of the DNs, sigma0 linear
and dB and its 5 x 20 local mean (the input of the Quegan-Yu filter and the
soil-moisture index); dual-pol C11, C22, Re/Im C12,
entropy, alpha, degree of polarisation, DpRVI, RVI, sigma0 sum, difference and
cross/co ratio in dB; per pair and polarisation (VV, VH, with the previous date)
interferometric phase, coherence and coherence phase. ``--beta-gamma`` adds beta0 and
gamma0 (linear and dB).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np

from _timing import best_of  # benchmarks/ is on sys.path when run as a script

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

WINDOW = (5, 20)
TILE = (512, 4096)
LINE_OFFSET = 1501  # second burst of IW1: its swath lines


def _status(key: str) -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024
    return float("nan")


def reset_peak() -> None:
    """Reset VmHWM (Linux: 5 > /proc/self/clear_refs) so each stage's peak is its own."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass




# ----------------------------------------------------------------------------- calibration


def load_luts(samples: int):
    """sigma0/beta0/gamma0 and noise LUTs of IW1 VV and VH: the real annotation from
    ../shared when present, else a synthetic LUT on the same kind of grid."""
    from alignsar_core.calibration import CalibrationLut, NoiseLut
    from alignsar_core.settings import shared_data_dir

    safe = shared_data_dir() / "sentinel1" / "S1B_IW_SLC__1SDV_20210401T052622_20210401T052650_026269_032297_EFA4.SAFE"
    luts, noise, cal_groups = {}, {}, {}
    if safe.is_dir():
        from alignsar_core.products.sentinel1 import open_product

        product = open_product(str(safe), metadata_only=True, allow_partial=True)
        for pol in ("VV", "VH"):
            cal = product.open_group(f"IW1/{pol}/calibration")
            cal_groups[pol] = cal
            luts[pol] = [CalibrationLut.from_xarray_sentinel(cal, k) for k in ("sigma0", "beta0", "gamma0")]
            noise[pol] = NoiseLut.from_xarray_sentinel(product.open_group(f"IW1/{pol}/noise_range"),
                                                       product.open_group(f"IW1/{pol}/noise_azimuth"))
        return luts, noise, cal_groups, "real S1B IW1 annotation (../shared)"
    import xarray as xr

    lines = np.arange(-1042, 14700, 487)
    pixels = np.arange(0, samples + 40, 40)
    base = 300.0 + 30.0 * np.sin(pixels / samples * 3)[None, :] + 0.001 * lines[:, None]
    for pol in ("VV", "VH"):
        luts[pol] = [CalibrationLut(k, lines, pixels, base * f) for k, f in (("sigma0", 1.0), ("beta0", 0.75), ("gamma0", 0.9))]
        noise[pol] = NoiseLut(CalibrationLut("noise", lines, pixels, np.full(base.shape, 500.0)))
        cal_groups[pol] = xr.Dataset({"sigmaNought": (("line", "pixel"), base)}, coords={"line": lines, "pixel": pixels})
    return luts, noise, cal_groups, "synthetic LUT (../shared missing)"


# ----------------------------------------------------------------------------- one tile


def make_calibration(luts, noise, beta_gamma: bool):
    from alignsar_core.signatures.tiles import CalibrationInputs

    return CalibrationInputs(source="benchmark", luts={p: tuple(v if beta_gamma else v[:1]) for p, v in luts.items()},
                             noise=dict(noise))


def tile_signatures(vv, vh, vv_prev, vh_prev, removed, lines, pixels, calibration, config,
                    prev_powers=None, region=None, out=None, origin=(0, 0)) -> dict[str, np.ndarray]:
    """Every signature of one date on one tile (with its halo): the stage's per-tile body
    (``tiles.date_signatures`` + ``tiles.pair_signatures`` with the previous date) over
    the output ``region`` (the tile without its halo), written into the destination
    arrays ``out`` at ``origin`` (``fused.dual_date``). ``prev_powers``: the previous
    date's {pol: <|z|^2>}, laid out as the outputs, which the stage keeps from that
    date's own pass (computed here when None)."""
    from alignsar_core.signatures import tiles as st

    from alignsar_core.signatures import fused

    powers = {}
    res = st.date_signatures({"VV": vv, "VH": vh}, lines, pixels, calibration, config, powers=powers,
                             region=region, out=out, origin=origin)
    removed = fused.phase_factors(removed)  # once for both polarisations, as the stage
    for p, a, b in (("VV", vv_prev, vv), ("VH", vh_prev, vh)):
        cal = st.tile_calibration(calibration, p, lines, pixels, noise=False)
        pa = None if prev_powers is None else prev_powers[p]
        po = None if out is None else {k: out[f"{k}_{p.lower()}"] for k in
                                       ("interferometric_phase", "coherence", "coherence_phase")}
        for k, v in st.pair_signatures(a, b, removed, config, cal, pa, powers[p], region=region, out=po,
                                       origin=origin).items():
            res[f"{k}_{p.lower()}"] = v
    return res


def output_names(calibration, config) -> list[str]:
    z = np.ones((8, 40), np.complex64)
    return list(tile_signatures(z, z, z, z, np.zeros((8, 40), np.float32), np.arange(8) + LINE_OFFSET,
                                np.arange(40), calibration, config))


def tiles(n, m, tile=TILE):
    return [(i0, min(n, i0 + tile[0]), j0, min(m, j0 + tile[1]))
            for i0 in range(0, n, tile[0]) for j0 in range(0, m, tile[1])]


def read_tile(inputs, config, i0, i1, j0, j1, n, m):
    """The tile + halo of the five inputs (contiguous copies, as read from a store) and
    the seconds it took."""
    ha, hr = config.halo
    e0, e1, f0, f1 = max(0, i0 - ha), min(n, i1 + ha), max(0, j0 - hr), min(m, j1 + hr)
    t0 = time.perf_counter()
    arrays = [np.ascontiguousarray(a[e0:e1, f0:f1]) for a in inputs[:5]]
    return arrays, time.perf_counter() - t0


def run_tile(inputs, outputs, names, calibration, config, i0, i1, j0, j1, n, m, ahead=None):
    """Read tile + halo, compute the tile's outputs (not the halo's) straight into their
    destination and write them: ``outputs`` a (k, n, m) array (the kernels write into
    its region: nothing left to write), or a ``ChunkFile`` (the kernels write into the
    tile's chunks of the file, mapped for the task). Returns
    the seconds spent reading, computing and writing. As the stage's ``compute_tile``
    overlaps its reads with compute: ``ahead``, a future of this tile's ``read_tile``
    (started while the previous tile computed)."""
    ha, hr = config.halo
    e0, e1, f0, f1 = max(0, i0 - ha), min(n, i1 + ha), max(0, j0 - hr), min(m, j1 + hr)
    from alignsar_core.runtime import tune_malloc

    tune_malloc()  # as the stage's compute_tile
    (vv, vh, vv_prev, vh_prev, removed), t_read = (ahead.result() if ahead is not None else
                                                   read_tile(inputs, config, i0, i1, j0, j1, n, m))
    region = (i0 - e0, i1 - e0, j0 - f0, j1 - f0)
    # the previous date's window powers: kept in memory by the stage from that date's
    # pass, laid out as the outputs
    t_write = 0.0
    if isinstance(outputs, ChunkFile):
        t0 = time.perf_counter()
        prev_powers = {p: np.ascontiguousarray(inputs[k][i0:i1, j0:j1]) for k, p in ((5, "VV"), (6, "VH"))}
        t_read += time.perf_counter() - t0
        t0 = time.perf_counter()
        mapped, chunks = outputs.tile_chunks(i0, j0)
        dest, origin = {name: chunks[k] for k, name in enumerate(names)}, (0, 0)
        t_write += time.perf_counter() - t0
    else:
        prev_powers = {"VV": inputs[5], "VH": inputs[6]}
        dest, origin = {name: outputs[k] for k, name in enumerate(names)}, (i0, j0)
    t1 = time.perf_counter()
    tile_signatures(vv, vh, vv_prev, vh_prev, removed, np.arange(e0, e1) + LINE_OFFSET, np.arange(f0, f1),
                    calibration, config, prev_powers, region=region, out=dest, origin=origin)
    t2 = time.perf_counter()
    if isinstance(outputs, ChunkFile):
        del dest, chunks
        mapped.close()  # (the chunks stay in the file: shared pages of tmpfs)
        t_write += time.perf_counter() - t2
    return t_read, t2 - t1, t_write


class ChunkFile:
    """The Dask tasks' output store: one file of tile-sized chunks on tmpfs, the chunks of
    one tile (every output k) side by side, each chunk contiguous (edge chunks padded to
    the full tile, as Zarr stores them). A task maps its tile's chunks (``tile_chunks``,
    pre-faulted with MAP_POPULATE) and the kernels write into them: each output byte is
    written once, as in the floor and the in-process runs. (One ``pwrite`` per chunk
    copied every output once more: 30 % of a task's time; a ``np.memmap`` of a (k, n, m)
    array made each task fault in every output page one by one: 2.1 s of 5.3 s on one
    worker.)"""

    def __init__(self, path, k, n, m, tile=TILE):
        self.path, self.k, self.n, self.m, self.tile = path, k, n, m, tile
        self.rows, self.cols = -(-n // tile[0]), -(-m // tile[1])
        self.nbytes = tile[0] * tile[1] * 4

    def create(self):
        with open(self.path, "wb") as f:
            f.truncate(self.k * self.rows * self.cols * self.nbytes)

    def _offset(self, i0, j0):
        return (i0 // self.tile[0] * self.cols + j0 // self.tile[1]) * self.k * self.nbytes

    def tile_chunks(self, i0, j0):
        """(mapping, (k, tile lines, tile samples) float32 array of it): the chunks of
        the tile at (i0, j0), writable; close the mapping when done."""
        import mmap

        fd = os.open(self.path, os.O_RDWR)
        try:
            mapped = mmap.mmap(fd, self.k * self.nbytes, flags=mmap.MAP_SHARED | getattr(mmap, "MAP_POPULATE", 0),
                               prot=mmap.PROT_READ | mmap.PROT_WRITE, offset=self._offset(i0, j0))
        finally:
            os.close(fd)
        return mapped, np.frombuffer(mapped, np.float32).reshape((self.k,) + tuple(self.tile))

    def read(self, k):
        """Output k assembled as an (n, m) array."""
        out = np.empty((self.n, self.m), np.float32)
        chunks = np.memmap(self.path, dtype=np.float32, mode="r",
                           shape=(self.rows, self.cols, self.k) + tuple(self.tile))
        for r in range(self.rows):
            for c in range(self.cols):
                i0, j0 = r * self.tile[0], c * self.tile[1]
                i1, j1 = min(self.n, i0 + self.tile[0]), min(self.m, j0 + self.tile[1])
                out[i0:i1, j0:j1] = chunks[r, c, k, :i1 - i0, :j1 - j0]
        return out


# ----------------------------------------------------------------------------- Dask worker side

def dask_task(paths, shape, names, calibration, config, bounds, measure):
    """One tile as a Dask task. The shared-memory inputs are mapped for the task only
    (like a read from a store) and its outputs written as chunks, so the worker keeps
    no burst-sized state. With ``measure``: (pid, private memory the task needed in MB) = RssAnon before
    + the peak of numpy allocations during the task (tracemalloc), and VmHWM."""
    import numba

    numba.set_num_threads(1)  # one core per worker: Dask parallelises over tiles
    n, m = shape
    if measure:
        base = _status("RssAnon")
        tracemalloc.start()
    ins = [np.load(p, mmap_mode="r") for p in paths[:-1]]
    times = run_tile(ins, ChunkFile(paths[-1], len(names), n, m), names, calibration, config, *bounds, n, m)
    del ins
    if measure:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        return os.getpid(), base + peak / 2**20, _status("VmHWM"), times
    return os.getpid(), 0.0, 0.0, times


# ----------------------------------------------------------------------------- main


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lines", type=int, default=1501)
    ap.add_argument("--samples", type=int, default=21632)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--workers", default="1,2", help="Dask worker counts to run ('' for none)")
    ap.add_argument("--skip-stages", action="store_true", help="skip the per-stage and speckle timings")
    ap.add_argument("--skip-reference", action="store_true", help="skip sarxarray / xarray-sentinel")
    ap.add_argument("--beta-gamma", action="store_true", help="also beta0 and gamma0 (linear and dB)")
    ap.add_argument("--zarr-dates", type=int, default=0,
                    help="also run the stage end to end (tiles.compute_tile) on a Zarr stack of this many dates")
    args = ap.parse_args()

    import numba

    from alignsar_core.signatures import coherence as co
    from alignsar_core.signatures import single_pol as sp
    from alignsar_core import speckle
    from alignsar_core.signatures.tiles import SignatureConfig

    n, m = args.lines, args.samples
    print(f"burst {n} x {m}, window {WINDOW}, tiles {TILE}, {os.cpu_count()} CPUs, "
          f"numba threads {numba.get_num_threads()}, load average {os.getloadavg()[0]:.2f}")
    luts, noise, cal_groups, lut_source = load_luts(m)
    print(f"calibration: {lut_source}")
    config = SignatureConfig(beta_gamma=args.beta_gamma)
    calibration = make_calibration(luts, noise, args.beta_gamma)
    names = output_names(calibration, config)
    print(f"outputs per burst-date ({len(names)}): {', '.join(names)}")

    rng = np.random.default_rng(0)

    def cg(scale):
        z = np.empty((n, m), np.complex64)
        z.real = rng.standard_normal((n, m), dtype=np.float32)
        z.imag = rng.standard_normal((n, m), dtype=np.float32)
        return z * np.float32(scale)

    vv = cg(120.0)
    vh = (0.3 * vv + cg(40.0)).astype(np.complex64)
    vv_prev = (0.7 * vv + cg(85.0)).astype(np.complex64)
    vh_prev = (0.5 * vh + cg(35.0)).astype(np.complex64)
    removed = (np.linspace(0, 60, m, dtype=np.float32)[None, :] + np.linspace(0, 5, n, dtype=np.float32)[:, None])
    inputs = [vv, vh, vv_prev, vh_prev, removed]
    slc_mb = (vv.nbytes + vh.nbytes) / 1e6
    in_bytes = sum(a.nbytes for a in inputs)
    from alignsar_core.signatures import fused
    from alignsar_core.signatures import tiles as st

    lines, pixels = np.arange(n) + LINE_OFFSET, np.arange(m)
    for p, s in (("VV", vv_prev), ("VH", vh_prev)):  # the previous date's powers (its own pass, not timed)
        inputs.append(fused.power(s, st.tile_calibration(calibration, p, lines, pixels, noise=False),
                                  config.coherence_window))
    out_bytes = len(names) * n * m * 4
    print(f"inputs: VV + VH {slc_mb:.0f} MB + previous VV + VH + removed phase = {in_bytes / 1e6:.0f} MB; "
          f"outputs: {len(names)} float32 arrays = {out_bytes / 1e6:.0f} MB")
    lines, pixels = np.arange(n) + LINE_OFFSET, np.arange(m)

    def row(label, best, median, floor, peak=None, extra=""):
        pk = f"  peak {peak:7.0f} MB" if peak is not None else ""
        ratio = f"{best / floor:6.1f}x floor" if floor else ""
        print(f"{label:52s} {best:7.3f} s (median {median:6.3f})  {slc_mb / best:7.0f} MB/s  {ratio}{pk}{extra}")

    # ---------------------------------------------------------------- floors
    outputs = np.empty((len(names), n, m), np.float32)
    outputs.fill(0)  # touch the pages once: runs below write into resident memory
    copies = [np.empty_like(a) for a in inputs[:5]]
    chunk = np.empty(1 << 20, np.uint8)

    def read_inputs():
        for a in inputs[:5]:
            b = a.reshape(-1).view(np.uint8)
            for s in range(0, b.size, chunk.size):
                np.copyto(chunk[: min(chunk.size, b.size - s)], b[s:s + chunk.size])

    def floor_io():
        read_inputs()
        outputs.fill(1.0)

    def floor_copy():
        for a, c in zip(inputs[:5], copies):
            np.copyto(c, a)

    f_io = best_of(args.repeat + 1, floor_io)
    f_cp = best_of(args.repeat + 1, floor_copy)
    del copies
    print("\n-- memory-bandwidth floor (plain numpy, one thread)")
    row(f"read inputs {in_bytes / 1e6:.0f} MB + write outputs {out_bytes / 1e6:.0f} MB", *f_io, None)
    row(f"copy inputs only ({in_bytes / 1e6:.0f} MB read + write)", *f_cp, None)
    floor = f_io[0]

    # ---------------------------------------------------------------- in-process tile loop
    print(f"\n-- all {len(names)} signatures of one burst-date ('x floor' = / read+write floor)")
    all_tiles = tiles(n, m)

    splits = []

    from concurrent.futures import ThreadPoolExecutor

    def in_process():
        times = []
        # the next tile's read overlaps this tile's compute (the outputs are written in place)
        with ThreadPoolExecutor(1) as reader:
            ahead = reader.submit(read_tile, inputs, config, *all_tiles[0], n, m)
            for k, b in enumerate(all_tiles):
                this = ahead
                if k + 1 < len(all_tiles):
                    ahead = reader.submit(read_tile, inputs, config, *all_tiles[k + 1], n, m)
                times.append(run_tile(inputs, outputs, names, calibration, config, *b, n, m, ahead=this))
        splits.append(np.sum(times, axis=0))

    in_process()  # compile / warm
    reset_peak()
    t = best_of(args.repeat, in_process)
    row(f"this process, tile loop, numba {numba.get_num_threads()} threads, reads overlapped", *t, floor,
        _status("VmHWM"))
    print(f"{'':52s} seconds summed over tiles (last run): read {splits[-1][0]:.2f}, "
          f"compute {splits[-1][1]:.2f}, write {splits[-1][2]:.2f}")
    reference = [_digest(o) for o in outputs]

    # tiles side by side: one thread per core, each tile on one numba thread (as a Dask
    # worker with a thread per core runs tile tasks); the kernels and numpy's loops
    # release the GIL, and no thread waits for another's part of a kernel
    cores = numba.get_num_threads()

    def one_tile(b):
        numba.set_num_threads(1)  # (per thread: this pool thread only)
        return run_tile(inputs, outputs, names, calibration, config, *b, n, m)

    def side_by_side():
        with ThreadPoolExecutor(cores) as pool:
            splits.append(np.sum(list(pool.map(one_tile, all_tiles)), axis=0))

    if cores > 1:
        side_by_side()
        reset_peak()
        t = best_of(args.repeat, side_by_side)
        row(f"this process, {cores} tiles at a time, 1 numba thread each", *t, floor, _status("VmHWM"))
        print(f"{'':52s} seconds summed over tiles (last run): read {splits[-1][0]:.2f}, "
              f"compute {splits[-1][1]:.2f}, write {splits[-1][2]:.2f}; "
              f"same outputs: {[_digest(o) for o in outputs] == reference}")

    # one tile's working memory (numpy allocations) in this process
    b = all_tiles[0]
    tracemalloc.start()
    run_tile(inputs, outputs, names, calibration, config, *b, n, m)
    tile_peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    print(f"{'':52s} one {TILE[0]} x {TILE[1]} tile: {tile_peak:.0f} MB of numpy allocations at its peak")

    # ---------------------------------------------------------------- per-stage breakdown
    mean_amp = np.sqrt(0.5 * (np.abs(vv) ** 2 + np.abs(vv_prev) ** 2)).astype(np.float32)  # stands in for 10 dates
    stages = {
        "amplitude + intensity + SLC phase (VV, VH)": lambda: [
            (sp.amplitude(s), sp.intensity(s), sp.slc_phase(s)) for s in (vv, vh)],
        "sigma0/beta0/gamma0 noise-removed, lin + dB (VV, VH)": lambda: [
            sp.backscatter_db(sp.calibrated_intensity(s, luts[p], lines, pixels, noise=noise[p]))
            for p, s in (("VV", vv), ("VH", vh))],
        "C2 (5 x 20) + H/alpha/DpRVI + RVI": lambda: _dual(vv, vh, luts, lines, pixels),
        "coherence (5 x 20, moving) + phase + ifg phase": lambda: (
            co.coherence(vv, vv_prev, WINDOW, removed, return_phase=True),
            sp.interferometric_phase(vv, vv_prev, removed)),
        # optional (ALIGNSAR_ADAPTIVE_COHERENCE_WINDOW): every pixel of the window tested
        "adaptive coherence 7 x 21 (one pair, VV)": lambda: co.adaptive_coherence(
            vv, vv_prev, mean_amp, (7, 21), 10, removed_phase=removed),
    }
    if args.skip_stages:
        stages = {}
    else:
        print("\n-- the same, by stage, whole burst in this process")
    for label, fn in stages.items():
        fn()
        reset_peak()
        row(label, *best_of(args.repeat, fn), None, _status("VmHWM"))

    # ---------------------------------------------------------------- reference libraries
    if not args.skip_reference:
        _references(args, vv, vv_prev, luts, cal_groups, lines, pixels, slc_mb, row)

    # ---------------------------------------------------------------- speckle filters
    if not args.skip_stages:
        print("\n-- speckle filters on one full-burst intensity (this process)")
        inten = sp.intensity(vv)
        stack4 = np.stack([inten, sp.intensity(vh), sp.intensity(vv_prev), inten * np.float32(0.5)])
        for label, fn in (("boxcar 7 x 7", lambda: speckle.boxcar(inten, 7)),
                          ("refined Lee 7 x 7", lambda: speckle.refined_lee(inten)),
                          ("Quegan & Yu, 4 dates, 7 x 7", lambda: speckle.quegan_yu(stack4, 7))):
            fn()
            reset_peak()
            row(label, *best_of(args.repeat, fn), None, _status("VmHWM"))
        del stack4, inten

    # ---------------------------------------------------------------- Dask
    del outputs
    if args.workers.strip():
        _dask_runs(args, inputs, reference, names, calibration, config, all_tiles, n, m, floor, row)
    if args.zarr_dates:
        del inputs, vv, vh, vv_prev, vh_prev, removed
        _zarr_stage(args, n, m, config)
    print(f"\nload average at the end: {os.getloadavg()[0]:.2f} (other processes share the {os.cpu_count()} CPUs)")


def _digest(a: np.ndarray) -> str:
    import hashlib

    return hashlib.blake2b(np.ascontiguousarray(a).view(np.uint8), digest_size=16).hexdigest()


def _dual(vv, vh, luts, lines, pixels):
    from alignsar_core.signatures import polarimetric as pol
    from alignsar_core.signatures import single_pol as sp

    z1 = sp.calibrated_complex(vv, luts["VV"][0], lines, pixels)
    z2 = sp.calibrated_complex(vh, luts["VH"][0], lines, pixels)
    c11, c22, c12 = pol.c2(z1, z2, WINDOW)
    return pol.dual_pol_decomposition(c11, c22, c12), pol.rvi_dual(c11, c22)


def _references(args, vv, vv_prev, luts, cal_groups, lines, pixels, slc_mb, row):
    import xarray as xr
    import xarray_sentinel

    from alignsar_core.signatures import coherence as co
    from alignsar_core.signatures import single_pol as sp

    print("\n-- against the reference libraries (same machine, same run; MB/s of one SLC: "
          f"{vv.nbytes / 1e6:.0f} MB)")
    one = vv.nbytes / 1e6
    try:
        import sarxarray
        from importlib.metadata import version

        dims = ("azimuth", "range")
        coords = {"azimuth": np.arange(vv.shape[0]), "range": np.arange(vv.shape[1])}
        a = xr.DataArray(vv, dims=dims, coords=coords)
        b = xr.DataArray(vv_prev, dims=dims, coords=coords)
        ref = sarxarray.complex_coherence(a, b, WINDOW).values
        t_ref = best_of(args.repeat, lambda: sarxarray.complex_coherence(a, b, WINDOW).compute())
        ours = co.multilook_coherence(vv, vv_prev, WINDOW)
        t_ours = best_of(args.repeat, lambda: co.multilook_coherence(vv, vv_prev, WINDOW))
        t_mov = best_of(args.repeat, lambda: co.coherence(vv, vv_prev, WINDOW))
        diff = float(np.nanmax(np.abs(ours - ref)))
        print(f"sarxarray {version('sarxarray')} complex_coherence 5 x 20 (multilook)   {t_ref[0]:7.3f} s  {one / t_ref[0]:7.0f} MB/s")
        print(f"ours multilook_coherence 5 x 20 (same estimator)    {t_ours[0]:7.3f} s  {one / t_ours[0]:7.0f} MB/s"
              f"  {t_ref[0] / t_ours[0]:5.1f}x faster, max |diff| {diff:.1e}")
        print(f"ours coherence 5 x 20 moving window (every pixel)   {t_mov[0]:7.3f} s  {one / t_mov[0]:7.0f} MB/s"
              f"  {t_ref[0] / t_mov[0]:5.1f}x faster (and {WINDOW[0] * WINDOW[1]}x the outputs)")
    except ImportError:
        print("sarxarray not installed: coherence comparison skipped")

    da = xr.DataArray(vv, dims=("line", "pixel"), coords={"line": lines, "pixel": pixels})
    lut = cal_groups["VV"]["sigmaNought"]
    ref = xarray_sentinel.calibrate_intensity(da, lut).values
    t_ref = best_of(args.repeat, lambda: xarray_sentinel.calibrate_intensity(da, lut))
    ours = sp.calibrated_intensity(vv, luts["VV"][0], lines, pixels)
    t_ours = best_of(args.repeat, lambda: sp.calibrated_intensity(vv, luts["VV"][0], lines, pixels))
    rel = float(np.nanmax(np.abs(ours - ref) / np.abs(ref)))
    print(f"xarray-sentinel {xarray_sentinel.__version__} calibrate_intensity sigma0        {t_ref[0]:7.3f} s  {one / t_ref[0]:7.0f} MB/s")
    print(f"ours calibrated_intensity sigma0                    {t_ours[0]:7.3f} s  {one / t_ours[0]:7.0f} MB/s"
          f"  {t_ref[0] / t_ours[0]:5.1f}x faster, max rel diff {rel:.1e}")


def _zarr_stage(args, n, m, config):
    """The signature stage end to end in this process: a synthetic stack store of
    ``--zarr-dates`` dates (the real IW1 burst 1 metadata and LUTs, random correlated
    SLCs) in the temporary directory (``TMPDIR=/dev/shm`` for tmpfs: on a disk the
    13 GB of outputs of 3 dates wait for write-back), then ``tiles.compute_tile`` over
    its 512 x 4096 tile grid (Zarr decode/encode, halo reads, every per-date, pair and
    time-series output)."""
    import json

    import xarray as xr

    from alignsar_core import store
    from alignsar_core.products.sentinel1 import list_bursts, open_product
    from alignsar_core.settings import shared_data_dir
    from alignsar_core.signatures import tiles as st

    safe = shared_data_dir() / "sentinel1" / "S1B_IW_SLC__1SDV_20210401T052622_20210401T052650_026269_032297_EFA4.SAFE"
    if not safe.is_dir():
        print("\n-- Zarr stage skipped: needs ../shared/data/sentinel1")
        return
    product = open_product(str(safe), metadata_only=True, allow_partial=True)
    burst = [b for b in list_bursts(product) if b.swath == "IW1"][1]
    n, m, nt = min(n, burst.lines), min(m, burst.samples), args.zarr_dates
    rng = np.random.default_rng(1)
    times = np.datetime64(burst.first_line_time, "ns") + np.arange(nt) * np.timedelta64(12, "D")

    def cg(scale):
        z = np.empty((n, m), np.complex64)
        z.real = rng.standard_normal((n, m), dtype=np.float32)
        z.imag = rng.standard_normal((n, m), dtype=np.float32)
        return z * np.float32(scale)

    with tempfile.TemporaryDirectory() as tmp:
        stack_url, sig_url = os.path.join(tmp, "stack.zarr"), os.path.join(tmp, "signatures.zarr")
        dims3, dims2 = ("time", "azimuth", "range"), ("azimuth", "range")
        base = {p: cg(s) for p, s in (("vv", 120.0), ("vh", 40.0))}
        shell = xr.Dataset(
            {**{f"slc_{p}": (dims3, np.zeros((nt, n, m), np.complex64)) for p in ("vv", "vh")},
             "removed_phase": (dims3, np.zeros((nt, n, m), np.float32)),
             **{k: (dims2, np.zeros((n, m), np.uint8 if k == "layover_shadow" else np.float32), {"units": "1"})
                for k in st.METADATA}},
            coords={"time": times, "azimuth_time": ("azimuth", np.zeros(n, "datetime64[ns]")),
                    "slant_range_time": ("range", np.zeros(m)), "line": ("azimuth", np.arange(n) + burst.line_offset),
                    "pixel": ("range", np.arange(m))},
            attrs={"stack_id": burst.stack_id, "burst": json.dumps(burst.to_dict()), "wavelength_m": 0.0555})
        chunks = {"time": 1, "azimuth": TILE[0], "range": TILE[1]}
        store.create_template(stack_url, shell.chunk(chunks), chunks)  # the stack's codecs, as the pipeline's
        g = store.open_group(stack_url)
        for t in range(nt):  # every date partly coherent with the first
            for p in ("vv", "vh"):
                g[f"slc_{p}"][t] = (0.8 * base[p] + cg(70.0 if p == "vv" else 25.0)).astype(np.complex64)
            g["removed_phase"][t] = np.float32(t) * np.linspace(0, 60, m, dtype=np.float32)[None, :] \
                + np.zeros((n, 1), np.float32)
        del base, shell
        stack_mb = sum(g[f"slc_{p}"].nbytes for p in ("vv", "vh")) / 1e6
        cal = st.load_calibration(dict(g.attrs), ["VV", "VH"])
        print(f"\n-- the stage end to end: tiles.compute_tile on a Zarr stack of {nt} dates (VV + VH, {stack_mb:.0f} MB "
              f"of SLC), {TILE[0]} x {TILE[1]} tiles, stores in {tmp}, this process")

        def run():
            st.create_signature_store(sig_url, stack_url, TILE, config, cal)
            return [st.compute_tile(stack_url, sig_url, tile, calibration=cal) for tile in st.tile_grid(sig_url)]

        run()  # warm
        reset_peak()
        last = []
        t = best_of(args.repeat, lambda: last.append(run()))
        split = {k: sum(r[k] for r in last[-1]) for k in ("read", "compute", "write")}
        out_mb = sum(a.nbytes for _, a in store.open_group(sig_url, mode="r").arrays()) / 1e6
        print(f"{nt} dates, {len(last[-1])} tiles: {t[0]:.2f} s (median {t[1]:.2f})  {stack_mb / t[0]:.0f} MB/s of "
              f"SLC, {t[0] / nt:.2f} s per burst-date; outputs {out_mb:.0f} MB (uncompressed)  peak {_status('VmHWM'):.0f} MB")
        print(f"{'':52s} seconds summed over tiles (last run): read {split['read']:.2f} (decode, halo included), "
              f"compute {split['compute']:.2f}, write {split['write']:.2f} (encode; overlapped with compute)")


def _dask_runs(args, inputs, reference, names, calibration, config, all_tiles, n, m, floor, row):
    from dask.distributed import Client, LocalCluster

    print(f"\n-- Dask: {len(all_tiles)} tasks of {TILE[0]} x {TILE[1]} + halo, LocalCluster processes, "
          "1 thread + 1 numba thread per worker")
    with tempfile.TemporaryDirectory(dir="/dev/shm" if os.path.isdir("/dev/shm") else None) as tmp:
        paths = []
        for k, a in enumerate(inputs):
            p = os.path.join(tmp, f"in{k}.npy")
            np.save(p, a)
            paths.append(p)
        paths.append(os.path.join(tmp, "out.f32"))
        store = ChunkFile(paths[-1], len(names), n, m)
        store.create()
        # workers x threads: 1 and 2 single-threaded workers, and one worker with a thread
        # per core (tiles side by side in one process, as the in-process run above)
        layouts = [(int(w), 1) for w in args.workers.split(",")]
        if (os.cpu_count() or 1) > 1:
            layouts.append((1, os.cpu_count()))
        for nw, nt in layouts:
            with LocalCluster(n_workers=nw, threads_per_worker=nt, processes=True, dashboard_address=None,
                              memory_limit="2GiB", env={"NUMBA_NUM_THREADS": "1"}) as cluster, Client(cluster) as client:
                cf, gf = client.scatter([calibration, config], broadcast=True)

                def run(measure=False):
                    futs = [client.submit(dask_task, paths, (n, m), names, cf, gf, b, measure, pure=False) for b in all_tiles]
                    return client.gather(futs)

                mem = run(measure=True)  # warm-up: numba cache load, page faults; memory per task
                last = []
                t = best_of(args.repeat, lambda: last.append(run()))
                split = np.sum([r[3] for r in last[-1]], axis=0)
                per_worker: dict[int, tuple[float, float]] = {}
                for pid, mb, hwm, _ in mem:
                    old = per_worker.get(pid, (0.0, 0.0))
                    per_worker[pid] = (max(old[0], mb), max(old[1], hwm))
                peaks = ", ".join(f"{a:.0f} private / {b:.0f} RSS" for a, b in per_worker.values())
                label = f"{nw} worker{'s' if nw > 1 else ''}" + (f" x {nt} threads" if nt > 1 else "")
                row(f"Dask, {label} (2 GiB memory limit each)", *t, floor, None,
                    f"  peak MB per worker: {peaks}")
                print(f"{'':52s} task seconds summed over tiles (last run): read {split[0]:.2f}, "
                      f"compute {split[1]:.2f}, write {split[2]:.2f}")
        same = [_digest(store.read(k)) for k in range(len(names))] == reference
        print(f"{'':52s} Dask tiles == whole-process tiles, bit for bit: {same}")


if __name__ == "__main__":
    main()
