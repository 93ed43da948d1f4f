"""The retention service of a running registry: registered locks (``:action=register`` and
``:action=unregister``, by any user, bound to them), and the plan (``:action=gc``, by an admin)
under the registry's policy or one given for the run, carried out with ``apply=1``; and the
images that plan deletes, which the admin's command deletes in the OCI registry and reports
(``:action=gc_images``) until none is pending. A version's files go together: their tombstone
first, then the audit log and the journal say so, the store stops listing them, their SBOMs and
release record go, and last the files, their metadata files and provenance are unlinked."""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from packaging.utils import canonicalize_name

from helperhub.core.dists import dist_version
from helperhub.core.errors import ConfigError
from helperhub.registry.server.metadata import upload_time
from helperhub.registry.server.records import project_of, record_files, record_images
from helperhub.registry.server.registrations import Registrations, parse_time
from helperhub.registry.server.retention import (
    ImageDeletion,
    IndexVersion,
    Plan,
    Policy,
    make_plan,
    parse_policy,
    same_version,
)
from helperhub.registry.server.store import HardenedBackend, UploadForbidden
from helperhub.registry.server.tombstones import Gone, PendingImages, Tombstones, drop_release_documents, unlink_stored
from helperhub.registry.server.validate import UploadRefused

MAX_POLICY = 64 << 10


class Retention:
    def __init__(self, backend: HardenedBackend, policy: Policy | None) -> None:
        self.backend, self.policy = backend, policy
        self.registrations = Registrations(backend.root)
        self.tombstones = Tombstones(backend.root)
        self.images = PendingImages(backend.root)
        backend.gone = self.tombstones.reason
        self._lock = threading.Lock()  # one plan or registration change at a time

    # -- forms ----------------------------------------------------------------------------------
    def form(self, fields: Mapping[str, str], user: str) -> str:
        """The answer to a ``register``, ``unregister`` or ``gc`` form."""
        action, name = fields.get(":action"), fields.get("name", "").strip()
        admin = self.backend.owners.is_admin(user)
        with self._lock:
            if action == "register":
                if not name or "references" not in fields:
                    raise UploadRefused('a register form has the fields name (the repository) and references '
                                        '({"helpers": {...}, "files": {...}, "images": [...]})')
                return self.registrations.put(name, fields["references"], user, admin)
            if action == "unregister":
                if not name:
                    raise UploadRefused("an unregister form has the field name (the repository)")
                return self.registrations.remove(name, user, admin)
            if not admin:
                raise UploadForbidden(f"{user} is no admin of this registry; gc is for its admins "
                                      "([admins] users in the owners file)")
            if action == "gc_images":
                return self._images_deleted(fields.get("deleted", ""))
            policy = self._policy(fields.get("retention", ""))
            plan = self.plan(policy, datetime.now(UTC))
            applied = fields.get("apply", "0").strip() == "1"
            if applied:
                self.apply(plan, user)
            answer = plan_json(plan, applied, len(self.registrations.all()))
            return json.dumps({**answer, "images_pending": [image_json(g) for g in self.images.entries()]}, indent=1)

    def _images_deleted(self, text: str) -> str:
        """The admin's command deleted these images in the OCI registry: no longer pending."""
        try:
            refs = json.loads(text or "null")
        except ValueError:
            refs = None
        if not isinstance(refs, list) or not all(isinstance(r, str) for r in refs):
            raise UploadRefused('a gc_images form has the field deleted, a JSON list of "repo@sha256:..."')
        finished = self.images.done(refs)
        return json.dumps({"done": len(finished), "images_pending": [image_json(g) for g in self.images.entries()]})

    def _policy(self, text: str) -> Policy:
        if text.strip():
            if len(text) > MAX_POLICY:
                raise UploadRefused(f"a retention policy is at most {MAX_POLICY >> 10} KB")
            try:
                return parse_policy(text, "the given policy")
            except ConfigError as exc:
                raise UploadRefused(str(exc)) from None
        if self.policy is None:
            raise UploadRefused("the registry has no retention policy: start it with --retention FILE, "
                                "or give gc --retention FILE")
        return self.policy

    # -- the plan ---------------------------------------------------------------------------------
    def plan(self, policy: Policy, now: datetime) -> Plan:
        files = self.backend.files()
        yanks, yanked_at = self.backend.yanks.all(), self._yank_times()
        by_version: dict[tuple[str, str], list[str]] = {}
        for name in files:
            parsed = dist_version(name)
            if parsed is not None:
                by_version.setdefault((canonicalize_name(project_of(name)), str(parsed)), []).append(name)
        helpers = {p for p, _ in by_version if self.backend.is_helper(p)}
        releases = []
        for (project, version), names in by_version.items():
            if project not in helpers:
                continue
            released = min(parse_time(t) for n in names if (t := files[n].upload_time)) if any(
                files[n].upload_time for n in names) else now
            yank = next((v for v in yanks.get(project, {}) if same_version(v) == same_version(version)), None)
            when = yanked_at.get((project, same_version(version)), released) if yank is not None else None
            text = self.backend.records.get(project, version)
            record = json.loads(text) if text else None
            releases.append(IndexVersion(project, version, tuple(sorted(names)), released, when,
                                         frozenset(record_files(record)), frozenset(record_images(record))))
        mirrored = {n: (project, frozenset(by)) for n in files
                    if (by := self.backend.records.used_by(n)) and (project := canonicalize_name(project_of(n)))
                    not in helpers}
        for name in self.backend.records.unlisted() & set(files):  # their releases were deleted earlier
            if name not in mirrored and (project := canonicalize_name(project_of(name))) not in helpers:
                mirrored[name] = (project, frozenset())
        sizes = {n: f.size or 0 for n, f in files.items()}
        pinned = [r.pinned() for r in self.registrations.all()]
        return make_plan(policy, releases, mirrored, sizes, pinned, now)

    def _yank_times(self) -> dict[tuple[str, str], datetime]:
        """When each version still yanked was last yanked, from the event journal (yanks from
        before the journal count as yanked at their release)."""
        journal, offset = self.backend.events.journal, 0
        times: dict[tuple[str, str], datetime] = {}
        while batch := journal.read(offset):
            for logged in batch:
                event = logged.event
                if event.event == "yank":
                    times[(event.project, same_version(event.version))] = parse_time(event.time)
            offset = batch[-1].end
        return times

    # -- carrying it out --------------------------------------------------------------------------
    def apply(self, plan: Plan, user: str) -> None:
        """Delete the plan, one version (or third-party file) at a time, each all or nothing. Its
        images are pending first, while the records that name them still exist."""
        when = upload_time()
        self.images.add(Gone(i.ref, i.project, i.version, i.reason, when, user, 0) for i in plan.images)
        for (project, version), deletions in plan.versions().items():
            when = upload_time()
            gone = [Gone(d.file, d.project, d.version, d.reason, when, user, d.size) for d in deletions]
            self.tombstones.add(gone)
            names = [g.file for g in gone]
            # logged, and journaled (webhooks hear of it, the feeds drop its entries) as soon as it is
            # decided: a start finishes a delete cut short after its tombstone
            self.tombstones.audit(gone)
            self.backend.events.deleted(project, version, names, user, deletions[0].reason)
            self.backend.drop_files(project, names)
            self._drop_release_documents(project, version)  # before the files: see tombstones.finish
            unlink_stored(self.backend.root, names)

    def _drop_release_documents(self, project: str, version: str) -> None:
        """A deleted helper version's SBOMs and release record."""
        for spelled in self.backend.records.versions(project):
            if same_version(spelled) == same_version(version):
                self.backend.records.forget(project, spelled)
        drop_release_documents(self.backend.root, project, {version})

    # -- reads ------------------------------------------------------------------------------------
    def registered(self) -> list[dict[str, Any]]:
        """The registrations, each with when it stops protecting (for ``who-pins --index``)."""
        days = (self.policy or Policy(1)).register_days
        found = []
        for r in self.registrations.all():
            expires = parse_time(r.registered_at).timestamp() + days * 86400
            found.append({**r.record(), "files": len(r.files), "expires_at": upload_time(expires)})
        return found


def plan_json(plan: Plan, applied: bool, registrations: int) -> dict[str, Any]:
    return {
        "policy": plan.policy.summary(), "applied": applied, "registrations": registrations,
        "bytes": plan.bytes,
        "delete": [{"file": d.file, "project": d.project, "version": d.version, "bytes": d.size, "reason": d.reason}
                   for d in plan.deletions],
        "kept": [{"project": p, "version": v, "why": why} for (p, v), why in sorted(plan.kept.items())],
        "images": [image_json(i) for i in plan.images],
    }


def image_json(image: ImageDeletion | Gone) -> dict[str, str]:
    ref = image.ref if isinstance(image, ImageDeletion) else image.file
    return {"ref": ref, "project": image.project, "version": image.version, "reason": image.reason}
