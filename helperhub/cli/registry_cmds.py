"""`helperhub registry ...`: run the private index, its users, its image and its manifests."""

from __future__ import annotations

import getpass
import sys
from pathlib import Path

import click

from helperhub.cli import options as o
from helperhub.cli.ui import console
from helperhub.core import defaults
from helperhub.core.errors import ConfigError
from helperhub.registry.__main__ import serve_command


@click.group("registry")
def registry() -> None:
    """The private package index (pypiserver): run it, add users, build its image and manifests."""


registry.add_command(serve_command, "serve")


@registry.command("up")
@o.root_option
@o.port_option
def registry_up(root: Path | None, registry_port: int) -> None:
    """Start the embedded registry in the background (packages under .hub/, git-ignored)."""
    from helperhub.stack import embedded

    reg = o.embedded_registry(o.resolve_root(root), registry_port)
    settings = embedded.start(reg)
    console.print(f"registry: {settings.simple_url}  (packages in {reg.packages}, log {reg.logfile})")
    console.print(f"upload credentials: {reg.credentials}")


@registry.command("down")
@o.root_option
@o.port_option
def registry_down(root: Path | None, registry_port: int) -> None:
    """Stop the embedded registry started from this checkout (its packages stay)."""
    from helperhub.stack import embedded

    stopped = embedded.stop(o.embedded_registry(o.resolve_root(root), registry_port))
    console.print("registry stopped" if stopped else "no embedded registry was running")


def ask_password(name: str) -> str:
    """Ask twice on the terminal: a typo in a password nobody sees would lock the user out."""
    if not sys.stdin.isatty():
        raise ConfigError(
            f"no password for {name}: set HUB_NEW_PASSWORD or HUB_NEW_PASSWORD_FILE, "
            "give --password-file, or run on a terminal to be asked"
        )
    password = getpass.getpass(f"password for {name}: ")
    if not password:
        raise ConfigError("the password is empty; type one")
    if getpass.getpass("again: ") != password:
        raise ConfigError("the two passwords differ; run the command again")
    return password


@registry.command("add-user")
@click.argument("name")
@click.option("--htpasswd", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="htpasswd file to create or update.")
@o.password_option("password", "HUB_NEW_PASSWORD", "the new password")
def registry_add_user(name: str, htpasswd: Path, password: str | None) -> None:
    """Add or change an upload user in an htpasswd file (bcrypt, mode 0600).

    The password comes from HUB_NEW_PASSWORD or a password file, or is asked for on a terminal;
    never from a flag, which any user of the machine can read with `ps`."""
    from helperhub.stack import embedded

    embedded.add_user(htpasswd, name, password if password is not None else ask_password(name))
    console.print(f"{name} can now upload (file {htpasswd})")


@registry.command("image")
@o.root_option
@click.option("--oci-registry", envvar="HUB_OCI_REGISTRY", default=defaults.OCI_REGISTRY, show_default=True,
              help="OCI registry to push to. [env HUB_OCI_REGISTRY]")
@click.option("--base-image", envvar="BASE_IMAGE", default=defaults.BASE_IMAGE, show_default=True,
              help="Image to build on. [env BASE_IMAGE]")
@o.cache_option
@click.option("--overlay", "overlays", multiple=True,
              help="Also pin the pushed digest in registry/k8s/overlays/OVERLAY (repeatable).")
@click.option("--no-push", is_flag=True, help="Build only; print the local image id.")
def registry_image(
    root: Path | None, oci_registry: str, base_image: str, cache: Path | None, overlays: tuple[str, ...],
    no_push: bool,
) -> None:
    """Build the registry image offline and push it; print the digest reference the overlays pin."""
    from helperhub.images.engine import docker_client
    from helperhub.stack.manifests import K8S_DIR, pin_overlay_image
    from helperhub.stack.manifests import overlays as known_overlays
    from helperhub.stack.registry_image import release_registry_image

    repo = o.resolve_root(root)
    k8s = repo / K8S_DIR
    unknown = sorted(set(overlays) - set(known_overlays(k8s)))
    if unknown or (overlays and no_push):
        raise click.BadParameter(
            f"takes one of {known_overlays(k8s)} and needs a push (unknown: {unknown})", param_hint="--overlay"
        )
    image = release_registry_image(docker_client(), repo, oci_registry, base_image, cache=cache, push=not no_push,
                                   log=lambda line: console.print(line, markup=False))
    for overlay in overlays:
        console.print(f"pinned in {pin_overlay_image(k8s, overlay, image.ref)}")
    click.echo(image.ref)


@registry.command("manifests")
@o.root_option
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("build/manifests"),
              show_default=True, help="Output folder.")
@click.option("--front-image", default=None, metavar="REPO@SHA256:...",
              help="First pin this digest reference of the nginx front's image in each --overlay.")
@click.option("--overlay", "pin_overlays", multiple=True,
              help="Overlay (registry/k8s/overlays/OVERLAY) to pin --front-image in (repeatable).")
def registry_manifests(root: Path | None, out: Path, front_image: str | None, pin_overlays: tuple[str, ...]) -> None:
    """Re-render the fronts' nginx configs under registry/k8s, then render the kustomize overlays
    into OUT/<overlay>.yaml and say what is left to do."""
    from helperhub.stack.manifests import (
        FRONT_IMAGE,
        K8S_DIR,
        manifest_notes,
        pin_overlay_image,
        refresh_front_confs,
        write_manifests,
    )

    if bool(front_image) != bool(pin_overlays):
        raise click.BadParameter("give --front-image and at least one --overlay together", param_hint="--overlay")
    k8s = o.resolve_root(root) / K8S_DIR
    for overlay in pin_overlays:
        pinned = pin_overlay_image(k8s, overlay, front_image or "", image=FRONT_IMAGE)
        console.print(f"pinned in {pinned}", markup=False)
    for path in refresh_front_confs(k8s):
        console.print(f"re-rendered {path} (commit it)", markup=False)
    written = write_manifests(k8s, out)
    for path in written:
        click.echo(path)
    for note in manifest_notes(k8s, written):
        console.print(f"note: {note}", markup=False)


@registry.command("gc")
@o.root_option
@o.index_options
@click.option("--retention", "policy_file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="A TOML [retention] policy for this run (default: the one the registry serves with).")
@click.option("--oci-registry", envvar="HUB_OCI_REGISTRY", default=defaults.OCI_REGISTRY, show_default=True,
              help="host:port of the OCI registry whose image manifests --apply deletes (images elsewhere "
              "stay pending). [env HUB_OCI_REGISTRY]")
@click.option("--apply", is_flag=True, help="Have the registry delete the plan, and delete its image manifests "
              "(default: only print it).")
@click.option("--json", "as_json", is_flag=True, help="Print the plan as JSON.")
def registry_gc(root: Path | None, index_url: str | None, index_user: str | None, index_password: str | None,
                registry_port: int, policy_file: Path | None, oci_registry: str, apply: bool, as_json: bool) -> None:
    """Print the running registry's retention plan: each file and image to delete and why nothing
    keeps it (an admin's login). With --apply the registry deletes its files while it serves, then
    the image manifests are deleted by digest in the OCI registry; their layers go at the OCI
    registry's own garbage collection (`make oci-gc` for the local one)."""
    import json

    from helperhub.images.deletes import delete_pending_images
    from helperhub.registry.retention_client import retention_plan
    from helperhub.registry.server.retention import load_policy

    policy = None
    if policy_file is not None:
        load_policy(policy_file)  # a bad file is refused here, in one line, before asking
        policy = policy_file.read_text(encoding="utf-8")
    repo = o.resolve_root(root)
    index = o.index_settings(repo, index_url, index_user, index_password, registry_port)
    plan = retention_plan(index, policy, apply=apply)
    if apply and plan["images_pending"]:
        sweep = delete_pending_images(index, plan["images_pending"], oci_registry)
        plan["images_deleted"] = [d.ref for d in sweep.deleted if d.deleted]
        plan["images_elsewhere"] = list(sweep.elsewhere)
        plan["images_pending"] = [p for p in plan["images_pending"] if p["ref"] in sweep.elsewhere]
    if as_json:
        click.echo(json.dumps(plan, indent=2))
        return
    for item in plan["delete"]:
        console.print(f"{item['file']}  ({item['bytes']} bytes): {item['reason']}", markup=False, highlight=False)
    for image in plan["images"]:
        console.print(f"{image['ref']}: {image['reason']}", markup=False, highlight=False)
    verb = "deleted" if plan["applied"] else "to delete (dry run; --apply deletes)"
    console.print(f"{len(plan['delete'])} files, {plan['bytes']} bytes and {len(plan['images'])} images {verb}; "
                  f"{len(plan['kept'])} versions kept", markup=False, highlight=False)
    if not apply and plan["images_pending"]:
        console.print(f"{len(plan['images_pending'])} images an earlier gc --apply deleted on the index are still "
                      "in the OCI registry; gc --apply deletes them", markup=False, highlight=False)
    for ref in plan.get("images_elsewhere", []):
        console.print(f"pending: {ref} is not at {oci_registry}; run gc --apply with its --oci-registry",
                      markup=False, highlight=False)


@registry.command("oci-gc")
@click.option("--state", type=click.Path(file_okay=False, path_type=Path), envvar="HUB_ENGINE_STATE",
              default=defaults.ENGINE_STATE, show_default=True,
              help="Folder of the local OCI registry's oci-registry.yml: `make engine`'s, or a checkout's .hub "
              "when a release started it. [env HUB_ENGINE_STATE]")
@click.option("--oci-registry", envvar="HUB_OCI_REGISTRY", default=defaults.OCI_REGISTRY, show_default=True,
              help="host:port it serves on. [env HUB_OCI_REGISTRY]")
def registry_oci_gc(state: Path, oci_registry: str) -> None:
    """Delete the image layers no manifest references any more (after `registry gc --apply`) from
    the local OCI registry: it serves read-only meanwhile (pulls go on, pushes are refused), then as
    before. Run it when no release is pushing."""
    from helperhub.stack.oci_registry import collect_blobs

    done = collect_blobs(state, oci_registry)
    console.print(f"OCI registry storage: {done.before} bytes before, {done.after} after "
                  f"({done.before - done.after} freed)", markup=False, highlight=False)
