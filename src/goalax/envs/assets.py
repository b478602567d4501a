"""Loading MJCF models relative to installed packages, never to the working directory.

The classic bodies (ant, reacher, half cheetah, pusher) come from the XML files that ship inside
the installed ``brax`` package; goalax edits them in memory (removes the reference's goal bodies,
adds maze walls, ...) instead of keeping modified copies. goalax's own models live in
``goalax/envs/assets/``.
"""

from __future__ import annotations

import copy
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
  """Builds a Brax ``System`` from an (edited) MJCF element tree.

  MuJoCo 4 deprecates ``<compiler settotalmass="m">`` (the half cheetah's) and will drop it, so
  it is applied here by scaling the geoms' density instead, which gives the same model.
  """
  compiler = root.find("compiler")
  if compiler is not None and "settotalmass" in compiler.attrib:
    root = _with_total_mass_from_density(root)
  return mjcf.loads(ET.tostring(root, encoding="unicode"))


def mujoco_model(root: ET.Element) -> mujoco.MjModel:
  """Compiles an MJCF element tree with MuJoCo as ``mjcf.loads`` does (joint-less bodies fused)."""
  return mujoco.MjModel.from_xml_string(mjcf.fuse_bodies(ET.tostring(root, encoding="unicode")))


def joint_names(model: mujoco.MjModel) -> list[str]:
  """Each joint's name, in order; an unnamed joint (a cube's free joint) is named after its body,
  ``"(body cube)"``, so joints of two versions of a model can be matched by name."""
  body_name = lambda i: mujoco.mj_id2name(model, mujoco.mjtObj.mjOBJ_BODY, int(model.jnt_bodyid[i]))
  return [
    mujoco.mj_id2name(model, mujoco.mjtObj.mjOBJ_JOINT, i) or f"(body {body_name(i)})"
    for i in range(model.njnt)
  ]


def total_mass_without_settotalmass(root: ET.Element) -> float:
  """The model's total mass as its geoms' densities make it, ``settotalmass`` ignored."""
  root = copy.deepcopy(root)
  compiler = root.find("compiler")
  if compiler is not None:
    compiler.attrib.pop("settotalmass", None)
  return float(mujoco_model(root).body_mass.sum())


def _with_total_mass_from_density(root: ET.Element) -> ET.Element:
  """A copy of ``root`` without ``settotalmass``, its default geom density scaled to give that
  total mass. Only for models whose masses all come from the default density (checked)."""
  root = copy.deepcopy(root)
  total_mass = float(root.find("compiler").attrib.pop("settotalmass"))
  explicit = [
    e.tag
    for e in root.iter()
    if e.tag == "inertial" or (e.tag == "geom" and ("mass" in e.attrib or "density" in e.attrib))
  ]
  if explicit:
    raise ValueError(
      f"settotalmass with explicit masses or densities ({explicit[0]}) is not "
      "supported; give the masses in the model instead."
    )
  scale = total_mass / total_mass_without_settotalmass(root)
  default = root.find("default")
  if default is None:
    default = ET.SubElement(root, "default")
  geom_default = default.find("geom")
  if geom_default is None:
    geom_default = ET.SubElement(default, "geom")
  geom_default.set("density", repr(1000.0 * scale))  # MuJoCo's default density is 1000
  return root


def with_fast_mjx_solver(sys):
  """MJX settings shared by the locomotion envs: Newton solver, 1 iteration, 4 line-search steps,
  no implicit Euler damping (fast and stable enough for these models)."""
  return sys.tree_replace(
    {
      "opt.solver": mujoco.mjtSolver.mjSOL_NEWTON,
      "opt.disableflags": mujoco.mjtDisableBit.mjDSBL_EULERDAMP,
      "opt.iterations": 1,
      "opt.ls_iterations": 4,
    }
  )
