import hashlib
from functools import cached_property, lru_cache
from pathlib import Path

from sqlmodel import Session

from incident_cmd import clock
from incident_cmd.config import FileStamp, directory_stamp, get_settings
from incident_cmd.db import table_of, upsert_insert
from incident_cmd.errors import NotFound
from incident_cmd.playbooks.loader import LoadedPlaybook, load_directory
from incident_cmd.playbooks.models import PlaybookVersion
from incident_cmd.playbooks.schema import Playbook


class PlaybookRegistry:
    """The playbooks this process serves, validated as a whole when it starts."""

    def __init__(self, playbooks: dict[str, LoadedPlaybook]) -> None:
        self._playbooks = playbooks

    @classmethod
    def from_directory(cls, directory: Path, template_dir: Path | None) -> "PlaybookRegistry":
        return cls(load_directory(directory, template_dir))

    @classmethod
    def from_settings(cls) -> "PlaybookRegistry":
        """The configured playbooks, read again only when a file of theirs or of the
        templates changes: sweeps ask for them every few seconds, and parsing them all took a
        tenth of a busy worker's time."""
        settings = get_settings()
        playbooks, templates = settings.playbook_dir, settings.template_dir
        return _read(playbooks, templates, directory_stamp(playbooks), directory_stamp(templates))

    @cached_property
    def fingerprint(self) -> str:
        """Changes with any playbook served."""
        hashes = sorted(item.content_hash for item in self._playbooks.values())
        return hashlib.sha256(" ".join(hashes).encode()).hexdigest()[:16]

    def all(self) -> list[LoadedPlaybook]:
        return sorted(self._playbooks.values(), key=lambda item: item.playbook.key)

    def of_kind(self, kind: str) -> list[Playbook]:
        """The playbooks of one incident kind, by key."""
        return [item.playbook for item in self.all() if item.playbook.kind == kind]

    def get(self, key: str) -> LoadedPlaybook:
        try:
            return self._playbooks[key]
        except KeyError:
            known = ", ".join(sorted(self._playbooks)) or "none"
            raise NotFound(f"no playbook {key!r} (known: {known})", field="playbook") from None


@lru_cache(maxsize=4)
def _read(
    directory: Path, template_dir: Path, *stamps: tuple[tuple[str, FileStamp], ...]
) -> PlaybookRegistry:
    return PlaybookRegistry.from_directory(directory, template_dir)


def pin_version(session: Session, *, loaded: LoadedPlaybook) -> PlaybookVersion:
    """Stores the version once, however many declarations race to store it."""
    statement = (
        upsert_insert(session, table_of(PlaybookVersion))
        .values(
            content_hash=loaded.content_hash,
            key=loaded.playbook.key,
            snapshot=loaded.snapshot,
            first_seen_at=clock.now(),
        )
        .on_conflict_do_nothing(index_elements=["content_hash"])
    )
    session.execute(statement)
    return session.get_one(PlaybookVersion, loaded.content_hash)


# A pinned version never changes, so each process validates its snapshot once.
_pinned: dict[str, Playbook] = {}


def pinned_playbook(session: Session, *, content_hash: str) -> Playbook:
    if content_hash not in _pinned:
        version = session.get(PlaybookVersion, content_hash)
        if version is None:
            raise NotFound(f"no playbook version {content_hash}")
        _pinned[content_hash] = Playbook.model_validate(version.snapshot)
    return _pinned[content_hash]
