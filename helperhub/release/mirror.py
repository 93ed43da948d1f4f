"""The air-gapped closure: every third-party wheel a pod needs to install a helper (and the kfp
runtime of the SDK in use), fetched once on the host and mirrored into the private index."""

from __future__ import annotations

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from helperhub.release.project import HelperProject


def closure_requirements(
    project: HelperProject, projects: dict[str, HelperProject], kfp_version: str
) -> list[str]:
    """Third-party requirements of the helper, its extras and its local helper dependencies."""
    local = set(projects)
    reqs: set[str] = {f"kfp=={kfp_version}"}
    todo, seen = [project], set()
    while todo:
        p = todo.pop()
        if p.name in seen:
            continue
        seen.add(p.name)
        for raw in (*p.requires, *p.extra_requires):
            req = Requirement(raw)
            name = canonicalize_name(req.name)
            if name in local:
                todo.append(projects[name])
            else:
                req.marker = None
                reqs.add(str(req))
    return sorted(reqs)
