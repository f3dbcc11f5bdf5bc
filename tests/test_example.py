"""examples/custom_loop.py runs and learns."""

import pathlib
import runpy

EXAMPLE = pathlib.Path(__file__).parents[1] / "examples" / "custom_loop.py"


def test_custom_loop_example_learns(capsys):
    runpy.run_path(str(EXAMPLE), run_name="__main__")
    lines = capsys.readouterr().out.splitlines()
    first, last = float(lines[0].split()[-1]), float(lines[-2].split()[-1])
    assert first < 100 and last >= 475
