"""Which studies and runs a report (or an export) covers: refs by id, id prefix or name, or flags."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from trainlab.errors import StoreError
from trainlab.track.store import RunRecord, Store, StudyRecord

# Reading order of study kinds: comparisons, then searches, then model internals; unknown kinds last.
KIND_ORDER = (
    "baselines",
    "optimizers",
    "regularization",
    "grid",
    "search",
    "search-compare",
    "inspect-features",
    "inspect-attention",
    "inspect-inception",
    "inspect-residual",
    "inspect-recorder",
    "inspect-attribution",
    "inspect-spectrum",
    "inspect-similarity",
    "inspect-landscape",
)


HEX = frozenset("0123456789abcdef")


@dataclass
class Selection:
    """Studies (any kind: study, search, inspection) and runs chosen explicitly, without repeats;
    `grouped`: runs outside studies chosen by `--all`, reported in groups, not one by one."""

    studies: list[StudyRecord] = field(default_factory=list)
    runs: list[RunRecord] = field(default_factory=list)
    grouped: list[RunRecord] = field(default_factory=list)

    def add(self, item: StudyRecord | RunRecord) -> None:
        if isinstance(item, StudyRecord):
            if all(s.id != item.id for s in self.studies):
                self.studies.append(item)
        elif all(r.id != item.id for r in self.runs):
            self.runs.append(item)

    def __bool__(self) -> bool:
        return bool(self.studies or self.runs or self.grouped)


def kind_rank(kind: str) -> tuple[int, str]:
    return (KIND_ORDER.index(kind), "") if kind in KIND_ORDER else (len(KIND_ORDER), kind)


def select(
    store: Store, refs: Sequence[str] = (), latest: bool = False, everything: bool = False
) -> Selection:
    """Resolve `refs` and the `--latest` / `--all` flags; studies come back in reading order.

    `latest`: the newest study of every kind (the newest run if the store has no studies).
    `everything`: every study, and every run that belongs to none (in `grouped`, unless a ref
    chose it by name).
    """
    chosen = Selection()
    for ref in refs:
        chosen.add(resolve(store, ref))
    studies = store.list_studies()  # newest first
    if latest:
        newest: dict[str, StudyRecord] = {}
        for s in studies:
            newest.setdefault(s.kind, s)
        for s in newest.values():
            chosen.add(s)
        if not studies:
            for r in store.list_runs(limit=1):
                chosen.add(r)
    if everything:
        linked: set[str] = set()
        for s in studies:
            chosen.add(s)
            linked.update(s.run_ids)
        explicit = {r.id for r in chosen.runs}
        for r in reversed(store.list_runs()):
            if r.id not in linked and r.id not in explicit:
                chosen.grouped.append(r)
    if not chosen:
        if not studies and not store.list_runs(limit=1):
            raise StoreError(
                f"nothing to report: the store {store.root} has no runs or studies yet"
            )
        raise StoreError("nothing to report: give run or study ids or names, --latest or --all")
    chosen.studies.sort(key=lambda s: (kind_rank(s.kind), s.created, s.id))
    return chosen


def resolve(store: Store, ref: str) -> StudyRecord | RunRecord:
    """A study or run by exact id, exact name (the newest of that name) or unique id prefix."""
    studies = store.list_studies()
    for s in studies:
        if s.id == ref:
            return s
    run = _run_or_none(store, ref)
    if run is not None and run.id == ref:
        return run
    for s in studies:
        if s.name == ref:
            return s
    named = store.list_runs(where={"name": ref}, limit=1)
    if named:
        return named[0]
    study_hits = [s for s in studies if s.id.startswith(ref)]
    if run is not None and study_hits:
        raise StoreError(f"{ref!r} is the prefix of a run and of a study id; give more characters")
    if len(study_hits) > 1:
        raise StoreError(f"study id prefix {ref!r} is ambiguous; give more characters")
    if run is not None:
        return run
    if study_hits:
        return study_hits[0]
    raise StoreError(
        f"{ref!r} is not a run or study id, id prefix or name in {store.db_path}"
        " (`trainlab runs ls` lists runs)"
    )


def _run_or_none(store: Store, ref: str) -> RunRecord | None:
    if not ref or any(c not in HEX for c in ref):
        return None  # run ids are hex; `_` and `%` in a name would be LIKE wildcards in the store
    try:
        return store.get_run(ref)
    except StoreError as exc:
        if "ambiguous" in str(exc):
            raise
        return None


def runs_of(store: Store, selection: Selection) -> list[RunRecord]:
    """The explicit runs, then every run of the selected studies (for exports), without repeats."""
    out = Selection(runs=[*selection.runs, *selection.grouped])
    for study in selection.studies:
        for _, run in store.study_runs(study.id):
            out.add(run)
    return out.runs
