"""Procedural Human3.6M-like motion: the 15 action families as smooth joint-angle trajectories.

A motion is a set of named anatomical angles (degrees) per frame plus a root path on the floor (x, y in mm
around the capture centre, heading in radians). Angles are body-model independent; ``hipart.body.anny_rig``
turns them into Anny bone rotations. Every angle is clipped to the anatomical range in LIMITS.

Sign conventions (the subject's own frame): flexion brings a limb forward (hip, shoulder) or bends it (knee,
elbow, spine forward, neck chin-down); abduction moves a limb away from the midline; spine/neck ``twist`` turns
to the subject's left, ``lat`` bends to the left; ankle is plantar flexion (toes down). Shoulder abduction 0 is
the arm hanging at the side. Axial rotations (``shoulder_rot``, ``hip_rot``, ``forearm_rot``) are positive for
internal rotation / pronation (the front of the limb turns towards the midline) on both sides; 0 is the neutral
position: the forearm bent forward in the sagittal plane, the feet pointing forward, the thumb pointing up when
the elbow is bent 90 degrees with the arm at the side. ``pelvis_twist`` turns the pelvis (the whole body but what
the hips turn back) to the subject's left of the heading ``yaw``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from hipart.errors import HipartError
from hipart.skeleton import H36M_ACTIONS

FPS = 50

SIDES = ("L", "R")
# Ranges of motion (degrees) of healthy adults, rounded: AAOS "Joint motion: method of measuring and recording"
# (1965) and Norkin & White, "Measurement of joint motion" (5th ed., 2016). Axial rotations: shoulder internal
# 70 / external 90, hip internal 40 / external 45 (AAOS: 45 / 45; internal set lower, nearer typical adults),
# forearm pronation 80 / supination 80 from the thumb-up mid position, thoracolumbar rotation 45. The pelvis
# turns about 4-5 degrees each way in walking (Perry & Burnfield, "Gait analysis", 2nd ed., 2010); 20 bounds
# it relative to the heading.
LIMITS: dict[str, tuple[float, float]] = {
    "pelvis_twist": (-20.0, 20.0),
    "spine_flex": (-20.0, 70.0), "spine_lat": (-30.0, 30.0), "spine_twist": (-45.0, 45.0),
    "neck_flex": (-40.0, 50.0), "neck_lat": (-30.0, 30.0), "neck_twist": (-70.0, 70.0),
}
for _s in SIDES:
    LIMITS.update({
        f"hip_flex_{_s}": (-20.0, 120.0), f"hip_abd_{_s}": (-15.0, 40.0), f"hip_rot_{_s}": (-45.0, 40.0),
        f"knee_{_s}": (0.0, 140.0), f"ankle_{_s}": (-25.0, 40.0),
        f"shoulder_flex_{_s}": (-45.0, 170.0), f"shoulder_abd_{_s}": (-5.0, 150.0), f"shoulder_rot_{_s}": (-90.0, 70.0),
        f"elbow_{_s}": (0.0, 145.0), f"forearm_rot_{_s}": (-80.0, 80.0),
    })
DOFS: tuple[str, ...] = tuple(LIMITS)

# Relaxed standing: soft knees, arms hanging slightly away from the body, elbows a little bent.
NEUTRAL: dict[str, float] = {
    **{f"knee_{s}": 4.0 for s in SIDES}, **{f"hip_flex_{s}": 2.0 for s in SIDES},
    **{f"shoulder_abd_{s}": 8.0 for s in SIDES}, **{f"elbow_{s}": 12.0 for s in SIDES},
    **{f"hip_abd_{s}": 2.0 for s in SIDES},
}
SEATED: dict[str, float] = {
    **{f"hip_flex_{s}": 88.0 for s in SIDES}, **{f"knee_{s}": 88.0 for s in SIDES},
    **{f"hip_abd_{s}": 8.0 for s in SIDES}, **{f"ankle_{s}": 2.0 for s in SIDES},
    **{f"shoulder_abd_{s}": 10.0 for s in SIDES}, **{f"shoulder_flex_{s}": 25.0 for s in SIDES},
    **{f"elbow_{s}": 60.0 for s in SIDES}, "spine_flex": 8.0,
}


@dataclass(frozen=True)
class Style:
    """How one subject moves: the same for all of that subject's actions."""

    speed: float = 1200.0  # walking speed, mm/s
    step: float = 680.0  # step length, mm
    arm_swing: float = 1.0  # gain on arm swing while walking
    tempo: float = 1.0  # gain on gesture frequency
    slouch: float = 4.0  # habitual forward spine flexion, degrees
    handed: str = "R"  # dominant hand for gestures
    toe_out: float = 5.0  # habitual femoral external rotation (feet turned out), degrees
    arm_roll: float = 5.0  # habitual humeral internal rotation of hanging arms, degrees
    pronation: float = 15.0  # habitual forearm pronation of hanging arms (palms turned back from the thighs)
    fidget: float = 1.0  # gain on the small, slow turning of the limbs and trunk about their axes

    @classmethod
    def draw(cls, rng: np.random.Generator) -> "Style":
        return cls(speed=float(rng.uniform(1000, 1400)), step=float(rng.uniform(600, 760)),
                   arm_swing=float(rng.uniform(0.6, 1.4)), tempo=float(rng.uniform(0.8, 1.25)),
                   slouch=float(rng.uniform(0.0, 10.0)), handed=str(rng.choice(["R", "R", "R", "L"])),
                   toe_out=float(rng.uniform(0.0, 10.0)), arm_roll=float(rng.uniform(-5.0, 15.0)),
                   pronation=float(rng.uniform(0.0, 30.0)), fidget=float(rng.uniform(0.8, 1.3)))


@dataclass
class Motion:
    action: str
    angles: dict[str, np.ndarray]  # degrees, (T,) each, every name of DOFS
    root_xy: np.ndarray  # (T, 2) mm, relative to the capture centre
    yaw: np.ndarray  # (T,) radians; 0 faces -y (Anny's front), positive turns to the subject's left
    fps: int = FPS
    seated: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))  # (T,) True while sitting

    @property
    def num_frames(self) -> int:
        return len(self.yaw)

    def take(self, frames: np.ndarray) -> "Motion":
        """The motion at chosen frame indices only (posing is per frame, so a subsample costs only its frames)."""
        idx = np.asarray(frames, dtype=np.int64)
        if idx.size and (idx.min() < 0 or idx.max() >= self.num_frames):
            raise HipartError(f"frame indices must lie in [0, {self.num_frames}); got {idx.min()}..{idx.max()}")
        seated = self.seated[idx] if len(self.seated) else self.seated
        return Motion(self.action, {k: v[idx] for k, v in self.angles.items()}, self.root_xy[idx], self.yaw[idx],
                      self.fps, seated)


# -- building blocks -----------------------------------------------------------------------------------------
def smooth_noise(rng: np.random.Generator, t: np.ndarray, amplitude: float, period: tuple[float, float] = (2.0, 8.0),
                 terms: int = 3) -> np.ndarray:
    """A smooth random signal in [-amplitude, amplitude]: a few sinusoids with random periods and phases.

    One period is drawn in each of `terms` equal slices of the range (log scale), so no two terms share a period
    and cancel each other: the signal's std over a few periods stays near 0.4 x amplitude."""
    lo, hi = period
    periods = lo * (hi / lo) ** ((np.arange(terms) + rng.uniform(0, 1, size=terms)) / terms)
    phases = rng.uniform(0, 2 * np.pi, size=terms)
    weights = rng.uniform(0.5, 1.0, size=terms)
    s = sum(w * np.sin(2 * np.pi * t / p + ph) for w, p, ph in zip(weights, periods, phases))
    return amplitude * s / weights.sum()


def smoothstep(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3 - 2 * x)


def episodes(rng: np.random.Generator, t: np.ndarray, on: tuple[float, float], off: tuple[float, float],
             ramp: float = 0.5) -> np.ndarray:
    """A 0..1 activation: random-length 'on' episodes separated by 'off' gaps, with smooth ramps (seconds)."""
    act = np.zeros_like(t)
    start = rng.uniform(0, off[1])
    while start < t[-1] + 1:
        length = rng.uniform(*on)
        rise = smoothstep((t - start) / ramp)
        fall = 1 - smoothstep((t - (start + length)) / ramp)
        act = np.maximum(act, rise * fall)
        start += length + ramp + rng.uniform(*off)
    return act


def keyposes(rng: np.random.Generator, t: np.ndarray, hold: tuple[float, float], draw: Callable[[], dict[str, float]],
             ramp: float = 0.8) -> dict[str, np.ndarray]:
    """Hold random key poses and blend smoothly between them (ramp seconds)."""
    keys, times = [draw()], [0.0]
    while times[-1] < t[-1]:
        times.append(times[-1] + rng.uniform(*hold))
        keys.append(draw())
    names = sorted(set().union(*keys))
    out = {n: np.full_like(t, keys[0].get(n, 0.0)) for n in names}
    for k in range(1, len(keys)):
        w = smoothstep((t - times[k]) / ramp)
        for n in names:
            out[n] = out[n] * (1 - w) + keys[k].get(n, 0.0) * w
    return out


FEET_PLANTED_FLEX = 0.25  # hip flexion per degree of pelvis turn that keeps both standing feet in place


def _turn_pelvis(a: dict, pelvis: np.ndarray, thorax: np.ndarray | float = 0.0, planted: bool = False) -> dict:
    """Turn the pelvis by `pelvis` degrees (to the left) with the feet kept where they point: the femurs turn
    back by as much (internal rotation on the left for a left turn, external on the right), and the spine turns
    so that the thorax turns by `thorax` degrees in the world. `planted` also keeps standing feet where they are
    (a left turn moves the left hip back, so that hip flexes and the right one extends; a quarter degree each,
    ankle offset / leg length, measured on the template). Adds to what `a` holds, in place; returns `a`."""
    a["pelvis_twist"] = a.get("pelvis_twist", 0.0) + pelvis
    a["hip_rot_L"] = a.get("hip_rot_L", 0.0) + pelvis
    a["hip_rot_R"] = a.get("hip_rot_R", 0.0) - pelvis
    a["spine_twist"] = a.get("spine_twist", 0.0) + thorax - pelvis
    if planted:
        a["hip_flex_L"] = a.get("hip_flex_L", NEUTRAL["hip_flex_L"]) + FEET_PLANTED_FLEX * pelvis
        a["hip_flex_R"] = a.get("hip_flex_R", NEUTRAL["hip_flex_R"]) - FEET_PLANTED_FLEX * pelvis
    return a


def gait(phase: np.ndarray, style: Style) -> dict[str, np.ndarray]:
    """Walking angles at gait phase (radians, left leg forward at 0, one stride per 2*pi)."""
    out: dict[str, np.ndarray] = {}
    for side, offset in (("L", 0.0), ("R", np.pi)):
        p = phase + offset
        swing = smoothstep((np.sin(p - 1.2) + 0.25) / 1.1) ** 2  # knee bends while the leg swings through
        out[f"hip_flex_{side}"] = 8 + 18 * np.cos(p)
        out[f"knee_{side}"] = 6 + 8 * np.clip(np.sin(p + 0.3), 0, None) + 52 * swing
        out[f"ankle_{side}"] = 6 * np.sin(p - 1.0)
        out[f"shoulder_flex_{side}"] = -16 * style.arm_swing * np.cos(p)  # arms swing against the legs
        out[f"elbow_{side}"] = 8 + 10 * style.arm_swing * (1 - np.cos(p)) / 2
    out["spine_lat"] = 2 * np.sin(phase)
    return out


PELVIS_TURN = 4.0  # degrees each way per stride in walking (Perry & Burnfield: 4-5 at free speed)
THORAX_TURN = 3.0  # the thorax turns the other way, with the arms


def gait_turns(phase: np.ndarray, style: Style) -> dict[str, np.ndarray]:
    """Axial rotations of walking, to add to a pose: the pelvis turns forward with the swinging leg, the femurs
    turn back under it so the feet keep pointing ahead, the thorax counter-rotates with the arms and the neck
    keeps the head on the path; the arms turn in a little and pronate as they swing forward."""
    pelvis = -PELVIS_TURN * style.step / 680.0 * np.cos(phase)  # left hip forward (turned right) at phase 0
    thorax = THORAX_TURN * style.arm_swing * np.cos(phase)
    out = _turn_pelvis({}, pelvis, thorax)
    out["neck_twist"] = -thorax
    for side, offset in (("L", 0.0), ("R", np.pi)):
        forward = -np.cos(phase + offset) * style.arm_swing  # the arm's forward swing, -1..1 (x arm_swing)
        out[f"shoulder_rot_{side}"] = 5 * forward
        out[f"forearm_rot_{side}"] = 10 * forward
    return out


def with_walking(base: dict, t: np.ndarray, speed: np.ndarray, style: Style, amount: np.ndarray) -> dict:
    """Blend walking into a base pose by `amount` (0..1) at the gait phase the travelled distance implies."""
    phase = _phase(t, speed, style)
    amount = np.asarray(amount, dtype=np.float64)
    out = _blend(base, {**base, **gait(phase, style)}, amount)
    _turn_pelvis(out, -amount * base.get("pelvis_twist", 0.0))  # walking squares the pelvis to the path
    for name, turn in gait_turns(phase, style).items():  # added to the base's own turning
        out[name] = out.get(name, NEUTRAL.get(name, 0.0)) + amount * turn
    return out


def walk_loop(rng: np.random.Generator, t: np.ndarray, speed: np.ndarray,
              radii: tuple[float, float] = (1100.0, 800.0)) -> tuple[np.ndarray, np.ndarray]:
    """Walk an ellipse around the capture centre at a (possibly varying) speed: root xy (mm) and yaw."""
    direction = rng.choice([-1.0, 1.0])
    a, b = radii[0] * rng.uniform(0.85, 1.0), radii[1] * rng.uniform(0.85, 1.0)
    mean_r = (a + b) / 2
    theta = rng.uniform(0, 2 * np.pi) + direction * np.cumsum(speed) / FPS / mean_r
    xy = np.stack([a * np.cos(theta), b * np.sin(theta)], axis=1)
    tangent = direction * np.stack([-a * np.sin(theta), b * np.cos(theta)], axis=1)
    return xy, heading(tangent)


def heading(direction: np.ndarray) -> np.ndarray:
    """Yaw that makes the subject face a world direction (dx, dy): the front is -y at yaw 0."""
    return np.unwrap(np.arctan2(direction[:, 0], -direction[:, 1]))


def standing_path(rng: np.random.Generator, t: np.ndarray, drift: float = 250.0,
                  turns: float = 0.6) -> tuple[np.ndarray, np.ndarray]:
    start = rng.uniform(-500, 500, size=2)
    xy = start + np.stack([smooth_noise(rng, t, drift, (6, 15)), smooth_noise(rng, t, drift, (6, 15))], axis=1)
    yaw = rng.uniform(-np.pi, np.pi) + smooth_noise(rng, t, turns, (5, 12))
    return xy, yaw


# -- the 15 action families ----------------------------------------------------------------------------------
def _arm(side: str, flex: np.ndarray | float, abd: np.ndarray | float, elbow: np.ndarray | float
         ) -> dict[str, np.ndarray | float]:
    return {f"shoulder_flex_{side}": flex, f"shoulder_abd_{side}": abd, f"elbow_{side}": elbow}


def _toward(a: dict, name: str, act: np.ndarray | float, target: np.ndarray | float) -> None:
    """Blend angle `name` of pose `a` towards `target` by activation `act` (0..1), in place."""
    a[name] = (1 - act) * a.get(name, NEUTRAL.get(name, 0.0)) + act * target


def _axial(rng: np.random.Generator, t: np.ndarray, style: Style) -> dict[str, np.ndarray]:
    """The subject's habitual axial rotations of arms, forearms and legs, slowly wandering: every family starts
    from these and turns limbs further where its action does."""
    f = style.fidget
    a = {}
    for s in SIDES:
        a[f"shoulder_rot_{s}"] = style.arm_roll + smooth_noise(rng, t, 15 * f, (2, 7))
        a[f"forearm_rot_{s}"] = style.pronation + smooth_noise(rng, t, 25 * f, (1.5, 6))
        a[f"hip_rot_{s}"] = -style.toe_out + smooth_noise(rng, t, 8 * f, (3, 9))
    return a


def _other(side: str) -> str:
    return "L" if side == "R" else "R"


def _standing(rng, t, style):
    a = {"spine_flex": style.slouch + smooth_noise(rng, t, 3), "spine_twist": smooth_noise(rng, t, 8),
         "neck_twist": smooth_noise(rng, t, 25, (3, 9)), "neck_flex": smooth_noise(rng, t, 8, (3, 9)),
         "spine_lat": smooth_noise(rng, t, 3)}
    a.update(_axial(rng, t, style))
    shift = smooth_noise(rng, t, 1.0, (4, 10))  # weight shift from one leg to the other
    for s, sign in (("L", 1), ("R", -1)):
        relaxed = np.clip(sign * shift, 0, None)  # this leg carries less weight: knee soft, foot turned out
        a[f"knee_{s}"] = 5 + 6 * relaxed
        a[f"hip_flex_{s}"] = 3 + 3 * relaxed
        a[f"hip_abd_{s}"] = 3 + 2 * shift * sign
        a[f"hip_rot_{s}"] = a[f"hip_rot_{s}"] - 10 * relaxed
    # The pelvis swivels over planted feet; the thorax follows it by a third.
    swivel = smooth_noise(rng, t, 10 * style.fidget, (3, 9))
    return _turn_pelvis(a, swivel, swivel / 3, planted=True)


def _seated(rng, t, style):
    a = dict(SEATED)
    a.update({"spine_flex": SEATED["spine_flex"] + style.slouch + smooth_noise(rng, t, 8, (4, 10)),
              "spine_twist": smooth_noise(rng, t, 12), "neck_twist": smooth_noise(rng, t, 30, (3, 9)),
              "neck_flex": 5 + smooth_noise(rng, t, 10, (3, 9))})
    a.update(_axial(rng, t, style))
    apart = smooth_noise(rng, t, 1.0, (4, 10))  # the knees drift apart (thighs rolling out) and back together
    for s in SIDES:
        a[f"knee_{s}"] = SEATED[f"knee_{s}"] + smooth_noise(rng, t, 15, (5, 12))
        a[f"hip_rot_{s}"] = a[f"hip_rot_{s}"] - 6 - 8 * apart  # seated, the thighs roll out
        # With the knees bent, rolling a thigh out swings its foot in; the knee moving out (abduction) as much
        # keeps the feet apart.
        roll_out = np.clip(-a[f"hip_rot_{s}"] - 4, 0, None)
        a[f"hip_abd_{s}"] = SEATED[f"hip_abd_{s}"] + smooth_noise(rng, t, 6, (5, 12)) + 0.8 * roll_out
        a[f"shoulder_flex_{s}"] = 25 + smooth_noise(rng, t, 12, (3, 8))
        a[f"elbow_{s}"] = 60 + smooth_noise(rng, t, 20, (3, 8))
        a[f"forearm_rot_{s}"] = a[f"forearm_rot_{s}"] + 20  # hands resting on the thighs, palms down
    return a


def _merge(*parts: dict) -> dict:
    out: dict = {}
    for p in parts:
        out.update(p)
    return out


def _blend(a: dict, b: dict, w: np.ndarray) -> dict:
    """(1-w)·a + w·b per angle; an angle missing on one side counts as its neutral value."""
    names = set(a) | set(b)
    return {n: (1 - w) * a.get(n, NEUTRAL.get(n, 0.0)) + w * b.get(n, NEUTRAL.get(n, 0.0)) for n in names}


def _hand_to(side, act, flex, abd, elbow, base=None):
    base = base or {}
    return {f"shoulder_flex_{side}": base.get("flex", 5) * (1 - act) + flex * act,
            f"shoulder_abd_{side}": base.get("abd", 8) * (1 - act) + abd * act,
            f"elbow_{side}": base.get("elbow", 12) * (1 - act) + elbow * act}


def act_directions(rng, t, style):
    xy, yaw = standing_path(rng, t, drift=400)
    h, o = style.handed, _other(style.handed)
    point = episodes(rng, t, (1.0, 2.5), (1.5, 4.0))
    gesture = 0.3 * episodes(rng, t, (1, 2), (3, 6))
    a = _merge(_standing(rng, t, style),
               _hand_to(h, point, 75 + smooth_noise(rng, t, 15), 25 + smooth_noise(rng, t, 15), 10),
               _hand_to(o, gesture, 40, 15, 60))
    # Pointing with the index finger: humerus turned in, palm down; the trunk turns towards the target.
    _toward(a, f"shoulder_rot_{h}", point, 20 + smooth_noise(rng, t, 15))
    _toward(a, f"forearm_rot_{h}", point, 65 + smooth_noise(rng, t, 12))
    _toward(a, f"forearm_rot_{o}", gesture / 0.3, -40)  # the other hand opens, palm up
    a["spine_twist"] = a["spine_twist"] + 15 * point * np.sign(rng.uniform(-1, 1))
    return a, xy, yaw


def act_discussion(rng, t, style):
    xy, yaw = standing_path(rng, t, drift=300, turns=0.9)
    a = _standing(rng, t, style)
    for s in SIDES:
        g = episodes(rng, t, (1.0, 3.0), (0.5, 2.0), ramp=0.4)
        rate, phase = 2 * np.pi * style.tempo * rng.uniform(0.8, 1.6), rng.uniform(0, 6)
        beat = np.sin(rate * t + phase)
        a.update(_hand_to(s, g, 35 + 15 * beat, 20 + 10 * beat, 85 + 20 * beat))
        # Open-hand gestures: the palms turn up and out as the hands open, and back as they close.
        _toward(a, f"forearm_rot_{s}", g, -30 + 35 * np.sin(rate / 2 * t + phase + 1.0))
        _toward(a, f"shoulder_rot_{s}", g, -10 - 15 * beat)
    a["neck_flex"] = a["neck_flex"] + 8 * np.sin(2 * np.pi * t * 0.7 * style.tempo)
    a["spine_twist"] = a["spine_twist"] + smooth_noise(rng, t, 12, (2, 6))  # addressing one listener, then another
    return a, xy, yaw


def act_eating(rng, t, style):
    xy, yaw = standing_path(rng, t, drift=30, turns=0.2)
    h, o = style.handed, _other(style.handed)
    bite = np.clip(np.sin(2 * np.pi * t * style.tempo / rng.uniform(3.0, 5.0)) * 1.6, 0, 1)
    a = _merge(_seated(rng, t, style), _hand_to(h, bite, 55, 20, 135, base={"flex": 30, "abd": 12, "elbow": 75}))
    # Cutting with the forearm pronated at the plate, turning palm-up on the way to the mouth; the other hand
    # holds the fork, pronated, sawing a little.
    saw = episodes(rng, t, (1.0, 2.5), (1.0, 3.0), ramp=0.3) * (1 - bite) * np.sin(2 * np.pi * 1.5 * t)
    a[f"forearm_rot_{h}"] = 55 * (1 - bite) - 35 * bite + smooth_noise(rng, t, 10, (1, 3))
    a[f"shoulder_rot_{h}"] = 20 * (1 - bite) + 12 * saw + smooth_noise(rng, t, 8, (2, 5))
    a[f"forearm_rot_{o}"] = 50 + 10 * saw + smooth_noise(rng, t, 15, (1, 4))
    a[f"shoulder_rot_{o}"] = 15 + 8 * saw + smooth_noise(rng, t, 12, (2, 5))
    a["neck_flex"] = a["neck_flex"] + 12 * bite
    a["spine_twist"] = a["spine_twist"] + smooth_noise(rng, t, 10, (3, 8))  # turning to the others at the table
    return a, xy, yaw, np.ones_like(t, dtype=bool)


def act_greeting(rng, t, style):
    walk = episodes(rng, t, (1.5, 3.0), (3.0, 6.0), ramp=0.6)
    xy0, yaw = standing_path(rng, t, drift=200, turns=0.5)
    speed = style.speed * 0.8 * walk
    forward = np.stack([np.sin(yaw), -np.cos(yaw)], axis=1)
    xy = xy0 + np.cumsum(forward * speed[:, None], axis=0) / FPS
    xy = _bounce(xy, 1100.0)
    h = style.handed
    wave = episodes(rng, t, (1.5, 3.0), (2.0, 4.0)) * (1 - walk)
    shake = episodes(rng, t, (1.0, 2.0), (2.0, 5.0)) * (1 - walk) * (1 - wave)
    osc = np.sin(2 * np.pi * 2.0 * style.tempo * t)
    pump = np.sin(2 * np.pi * 2.5 * style.tempo * t)
    a = _merge(with_walking(_standing(rng, t, style), t, speed, style, walk),
               _hand_to(h, wave, 20, 110, 80 + 10 * osc))
    # Waving: the raised upper arm turns out and back about its own axis, so the upright forearm swings side to
    # side, palm forward (supinated).
    _toward(a, f"shoulder_rot_{h}", wave, -55 + 20 * osc)
    _toward(a, f"forearm_rot_{h}", wave, -45)
    # Shaking hands: forearm in mid position (thumb up), the hand pumping at the elbow.
    for name, target in ((f"shoulder_flex_{h}", 35), (f"shoulder_abd_{h}", 10), (f"elbow_{h}", 55 + 10 * pump),
                         (f"shoulder_rot_{h}", 10), (f"forearm_rot_{h}", 0)):
        _toward(a, name, shake, target)
    a["spine_twist"] = a["spine_twist"] + 10 * (wave + shake) * np.sign(rng.uniform(-1, 1))  # towards the other
    return a, xy, yaw


def act_phoning(rng, t, style):
    walk = 0.6 * episodes(rng, t, (2.0, 4.0), (2.0, 5.0), ramp=0.8)
    xy0, yaw = standing_path(rng, t, drift=250, turns=0.8)
    speed = style.speed * 0.6 * walk
    xy = _bounce(xy0 + np.cumsum(np.stack([np.sin(yaw), -np.cos(yaw)], 1) * speed[:, None], 0) / FPS, 1100.0)
    h, o = style.handed, _other(style.handed)
    look = episodes(rng, t, (1.5, 3.0), (3.0, 6.0))  # now and then the phone comes down to look at the screen
    a = _merge(with_walking(_standing(rng, t, style), t, speed, style, walk / 0.6 * 0.7),
               _arm(h, 45 + smooth_noise(rng, t, 5) - 15 * look, 35 + smooth_noise(rng, t, 5) - 23 * look,
                    144 - 44 * look),
               _hand_to(o, episodes(rng, t, (1, 3), (2, 4)), 30, 15, 80))
    # At the ear the humerus is near neutral and the forearm a little supinated (palm to the cheek); at the
    # screen the humerus turns in to bring the phone in front and the forearm supinates (screen up).
    a[f"shoulder_rot_{h}"] = 5 * (1 - look) + 25 * look + smooth_noise(rng, t, 8, (2, 6))
    a[f"forearm_rot_{h}"] = -15 * (1 - look) - 60 * look + smooth_noise(rng, t, 10, (2, 6))
    _toward(a, f"forearm_rot_{o}", a[f"elbow_{o}"] / 80, -35 + 30 * np.sin(2 * np.pi * style.tempo * t))
    _toward(a, f"shoulder_rot_{o}", a[f"elbow_{o}"] / 80, -10)  # the free hand gestures, palm up
    a["neck_lat"] = (10.0 if h == "R" else -10.0) * (1 - look)
    a["neck_flex"] = a["neck_flex"] + 20 * look
    a["spine_twist"] = a["spine_twist"] + smooth_noise(rng, t, 10, (2, 6))
    return a, xy, yaw


def act_photo(rng, t, style):
    xy, yaw = standing_path(rng, t, drift=350, turns=0.9)
    h, o = style.handed, _other(style.handed)
    shoot = episodes(rng, t, (1.5, 3.5), (1.0, 3.0))
    portrait = episodes(rng, t, (1.0, 3.0), (3.0, 6.0))  # the camera turned upright
    crouch = np.clip(smooth_noise(rng, t, 1.0, (5, 10)), 0, 1) * 45
    a = _standing(rng, t, style)
    for s in SIDES:
        a.update(_hand_to(s, shoot, 70, 25, 125))
        _toward(a, f"shoulder_rot_{s}", shoot, 25)  # both hands in front of the face
        a[f"knee_{s}"] = a[f"knee_{s}"] + crouch
        a[f"hip_flex_{s}"] = a[f"hip_flex_{s}"] + 0.6 * crouch
        a[f"hip_rot_{s}"] = a[f"hip_rot_{s}"] - 0.25 * crouch  # knees out in the crouch
        a[f"ankle_{s}"] = -0.4 * crouch
    # The shutter hand grips the side of the camera, the other cradles the lens palm up; portrait turns both.
    _toward(a, f"forearm_rot_{h}", shoot, 10 + 60 * portrait)
    _toward(a, f"forearm_rot_{o}", shoot, -50 + 40 * portrait)
    a["spine_flex"] = a["spine_flex"] + 0.3 * crouch
    a["spine_twist"] = a["spine_twist"] + smooth_noise(rng, t, 15, (3, 8)) * shoot  # framing the shot
    return a, xy, yaw


def act_posing(rng, t, style):
    xy, yaw = standing_path(rng, t, drift=150, turns=0.7)

    def draw():
        pose = {f"{j}_{s}": float(rng.uniform(lo, hi)) for s in SIDES
                for j, lo, hi in (("shoulder_flex", -20, 140), ("shoulder_abd", 0, 130), ("elbow", 0, 130),
                                  ("shoulder_rot", -60, 50), ("forearm_rot", -60, 60), ("hip_rot", -30, 20))}
        lunge = rng.uniform(0, 1) < 0.3
        front = rng.choice(SIDES)
        pose.update({f"hip_flex_{front}": 35.0 if lunge else 3.0, f"knee_{front}": 45.0 if lunge else 5.0,
                     f"hip_abd_{front}": float(rng.uniform(0, 20)), f"hip_abd_{_other(front)}": float(rng.uniform(0, 15)),
                     "spine_lat": float(rng.uniform(-15, 15)), "spine_twist": float(rng.uniform(-30, 30)),
                     "spine_flex": float(rng.uniform(-10, 15)), "neck_twist": float(rng.uniform(-40, 40)),
                     "pelvis_twist": float(rng.uniform(-10, 10))})
        return pose

    a = _merge({"knee_L": 4.0, "knee_R": 4.0}, keyposes(rng, t, (1.5, 3.0), draw))
    for name, value in _axial(rng, t, style).items():  # held poses still drift a little
        a[name] = a[name] + 0.5 * (value - value.mean())
    return a, xy, yaw


def act_purchases(rng, t, style):
    walk = episodes(rng, t, (2.0, 4.0), (2.0, 4.0), ramp=0.7)
    reach = episodes(rng, t, (1.0, 2.0), (3.0, 6.0)) * (1 - walk)
    speed = style.speed * 0.7 * walk
    xy, yaw = walk_loop(rng, t, speed)
    h = style.handed
    a = _merge(with_walking(_standing(rng, t, style), t, speed, style, walk), _hand_to(h, reach, 80, 20, 15))
    # Reaching into a shelf: humerus turned in, palm down to take the item; the trunk turns to the shelf.
    _toward(a, f"shoulder_rot_{h}", reach, 20 + smooth_noise(rng, t, 10))
    _toward(a, f"forearm_rot_{h}", reach, 55 + smooth_noise(rng, t, 15))
    a["spine_twist"] = a["spine_twist"] + 12 * reach * np.sign(rng.uniform(-1, 1))
    a["spine_flex"] = a["spine_flex"] + 45 * reach
    for s in SIDES:
        a[f"knee_{s}"] = a[f"knee_{s}"] + 20 * reach
        a[f"hip_flex_{s}"] = a[f"hip_flex_{s}"] + 10 * reach
    return a, xy, yaw


def act_sitting(rng, t, style):
    xy, yaw = standing_path(rng, t, drift=20, turns=0.15)
    h = style.handed
    a = _seated(rng, t, style)
    lean = episodes(rng, t, (2.0, 5.0), (3.0, 6.0))
    gesture = episodes(rng, t, (1, 3), (2, 5))
    a["spine_flex"] = a["spine_flex"] + 20 * lean
    a.update(_hand_to(h, gesture, 45, 20, 100, base={"flex": 25, "abd": 10, "elbow": 60}))
    _toward(a, f"forearm_rot_{h}", gesture, -40 + 25 * np.sin(2 * np.pi * style.tempo * t))  # palm up, turning
    _toward(a, f"shoulder_rot_{h}", gesture, -10)
    return a, xy, yaw, np.ones_like(t, dtype=bool)


def act_sitting_down(rng, t, style):
    xy, yaw = standing_path(rng, t, drift=40, turns=0.2)
    seat = episodes(rng, t, (3.0, 6.0), (2.0, 4.0), ramp=1.5)  # 0 standing, 1 seated
    a = _blend(_standing(rng, t, style), _seated(rng, t, style), seat)
    # Sitting down and standing up lean the trunk forward mid-way, as people do to move their weight, with the
    # hands pushing on the thighs (palms down, humeri turned in).
    midway = np.sin(np.pi * seat)
    a["spine_flex"] = a["spine_flex"] + 30 * midway
    for s in SIDES:
        _toward(a, f"forearm_rot_{s}", midway, 65)
        _toward(a, f"shoulder_rot_{s}", midway, 25)
    return a, xy, yaw, seat > 0.5


def act_smoking(rng, t, style):
    xy, yaw = standing_path(rng, t, drift=200, turns=0.6)
    h, o = style.handed, _other(style.handed)
    puff = np.clip(np.sin(2 * np.pi * t * style.tempo / rng.uniform(5.0, 8.0)) * 2.0 - 0.6, 0, 1)
    flick = episodes(rng, t, (0.5, 1.0), (3.0, 6.0), ramp=0.2) * np.sin(2 * np.pi * 3.0 * t)  # tapping the ash
    hold = episodes(rng, t, (3.0, 6.0), (2.0, 5.0), ramp=0.8)  # the other arm across the waist
    a = _merge(_standing(rng, t, style), _hand_to(h, puff, 50, 25, 140, base={"flex": 15, "abd": 15, "elbow": 80}),
               _hand_to(o, hold, 15, 5, 95))
    # To the lips the humerus turns in and the forearm supinates (palm to the face); between puffs the hand
    # hangs pronated and flicks the ash off.
    a[f"shoulder_rot_{h}"] = 5 * (1 - puff) + 30 * puff + smooth_noise(rng, t, 6, (2, 5))
    a[f"forearm_rot_{h}"] = 30 * (1 - puff) - 35 * puff + 12 * flick * (1 - puff)
    _toward(a, f"shoulder_rot_{o}", hold, 45)
    _toward(a, f"forearm_rot_{o}", hold, 35)
    a["neck_flex"] = a["neck_flex"] - 8 * puff
    return a, xy, yaw


def act_waiting(rng, t, style):
    xy, yaw = standing_path(rng, t, drift=350, turns=1.0)
    folded = episodes(rng, t, (3.0, 6.0), (2.0, 5.0), ramp=0.8)
    a = _standing(rng, t, style)
    for s in SIDES:  # folding the arms turns both humeri in, the forearms across the chest
        a.update(_hand_to(s, folded, 10, 20, 115))
        _toward(a, f"shoulder_rot_{s}", folded, 60)
        _toward(a, f"forearm_rot_{s}", folded, 40)
    a["neck_twist"] = a["neck_twist"] * 1.5
    a["spine_twist"] = a["spine_twist"] * 1.5
    return a, xy, yaw


def act_walk_dog(rng, t, style):
    go = 0.4 + 0.6 * (1 - episodes(rng, t, (1.0, 2.0), (3.0, 6.0), ramp=0.6))
    speed = style.speed * 0.85 * go
    xy, yaw = walk_loop(rng, t, speed)
    h = style.handed
    a = _merge(with_walking(_standing(rng, t, style), t, speed, style, go),
               _arm(h, 35 + smooth_noise(rng, t, 8, (1, 3)), 12, 25))
    # The leash hand is pronated (knuckles forward); the dog's tugs turn the arm about its axis.
    a[f"forearm_rot_{h}"] = 50 + smooth_noise(rng, t, 15, (1, 3))
    a[f"shoulder_rot_{h}"] = 10 + smooth_noise(rng, t, 15, (1, 3))
    a["spine_flex"] = a["spine_flex"] + 10
    a["neck_flex"] = a["neck_flex"] + 15
    return a, xy, yaw


def act_walking(rng, t, style):
    speed = style.speed * (1 + smooth_noise(rng, t, 0.08, (4, 10)))
    xy, yaw = walk_loop(rng, t, speed)
    a = with_walking(_standing(rng, t, style), t, speed, style, np.ones_like(t))
    return a, xy, yaw


def act_walk_together(rng, t, style):
    speed = style.speed * 0.8 * (1 + smooth_noise(rng, t, 0.1, (4, 10)))
    xy, yaw = walk_loop(rng, t, speed)
    quiet = style.__class__(**{**style.__dict__, "arm_swing": style.arm_swing * 0.5})
    a = with_walking(_standing(rng, t, style), t, speed, quiet, np.ones_like(t))
    side = rng.choice([-1.0, 1.0])  # the companion walks on one side: look at them now and then
    talk = episodes(rng, t, (1.0, 3.0), (1.0, 3.0))
    a["neck_twist"] = side * (20 + 20 * talk)
    a["spine_twist"] = a["spine_twist"] + side * 8 * talk  # the shoulders turn to the companion too
    near = "L" if side > 0 else "R"
    gesture = episodes(rng, t, (1.0, 2.0), (3.0, 6.0)) * talk  # the near hand gestures, palm up
    for name, target in ((f"shoulder_flex_{near}", 20), (f"elbow_{near}", 70), (f"shoulder_rot_{near}", -15),
                         (f"forearm_rot_{near}", -40 + 20 * np.sin(2 * np.pi * style.tempo * t))):
        _toward(a, name, gesture, target)
    return a, xy, yaw


def _phase(t: np.ndarray, speed: np.ndarray, style: Style) -> np.ndarray:
    """Gait phase advancing one stride (two steps) per 2·step mm travelled."""
    return np.cumsum(speed) / FPS / (2 * style.step) * 2 * np.pi


def _bounce(xy: np.ndarray, radius: float) -> np.ndarray:
    """Keep a free path inside the capture area by reflecting it back at the boundary circle."""
    r = np.linalg.norm(xy, axis=1, keepdims=True)
    over = r > radius
    return np.where(over, xy * (2 * radius - r).clip(min=0) / np.maximum(r, 1e-9), xy)


ACTIONS: dict[str, Callable] = {
    "Directions": act_directions, "Discussion": act_discussion, "Eating": act_eating, "Greeting": act_greeting,
    "Phoning": act_phoning, "Posing": act_posing, "Purchases": act_purchases, "Sitting": act_sitting,
    "SittingDown": act_sitting_down, "Smoking": act_smoking, "Photo": act_photo, "Waiting": act_waiting,
    "Walking": act_walking, "WalkDog": act_walk_dog, "WalkTogether": act_walk_together,
}
assert tuple(ACTIONS) == H36M_ACTIONS
WALKING_ACTIONS = ("Walking", "WalkDog", "WalkTogether", "Purchases", "Greeting", "Phoning")
# Standing actions with both feet down throughout (Posing has lunges that lift a foot).
STANDING_ACTIONS = ("Directions", "Discussion", "Photo", "Smoking", "Waiting")


def motion_seed(subject: str, action: str, subaction: int, seed: int = 0) -> int:
    text = f"{seed}/{subject}/{action}/{subaction}".encode()
    return int.from_bytes(hashlib.sha256(text).digest()[:8], "little")


def generate_motion(action: str, style: Style, num_frames: int, seed: int) -> Motion:
    """One repetition of an action: angles for every DOF (clipped to LIMITS) and the root path."""
    if action not in ACTIONS:
        raise HipartError(f"unknown action '{action}'; choose from {', '.join(ACTIONS)}")
    if num_frames < 2:
        raise HipartError(f"a motion needs at least 2 frames, got {num_frames}")
    rng = np.random.default_rng(seed)
    t = np.arange(num_frames) / FPS
    result = ACTIONS[action](rng, t, style)
    angles, xy, yaw = result[:3]
    seated = result[3] if len(result) > 3 else np.zeros(num_frames, dtype=bool)
    full = {}
    for name in DOFS:
        value = np.broadcast_to(np.asarray(angles.get(name, NEUTRAL.get(name, 0.0)), dtype=np.float64), t.shape)
        lo, hi = LIMITS[name]
        full[name] = np.clip(value, lo, hi).copy()
    return Motion(action, full, np.asarray(xy, dtype=np.float64), np.asarray(yaw, dtype=np.float64), FPS,
                  np.asarray(seated, dtype=bool))
