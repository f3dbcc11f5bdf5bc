"""``pgrad render``: the videos decode with the expected frames and size, tiles are each seed's
own, and every bad input is one line, exit code 2, with nothing written."""

import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from pgrad import render
from pgrad.cli import main
from pgrad.training.agent import agents

CARTPOLE_TILE = (600, 400)  # Gymnasium's CartPole frame: width, height


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("render") / "run"
    assert main(["train", "--seeds", "0-2", "--out", str(out), "--quiet"]) == 0
    return out


def printed_episodes(text):
    """(seed, episode, return, steps) of every 'seed S episode E: return R (N steps)' line."""
    rows = []
    for line in text.splitlines():
        if line.startswith("seed "):
            head, tail = line.split(": return ")
            ret, steps = tail.split(" (")
            rows.append((int(head.split()[1]), int(head.split()[3]), float(ret), int(steps.split()[0])))
    return rows


def gif_frames(path):
    with Image.open(path) as im:
        return im.n_frames, im.size


def mp4_frames(path):
    import imageio_ffmpeg

    reader = imageio_ffmpeg.read_frames(str(path))
    meta = next(reader)
    return sum(1 for _ in reader), tuple(meta["size"])


def test_gif_of_one_episode_has_a_frame_per_step_and_the_reset(run_dir, tmp_path, capsys):
    out = tmp_path / "cartpole.gif"
    assert main(["render", str(run_dir), "--out", str(out)]) == 0
    ((seed, episode, ret, steps),) = printed_episodes(capsys.readouterr().out)
    assert (seed, episode) == (0, 1)
    assert ret == steps  # CartPole pays 1 per step
    assert gif_frames(out) == (steps + 1, CARTPOLE_TILE)


def test_mp4_of_several_seeds_and_episodes_tiles_them_and_lasts_the_longest(run_dir, tmp_path, capsys):
    out = tmp_path / "grid.mp4"
    assert main(["render", str(run_dir), "--seeds", "0-2", "--episodes", "2", "--max-steps", "40",
                 "--out", str(out)]) == 0
    rows = printed_episodes(capsys.readouterr().out)
    assert sorted((s, e) for s, e, _, _ in rows) == [(s, e) for s in range(3) for e in (1, 2)]
    per_seed = {s: sum(n + 1 for t, _, _, n in rows if t == s) for s in range(3)}
    assert all(n <= 40 for *_, n in rows)
    # three seeds: a 2 x 2 grid of 600 x 400 tiles; the video lasts as long as the longest seed
    assert mp4_frames(out) == (max(per_seed.values()), (1200, 800))


def test_max_steps_cuts_the_episode_and_fps_is_the_environments(run_dir, tmp_path, capsys):
    out = tmp_path / "short.gif"
    assert main(["render", str(run_dir), "--max-steps", "10", "--out", str(out)]) == 0
    assert printed_episodes(capsys.readouterr().out)[0][3] == 10
    assert gif_frames(out)[0] == 11
    with Image.open(out) as im:
        assert im.info["duration"] == 20  # CartPole's render_fps is 50


def test_a_seeds_tile_is_its_own_whatever_else_is_shown(run_dir):
    """Seed 1's frames alone equal its tile in a render of seeds 0 and 1 (label included)."""
    by_seed = {a.seed: a for a in agents(run_dir)}
    alone = [np.asarray(im) for im in render.frames([by_seed[1]], 1, True, 30, [])]
    pair = [np.asarray(im) for im in render.frames([by_seed[0], by_seed[1]], 1, True, 30, [])]
    assert len(pair) >= len(alone) > 1
    h, w = alone[0].shape[:2]
    for k, frame in enumerate(pair):
        assert np.array_equal(frame[:h, w:2 * w], alone[min(k, len(alone) - 1)])


def test_sampled_and_greedy_renders_are_reproducible(run_dir, tmp_path):
    for mode in ("--greedy", "--sampled"):
        a, b = tmp_path / f"a{mode}.gif", tmp_path / f"b{mode}.gif"
        for out in (a, b):
            assert main(["render", str(run_dir), mode, "--max-steps", "30", "--out", str(out)]) == 0
        assert a.read_bytes() == b.read_bytes()


def test_the_label_shows_seed_episode_and_return_in_the_corner(run_dir):
    agent = agents(run_dir)[0]
    tiles = list(render.seed_frames(agent, 1, True, 5, []))
    canvas = render.Canvas(tiles[0][0].shape, 1, 2)
    assert canvas.label(0, 1, 12.0) == "seed 0  episode 2/2  return 12.0"
    frame = np.asarray(canvas.compose([tiles[-1][0]], [canvas.label(0, 0, tiles[-1][2])]))
    changed = np.argwhere((frame != tiles[-1][0]).any(axis=2))
    assert changed.size and changed[:, 0].max() < 60 and changed[:, 1].max() < 400  # top-left corner only


@pytest.mark.parametrize("args, message", [
    (["--out", "{tmp}/x.avi"], "unknown video format '.avi'; accepted: .gif, .mp4"),
    (["--out", "{tmp}/x.gif", "--episodes", "0"], "--episodes must be a positive integer, got 0"),
    (["--out", "{tmp}/x.gif", "--max-steps", "-1"], "--max-steps must be a positive integer, got -1"),
    (["--out", "{tmp}/x.gif", "--fps", "0"], "--fps must be in (0, 1000], got 0.0"),
    (["--out", "{tmp}/x.gif", "--fps", "nan"], "--fps must be in (0, 1000], got nan"),
    (["--out", "{tmp}/x.gif", "--seeds", "7"], "holds no seed 7; it holds 0, 1, 2"),
    (["--out", "{tmp}/missing/x.gif"], "does not exist"),
    (["--out", "{tmp}/x.gif", "--greedy", "--sampled"], "not allowed with argument"),
])
def test_bad_input_is_one_line_and_exit_2_with_nothing_written(run_dir, tmp_path, capsys, args, message):
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    before = sorted(tmp_path.rglob("*"))
    assert main(["render", str(run_dir), *args]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("pgrad: error: ") and message in err[0]
    assert sorted(tmp_path.rglob("*")) == before


def test_an_existing_file_is_kept_unless_forced_and_only_a_video_is_replaced(run_dir, tmp_path, capsys):
    notes = tmp_path / "notes.gif"
    notes.write_text("my notes")
    for force in ([], ["--force"]):
        assert main(["render", str(run_dir), "--max-steps", "5", "--out", str(notes), *force]) == 2
        assert notes.read_text() == "my notes"
    err = capsys.readouterr().err.splitlines()
    assert "exists; pass --force to replace it" in err[0]
    assert "is not a GIF or MP4 file; pgrad replaces only videos" in err[1]
    video = tmp_path / "v.gif"
    assert main(["render", str(run_dir), "--max-steps", "5", "--out", str(video)]) == 0
    assert main(["render", str(run_dir), "--max-steps", "8", "--out", str(video), "--force"]) == 0
    assert gif_frames(video)[0] == 9
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".pgrad-tmp")]


def test_a_damaged_run_folder_is_one_line(tmp_path, capsys):
    (tmp_path / "run").mkdir()
    assert main(["render", str(tmp_path / "run"), "--out", str(tmp_path / "x.gif")]) == 2
    assert "cannot read run folder" in capsys.readouterr().err


@pytest.mark.parametrize("blocked, suffix, named", [("imageio_ffmpeg", ".mp4", "imageio-ffmpeg"),
                                                   ("pygame", ".gif", "pygame-ce")])
def test_without_the_render_extra_one_line_names_the_install_command(run_dir, tmp_path, blocked, suffix,
                                                                     named):
    code = (f"import sys; sys.modules[{blocked!r}] = None; from pgrad.cli import main; "
            f"sys.exit(main(['render', {str(run_dir)!r}, '--out', {str(tmp_path / ('x' + suffix))!r}]))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.strip() == f"pgrad: error: pgrad render needs {named}: pip install 'pgrad[render]'"
    assert list(tmp_path.iterdir()) == []
