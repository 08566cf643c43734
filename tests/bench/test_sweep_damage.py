"""Random damage to a sweep's files against every reader of them: each ends in a result or in a
one-line UserError, never another exception. sweep.csv is read by the report (`--report`), by
--resume (which points are done) and by `bench scaling --replot`; grid files by `--grid-file`; the
manifest by `--resume SWEEP_ID`.

Hypothesis does not shrink here (no Phase.shrink): a failure is shown as found, without minutes spent
minimising it.
"""

import json
import tempfile
import warnings
from pathlib import Path

from hypothesis import Phase, example, given, settings
from hypothesis import strategies as st

from bench.scaling_report import read_scaling
from bench.sweep import read_sweep, render_report
from core.errors import UserError
from core.sweep import MAX_POINTS, Manifest, done_points, parse_grid, read_grid_file, read_rows, size
from tests.bench.test_sweep_hostile import write_sweep

FUZZ = settings(max_examples=40, deadline=None, phases=(Phase.explicit, Phase.reuse, Phase.generate))
PAYLOADS = [b",", b"\n", b'"', b"\r", b"\x00", b"\xff\xfe", b"nan", b"inf", b"-1", b"1_000", b"1e309", b"abc", b""]


def _sweep_csv() -> bytes:
    with tempfile.TemporaryDirectory() as folder:
        write_sweep(Path(folder), "hidden=8,16;batch=1,10;seed=0-1")
        return (Path(folder) / "sweep.csv").read_bytes()


SWEEP_CSV = _sweep_csv()


@st.composite
def damaged(draw, original: bytes) -> bytes:
    """`original` after one to four edits: cut short, a span deleted, bytes inserted or overwritten."""
    data = original
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(data)))
        kind = draw(st.sampled_from(["cut", "delete", "insert", "overwrite"]))
        payload = draw(st.sampled_from(PAYLOADS) | st.binary(max_size=8))
        if kind == "cut":
            data = data[:at]
        elif kind == "delete":
            data = data[:at] + data[at + draw(st.integers(1, 40)) :]
        elif kind == "insert":
            data = data[:at] + payload + data[at:]
        else:
            data = data[:at] + payload + data[at + len(payload) :]
    return data


def ends_well(read) -> str:
    """'result' or 'refused' (a one-line UserError); any other exception fails the test."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # warnings about skipped lines are expected
        try:
            read()
        except UserError as exc:
            assert "\n" not in str(exc), repr(str(exc))
            return "refused"
    return "result"


@FUZZ
@given(damaged(SWEEP_CSV))
@example(SWEEP_CSV)
@example(SWEEP_CSV.replace(b"784,8,10", b"784,8.5,10", 1))
@example(SWEEP_CSV.replace(b",0.5,", b",inf,", 1))
def test_a_damaged_sweep_csv_gives_every_reader_a_result_or_one_line(data):
    with tempfile.TemporaryDirectory() as folder:
        results = Path(folder)
        (results / "sweep.csv").write_bytes(data)

        def report():
            points, sweep = read_sweep(results)
            render_report(points, sweep, None)

        ends_well(report)
        ends_well(lambda: done_points(results / "sweep.csv", "sw-0123456789"))
        ends_well(lambda: read_rows(results / "sweep.csv"))
        ends_well(lambda: read_scaling(results))


GRID_FILES = {
    ".toml": b'[grid]\nhidden = [16, 36]\nseed = "0-2"\nlr = 3.0\nlayers = [[784, 64, 10]]\n'.replace(
        b"hidden = [16, 36]\n", b""
    ),
    ".yaml": b"hidden: [16, 36]\nseed: 0-2\nlr: 3.0\nactivation: [sigmoid, relu]\n",
}


@FUZZ
@given(st.sampled_from(sorted(GRID_FILES)).flatmap(lambda s: st.tuples(st.just(s), damaged(GRID_FILES[s]))))
@example((".yaml", b"layers: [&a [784, 10], [*a, *a]]\n"))  # an alias cannot nest lists without end
@example((".yaml", b"seed: 0-99999999999999999999\n"))
@example((".toml", b'[grid]\nseed = "0-1000000000000"\n'))
def test_a_damaged_grid_file_gives_a_grid_or_one_line(case):
    suffix, data = case
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"grid{suffix}"
        path.write_bytes(data)
        grids = []
        assert ends_well(lambda: grids.append(read_grid_file(path))) in ("result", "refused")
        assert all(size(g) <= MAX_POINTS for g in grids)


@FUZZ
@given(st.text(max_size=80) | st.text(alphabet="hidenbatchsedlr=0123456789-,; ", max_size=80))
def test_any_grid_text_gives_a_grid_or_one_line(text):
    grids = []
    ends_well(lambda: grids.append(parse_grid(text)))
    assert all(size(g) <= MAX_POINTS for g in grids)


MANIFEST = json.dumps(
    {
        "sweep_id": "sw-0123456789",
        "grid": "hidden=8;seed=0,1",
        "backends": ["numpy-tuned"],
        "epochs": 2,
        "budget_s": None,
        "data_dir": "/data",
        "unverified": False,
        "points": 2,
        "created_utc": "2025-01-01T00:00:00+00:00",
        "workers": 1,
    },
    indent=1,
).encode()


@FUZZ
@given(damaged(MANIFEST))
@example(MANIFEST.replace(b'"workers": 1', b'"workers": "1"'))
@example(MANIFEST.replace(b'["numpy-tuned"]', b"5"))
def test_a_damaged_manifest_gives_a_manifest_or_one_line(data):
    with tempfile.TemporaryDirectory() as folder:
        path = Manifest.path(Path(folder), "sw-0123456789")
        path.parent.mkdir(parents=True)
        path.write_bytes(data)
        ends_well(lambda: Manifest.read(Path(folder), "sw-0123456789"))
