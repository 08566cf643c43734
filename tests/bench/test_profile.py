"""`bench profile NAME`: every part of a step timed, the sums consistent, a backend without the hook
refused in one line. No timing is asserted: only that the printed figures agree with each other."""

import pytest

from bench.profile import PART_NAMES, part_flops
from core.spec import flops_per_sample
from tests.conftest import run_cli

pytestmark = pytest.mark.slow  # processes end to end: a minute or more in all

SMALL = ("--rows", "60", "--repeat", "2", "--ceiling-n", "64")


def profile(idx_dir, *args):
    return run_cli("profile", *args, "--data-dir", str(idx_dir), "--unverified")


def table(stdout: str) -> dict[str, list[str]]:
    """{part: its columns} from the printed table (the part's name may hold spaces)."""
    rows = {}
    for line in stdout.splitlines():
        cells = line.split("  ")
        cells = [c.strip() for c in cells if c.strip()]
        if len(cells) >= 4 and cells[0] not in ("part",) and not cells[0].startswith("-"):
            rows[cells[0]] = cells[1:]
    return rows


def check_sums(stdout: str, parts) -> None:
    rows = table(stdout)
    assert set(parts) | {"sum of parts", "full step (train)"} <= set(rows), stdout
    ms = {label: float(rows[label][0]) for label in rows}
    assert sum(ms[p] for p in parts) == pytest.approx(ms["sum of parts"], abs=0.001 * len(parts) + 1e-9)
    step = ms["full step (train)"]
    fraction = float(stdout.split("the parts account for ")[1].split("%")[0])
    assert fraction == pytest.approx(100 * ms["sum of parts"] / step, abs=0.1 + 100 * 0.0005 * len(parts) / step)
    shares = {label: float(rows[label][-3]) for label in ms if rows[label][-3] != ""}
    assert sum(shares[p] for p in parts) == pytest.approx(shares["sum of parts"], abs=0.05 * len(parts) + 0.05)


def test_the_flop_counts_of_the_parts_add_up_to_the_step():
    for layers, batch in [((784, 36, 10), 10), ((784, 17, 10), 7)]:
        flops = part_flops(layers, batch)
        assert tuple(flops) == PART_NAMES
        assert sum(flops.values()) == pytest.approx(flops_per_sample(layers, batch))
    assert part_flops((784, 12, 8, 10), 10) == {}


def test_numba_tuned_prints_every_part_and_consistent_sums(idx_dir):
    pytest.importorskip("numba")
    done = profile(idx_dir, "numba-tuned", *SMALL)
    assert done.returncode == 0, done.stderr
    check_sums(done.stdout, PART_NAMES)
    assert "measured: numba-tuned, 60 samples (6 batches of 10) a round, median of 2 rounds" in done.stdout
    assert "float32, 1 thread(s)" in done.stdout and "ceiling" in done.stdout


def test_a_backend_without_the_hook_is_refused_in_one_line(idx_dir):
    done = profile(idx_dir, "numpy-plain", *SMALL)
    assert done.returncode == 2
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: numpy-plain has no `profile_parts` hook"), done.stderr
    assert done.stdout == ""


def test_a_backend_with_no_parts_for_the_configuration_is_refused(idx_dir):
    pytest.importorskip("numba")
    done = profile(idx_dir, "numba-tuned", *SMALL, "--layers", "784,12,8,10")
    assert done.returncode == 2
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "offers no profile parts for this configuration" in lines[0], done.stderr


def test_any_backend_may_offer_parts_of_its_own(idx_dir, tmp_path):
    """A module file whose hook names one known part and one the command has no FLOP count for."""
    module = tmp_path / "profiled.py"
    module.write_text(
        "from backends.numpy_plain import *\n"
        "from backends.numpy_plain import load, load_data, predict, train, weights\n"
        "name = 'numpy-profiled'\n"
        "def profile_parts(model, data, rows, batch_size, lr):\n"
        "    return {'forward 1': lambda: weights(model), 'everything else': lambda: train(model, data, rows, batch_size, lr)}\n"
    )
    done = profile(idx_dir, str(module), *SMALL, "--dtype", "float64")
    assert done.returncode == 0, done.stderr
    check_sums(done.stdout, ["forward 1", "everything else"])
    rows = table(done.stdout)
    assert rows["everything else"][-2:] == ["-", "-"]  # no FLOP count for a name of its own
    assert rows["forward 1"][-2] != "-"
