"""Loading MJCF models relative to installed packages, never to the working directory.

The classic bodies (ant, reacher, half cheetah, pusher) come from the XML files that ship inside
the installed ``brax`` package; goalax edits them in memory (removes the reference's goal bodies,
adds maze walls, ...) instead of keeping modified copies. goalax's own models live in
``goalax/envs/assets/``.
"""

from __future__ import annotations

import importlib.resources
import xml.etree.ElementTree as ET

import mujoco
from brax.io import mjcf


def brax_model_xml(file_name: str) -> ET.Element:
  """Parses ``brax/envs/assets/<file_name>`` and returns its root element."""
  path = importlib.resources.files("brax") / "envs" / "assets" / file_name
  return ET.fromstring(path.read_text())


def goalax_model_xml(file_name: str) -> ET.Element:
  """Parses ``goalax/envs/assets/<file_name>`` and returns its root element."""
  path = importlib.resources.files("goalax.envs") / "assets" / file_name
  return ET.fromstring(path.read_text())


def remove_body(root: ET.Element, body_name: str) -> None:
  """Removes the body called ``body_name`` (and its joints and geoms) from the model."""
  for parent in root.iter():
    for child in list(parent):
      if child.tag == "body" and child.get("name") == body_name:
        parent.remove(child)
        return
  raise KeyError(f"no body named {body_name!r} in the model")


def set_custom_numeric(root: ET.Element, name: str, values) -> None:
  """Sets ``<custom><numeric name=...>`` (Brax reads ``init_qpos`` and solver params there)."""
  for numeric in root.iter("numeric"):
    if numeric.get("name") == name:
      numeric.set("data", " ".join(str(float(v)) for v in values))
      return
  custom = root.find("custom")
  if custom is None:
    custom = ET.SubElement(root, "custom")
  ET.SubElement(custom, "numeric", name=name, data=" ".join(str(float(v)) for v in values))


def load_system(root: ET.Element):
  """Builds a Brax ``System`` from an (edited) MJCF element tree."""
  return mjcf.loads(ET.tostring(root, encoding="unicode"))


def with_fast_mjx_solver(sys):
  """MJX settings shared by the locomotion envs: Newton solver, 1 iteration, 4 line-search steps,
  no implicit Euler damping (fast and stable enough for these models)."""
  return sys.tree_replace({
      "opt.solver": mujoco.mjtSolver.mjSOL_NEWTON,
      "opt.disableflags": mujoco.mjtDisableBit.mjDSBL_EULERDAMP,
      "opt.iterations": 1,
      "opt.ls_iterations": 4,
  })
