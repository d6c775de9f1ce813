"""One environment's change for one model version: its edits, their preview (a diff), what it holds now.

Shared by the promotion flow, the rollback pull request of the feedback flow and the ``gitops check`` /
``gitops preview`` commands, so what is previewed is exactly what is committed:

* :func:`plan_change` renders every configured target's value from the registry's model version (a
  missing tag is a :class:`~mlops_glue.targets.TargetError`: nothing broken is ever written);
* :meth:`Change.edits` groups the targets by file into the pure ``text -> text`` edits the GitOps
  backends apply (and re-apply on a conflict), recording what each one replaced;
* :func:`preview` applies them to the branch head and returns the unified diff, writing nothing;
* :func:`held_version` says which MLflow version an environment runs: from our commit trailers
  (``Glue-Version``) when the newest change to the file is ours, else from what each version wrote
  there (the state table, :func:`remember`), else read back through the value template
  (``v{version}`` → 12); None when a human wrote a value we cannot order.

The ordering check and the commit are not atomic: :attr:`Change.guard` makes the edit itself refuse
(:class:`HeldMovedError`) when the first target no longer holds what the check saw, so a concurrent
promotion of a newer version is re-checked instead of overwritten.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field

from mlops_glue.adapters.gitops import Edit, GitOpsRepo
from mlops_glue.adapters.registry import ModelVersion
from mlops_glue.adapters.state import StateStore
from mlops_glue.adapters.values_yaml import Location, edit_scalar, read_scalar
from mlops_glue.config import GlueConfig, Target
from mlops_glue.documents import Written
from mlops_glue.names import InvalidNameError, canonical_version, version_number
from mlops_glue.records import TRAILER_ENVIRONMENT, TRAILER_MODEL, TRAILER_VERSION
from mlops_glue.repositories import WRITTEN
from mlops_glue.targets import TargetError, parse_template


@dataclass(frozen=True)
class PlannedEdit:
    """One target resolved for one version: the file, where in it, and the value to write there."""

    file: str
    location: Location
    value: str

    def __str__(self) -> str:
        return f"{self.file}: {self.location}"


@dataclass(frozen=True)
class Replaced:
    """What one edit found and wrote (the whole scalar, image references included)."""

    edit: PlannedEdit
    old: str
    new: str

    def __str__(self) -> str:
        return f"{self.edit}: {self.old} → {self.new}"


class HeldMovedError(TargetError):
    """The environment's value changed between the ordering check and the edit: check again."""


KEEP_WRITTEN = 50  # versions remembered per model and environment


@dataclass
class Change:
    """The edits of one promotion (or rollback) of ``model`` in ``env`` to ``version``."""

    model: str
    env: str
    version: str
    planned: tuple[PlannedEdit, ...]
    replaced: dict[str, Replaced] = field(default_factory=dict)  # by str(edit), from the last application
    guard: str | None = None  # what the first target held when ordering was checked (None: no check)

    @property
    def files(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(p.file for p in self.planned))

    @property
    def where(self) -> str:
        """The files, for sentences."""
        return ", ".join(self.files)

    @property
    def verb(self) -> str:
        """``holds`` for one file, ``hold`` for several."""
        return "holds" if len(self.files) == 1 else "hold"

    def edits(self) -> dict[str, Edit]:
        """File -> its pure edit (every target of that file applied in order)."""
        return {path: self._editor(path) for path in self.files}

    def _editor(self, path: str) -> Edit:
        mine = [p for p in self.planned if p.file == path]
        first = self.planned[0]

        def edit(text: str) -> str:
            if self.guard is not None and first.file == path:
                now = read_scalar(text, first.location, path)
                if now != self.guard:
                    raise HeldMovedError(
                        f"{first} changed from {self.guard!r} to {now!r} since it was checked"
                    )
            for p in mine:
                change = edit_scalar(text, p.location, p.value, where=p.file)
                self.replaced[str(p)] = Replaced(p, change.old, change.new)
                text = change.text
            return text

        return edit

    def summary(self) -> list[str]:
        """One line per target: ``file: path: old → new`` (after the edits ran)."""
        return [str(r) for r in self.replaced.values() if r.old != r.new]


def location(target: Target) -> Location:
    doc = (target.document.kind, target.document.name) if target.document else None
    return Location.of(target.path, doc, target.image)


def plan_change(
    config: GlueConfig, model: str, env: str, mv: ModelVersion, alias: str | None = None
) -> Change:
    """Render every target of ``model`` in ``env`` for ``mv``; TargetError names a missing tag or field."""
    version = canonical_version(mv.version)
    values = {
        "version": version,
        "model": model,
        "env": env,
        "run_id": mv.run_id,
        "source": mv.source,
        "alias": alias or (mv.aliases[0] if mv.aliases else None),
    }
    planned = []
    for target in config.model(model).promote.environment(env).edit_targets():
        path = config.target_file(model, env, target)
        where = f"{model} v{version} in {env} ({path}: {target.path})"
        value = parse_template(target.value).render(values, mv.tags, where)
        planned.append(PlannedEdit(path, location(target), value))
    return Change(model, env, version, tuple(planned))


_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+\Z")


def _lines(text: str) -> list[str]:
    """Lines as git counts them (``\\n``, ``\\r\\n`` or a lone ``\\r``), ends kept; not str.splitlines."""
    return _LINE.findall(text)


def preview(repo: GitOpsRepo, change: Change) -> str:
    """The unified diff the change would commit at the branch head (empty: nothing to change)."""
    out: list[str] = []
    for path, edit in change.edits().items():
        before = repo.read(path)
        after = edit(before)
        out += difflib.unified_diff(_lines(before), _lines(after), fromfile=f"a/{path}", tofile=f"b/{path}")
    return "".join(
        line if line.endswith(("\n", "\r")) else line + "\n\\ No newline at end of file\n" for line in out
    )


@dataclass(frozen=True)
class Held:
    """What an environment runs: the MLflow version when known, the value as written, how we know."""

    version: str | None
    written: str | None
    source: str

    def describe(self) -> str:
        if self.version is not None:
            return f"v{self.version} ({self.source})"
        return f"{self.written!r}, which is not ours to order ({self.source})"


def remember(store: StateStore, change: Change) -> None:
    """Record what ``change.version`` writes to the first target, so a later check can order it.

    Keeps the newest :data:`KEEP_WRITTEN` versions. Raises StateError when the store is down.
    """
    first = change.planned[0]

    def add(doc: Written | None) -> Written | None:
        values = dict(doc.values) if doc else {}
        if values.get(change.version) == first.value:
            return None
        values[change.version] = first.value
        newest = sorted(values, key=int, reverse=True)[:KEEP_WRITTEN]
        return Written(target=str(first), values={v: values[v] for v in newest})

    WRITTEN.at(store, change.model, change.env).change(add)


def _remembered(store: StateStore | None, model: str, env: str, written: str | None) -> str | None:
    """The newest version we know writes ``written`` to the environment's first target."""
    if store is None or written is None:
        return None
    doc = WRITTEN.at(store, model, env).load()
    values = doc.values if doc is not None else {}
    matches = [v for v, value in values.items() if value == written and str(v).isdigit()]
    return max(matches, key=version_number) if matches else None


def held_version(
    repo: GitOpsRepo, config: GlueConfig, model: str, env: str, store: StateStore | None = None
) -> Held:
    """Which version ``model`` runs in ``env``, read from the first target's file at the branch head."""
    target = config.model(model).promote.environment(env).edit_targets()[0]
    path = config.target_file(model, env, target)
    written = read_scalar(repo.read(path), location(target), path)
    last = repo.last_commit_touching(path)
    if last is not None:
        t = last.trailers
        if t.get(TRAILER_MODEL) == model and t.get(TRAILER_ENVIRONMENT) == env and t.get(TRAILER_VERSION):
            try:
                return Held(canonical_version(t[TRAILER_VERSION]), written, f"our commit {last.sha[:8]}")
            except InvalidNameError:
                pass
    known = _remembered(store, model, env, written)
    if known is not None:
        return Held(known, written, f"v{known} writes {written!r} there (state table)")
    try:
        read_back = parse_template(target.value).version_in(written, model, env)
    except TargetError:  # pragma: no cover - the template was checked when the configuration loaded
        read_back = None
    if read_back is not None:
        return Held(read_back, written, f"{path} by the value template {target.value!r}")
    return Held(None, written, "not written by mlops-glue, and the value template cannot read it back")
