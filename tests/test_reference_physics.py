"""Every env under a reference name steps as the reference's env of that name.

The recordings in ``tests/data/reference_physics`` were made once from the reference's own envs
(JaxGCRL 0.2.8, ``scripts/record_reference_physics.py``) on the backend the reference builds each
env on: one reset, then 30 steps under random actions. Here goalax's env of the same name starts
from the recorded joint state, takes the same actions through its own ``step`` (so the model,
control step, frame skip and action scaling all count) and must reach the same joint positions
and velocities. Float32 rounding differs a little between two models that hold the same bodies
in different arrays (the reference keeps its goal as a body in the model, goalax does not), and
contacts and MJX's few solver iterations magnify it step by step (cheetah on mjx: 7e-8 in q after
one step, 2e-5 after ten, 1e-2 after thirty; ant from a random start: 4e-3 in a velocity after
thirty; the arm's hand striking the cube or a bin wall, from step 9 on in some recordings, makes
the reference differ from its own recording as much when its start moves by 1e-6), so the first
``STEPS_COMPARED`` steps are held to the tolerances below. A real difference
(a mass 4.5% off: 0.09 in a velocity after one step; a geom that collides in one model only; a
control step twice as long) is orders of magnitude larger within them.
"""

import numpy as np
import pytest
import reference_physics
from fast_compile import fast_jit

from goalax.envs import REFERENCE_ENV_NAMES, env_class, make_env

Q_TOLERANCE = 1e-3
QD_TOLERANCE = 1e-2
STEPS_COMPARED = 8
RECORDINGS = reference_physics.recordings()


def test_every_reference_env_name_has_a_recording_on_its_reference_backend():
  recorded = {stem.split("__")[0]: stem.split("__")[1] for stem in RECORDINGS}
  assert "humanoid__spring__lying" in RECORDINGS  # its whole body touches the floor
  assert set(recorded) == set(REFERENCE_ENV_NAMES)
  for name, backend in recorded.items():
    assert env_class(name).reference_backend == backend, name


@pytest.mark.parametrize("stem", RECORDINGS)
def test_goalax_env_steps_as_the_reference_env_of_the_same_name(stem):
  name, backend = stem.split("__")[:2]
  data = reference_physics.load(stem)
  env = make_env(name, backend="reference")
  assert env.backend == backend
  np.testing.assert_allclose(env.dt, float(data["dt"]), rtol=1e-6, err_msg="control step")
  q, qd, ref_q, ref_qd = reference_physics.replay(env, data, jit=fast_jit)
  q_error = np.abs(q - ref_q).max(axis=1)[: STEPS_COMPARED + 1]
  qd_error = np.abs(qd - ref_qd).max(axis=1)[: STEPS_COMPARED + 1]
  assert q_error.max() < Q_TOLERANCE, f"q differs by {q_error.max():.3g} (per step {q_error})"
  assert qd_error.max() < QD_TOLERANCE, f"qd differs by {qd_error.max():.3g} (per step {qd_error})"
