"""``pgrad render``: a trained run's agents as a video, one labelled tile per seed.

Every frame is drawn by the environment's own renderer (Gymnasium's classic-control renderers
for pgrad's dynamics, through :func:`pgrad.make_vec` with ``render_mode="rgb_array"``); the
agents come from the public load API (:func:`pgrad.training.agent.agents`). Seed k's episodes
start from its evaluation stream, so its tile does not depend on which other seeds are shown.
A seed that has finished its episodes holds its last frame until the longest one ends.
"""

from __future__ import annotations

import importlib.util
import itertools
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from pgrad.training.agent import Agent

FORMATS = {".gif": "Pillow", ".mp4": "imageio-ffmpeg"}
"""Output formats by file extension, and the package that writes each."""

INSTALL = "pip install 'pgrad[render]'"
GIF_MAGIC, MP4_MAGIC = b"GIF8", b"ftyp"  # a GIF starts with the first, an MP4 holds the second at byte 4


@dataclass(frozen=True)
class Episode:
    """One finished episode of a seed: its undiscounted return and its length in steps."""

    seed: int
    index: int
    ret: float
    steps: int


def missing_packages(suffix: str) -> list[str]:
    """The packages ``pgrad render`` needs for a ``suffix`` video that are not installed."""
    needed = {"pygame": "pygame-ce", "PIL": "Pillow"}
    if suffix == ".mp4":
        needed["imageio_ffmpeg"] = "imageio-ffmpeg"
    return [package for module, package in needed.items() if importlib.util.find_spec(module) is None]


def existing_video(path: Path) -> bool:
    """Whether ``path`` is a GIF or MP4 file (what ``--force`` may replace)."""
    with open(path, "rb") as f:
        head = f.read(12)
    return head.startswith(GIF_MAGIC) or head[4:8] == MP4_MAGIC


@dataclass(frozen=True)
class VideoSpec:
    """What a video of ``n`` seeds will be: the environment's render_fps, the size of one tile, the
    steps an episode may take, the
    most frames it can have and the bytes the GIF writer holds for them (one byte per pixel)."""

    fps: float
    tile: tuple[int, int]
    limit: int
    max_frames: int
    bytes: int


def episode_limit(env_id: str, time_limit: int | None) -> int | None:
    """The most steps an episode of ``env_id`` can take (its time limit, else the config's)."""
    from pgrad.envs import DYNAMICS, _plain_id, gym_spec

    plain = _plain_id(env_id)
    own = DYNAMICS[plain].max_episode_steps if plain in DYNAMICS else gym_spec(env_id).max_episode_steps
    return own or time_limit


def video_spec(agent: Agent, n: int, episodes: int, max_steps: int | None) -> VideoSpec:
    """The VideoSpec of ``episodes`` episodes of ``n`` seeds like ``agent`` (one frame drawn to
    learn the tile size); a one-line ValueError if the episodes have no length limit."""
    from pgrad import make_vec

    limits = [x for x in (max_steps, episode_limit(agent.env_id, getattr(agent.config, "time_limit", None)))
              if x is not None]
    if not limits:
        raise ValueError(f"{agent.env_id} has no time limit; give --max-steps")
    limit = min(limits)
    env = make_vec(agent.env_id, 1, render_mode="rgb_array")
    try:
        env.reset(seed=0)
        h, w = first_frame(env).shape[:2]
        fps = float(env.metadata.get("render_fps") or 30)
    finally:
        env.close()
    rows, cols = grid(n)
    frames = episodes * (limit + 1)
    return VideoSpec(fps, (h, w), limit, frames, frames * rows * h * cols * w)


def first_frame(env: Any) -> np.ndarray:
    """The frame [H, W, 3] of a vector env's first environment."""
    return np.asarray(env.render()[0])


def _policy_obs(space: Any, obs: np.ndarray) -> np.ndarray:
    """Vector-env observations [1, ...] as the policy sees them: [1, obs_dim] floats (Discrete one-hot)."""
    if hasattr(space, "low"):
        return np.asarray(obs, np.float64).reshape(len(obs), -1)
    return np.eye(int(space.n))[np.asarray(obs) - int(space.start)]


def seed_frames(agent: Agent, episodes: int, greedy: bool, max_steps: int,
                finished: list[Episode]) -> Iterator[tuple[np.ndarray, int, float]]:
    """Seed ``agent.seed``'s frames, each with its episode index and the return so far: the first
    frame of each episode is its reset state, and an episode ends when the environment ends it or
    after ``max_steps`` steps. Appends each finished episode to ``finished``."""
    from pgrad import make_vec
    from pgrad.rollout import seed_streams

    rng = seed_streams(agent.seed)[1]
    env = make_vec(agent.env_id, 1, render_mode="rgb_array")
    try:
        obs, _ = env.reset(seed=int(rng.integers(2**31)))
        for e in range(episodes):
            if e:
                obs, _ = env.reset()
            total, steps, done = 0.0, 0, False
            yield first_frame(env), e, total
            while not done and steps < max_steps:
                action = agent.act(_policy_obs(env.single_observation_space, obs), greedy=greedy, rng=rng)
                obs, reward, terminated, truncated, _ = env.step(action.astype(env.action_space.dtype))
                total += float(reward[0])
                steps += 1
                done = bool(terminated[0] or truncated[0])
                yield first_frame(env), e, total
            finished.append(Episode(agent.seed, e, total, steps))
    finally:
        env.close()


def grid(n: int) -> tuple[int, int]:
    """(rows, columns) of the most nearly square grid holding n tiles."""
    cols = math.ceil(math.sqrt(n))
    return math.ceil(n / cols), cols


class Canvas:
    """Tiles [H, W, 3] of several seeds laid out in a grid, each labelled with its seed, episode
    and return so far; the whole padded to even sides (what H.264 needs)."""

    def __init__(self, tile_shape: tuple[int, ...], n: int, episodes: int) -> None:
        from PIL import ImageFont

        self.h, self.w = tile_shape[:2]
        self.rows, self.cols = grid(n)
        self.episodes = episodes
        height, width = self.rows * self.h, self.cols * self.w
        self.shape = (height + height % 2, width + width % 2, 3)
        self.font = ImageFont.load_default(size=max(12, self.h // 22))

    def compose(self, tiles: Sequence[np.ndarray], labels: Sequence[str]) -> Any:
        """One frame (a PIL image) of the tiles and their labels."""
        from PIL import Image, ImageDraw

        canvas = np.full(self.shape, 255, np.uint8)
        for k, tile in enumerate(tiles):
            r, c = divmod(k, self.cols)
            canvas[r * self.h:(r + 1) * self.h, c * self.w:(c + 1) * self.w] = tile
        image = Image.fromarray(canvas)
        draw = ImageDraw.Draw(image)
        for k, label in enumerate(labels):
            r, c = divmod(k, self.cols)
            x, y = c * self.w + 6, r * self.h + 4
            box = draw.textbbox((x, y), label, font=self.font)
            draw.rectangle((box[0] - 3, box[1] - 2, box[2] + 3, box[3] + 2), fill=(255, 255, 255))
            draw.text((x, y), label, fill=(0, 0, 0), font=self.font)
        return image

    def label(self, seed: int, episode: int, ret: float) -> str:
        ep = f"  episode {episode + 1}/{self.episodes}" if self.episodes > 1 else ""
        return f"seed {seed}{ep}  return {ret:.1f}"


def frames(agents: Sequence[Agent], episodes: int, greedy: bool, max_steps: int,
           finished: list[Episode]) -> Iterator[Any]:
    """The video's frames (PIL images): every seed's tile side by side, step by step."""
    streams = [seed_frames(a, episodes, greedy, max_steps, finished) for a in agents]
    latest = [next(s) for s in streams]
    canvas = Canvas(latest[0][0].shape, len(agents), episodes)
    live = [True] * len(streams)
    while True:
        labels = [canvas.label(a.seed, e, r) for a, (_, e, r) in zip(agents, latest, strict=True)]
        yield canvas.compose([tile for tile, _, _ in latest], labels)
        for k, stream in enumerate(streams):
            if live[k]:
                try:
                    latest[k] = next(stream)
                except StopIteration:
                    live[k] = False
        if not any(live):
            return


def write_gif(path: Path, images: Iterator[Any], fps: float) -> int:
    """Write ``images`` as a looping GIF at ``fps`` (one palette, from the first frame); frame count."""
    from PIL import Image

    first = next(images)
    palette = first.quantize(colors=255, dither=Image.Dither.NONE)
    rest = [im.quantize(palette=palette, dither=Image.Dither.NONE) for im in images]
    first.quantize(palette=palette, dither=Image.Dither.NONE).save(
        path, format="GIF", save_all=True, append_images=rest, duration=round(1000 / fps), loop=0,
        optimize=False)  # Pillow's optimizer takes ten times as long as the rest of the writing
    return 1 + len(rest)


def write_mp4(path: Path, images: Iterator[Any], fps: float) -> int:
    """Write ``images`` as an H.264 MP4 at ``fps`` through imageio-ffmpeg; frame count."""
    import imageio_ffmpeg  # type: ignore[import-untyped]

    first = next(images)
    writer = imageio_ffmpeg.write_frames(str(path), first.size, fps=fps, codec="libx264",
                                         macro_block_size=2, output_params=["-f", "mp4"])
    writer.send(None)  # start ffmpeg
    count = 0
    try:
        for image in itertools.chain([first], images):
            writer.send(np.asarray(image).tobytes())
            count += 1
    finally:
        writer.close()
    return count


WRITERS = {".gif": write_gif, ".mp4": write_mp4}
