"""Model versions: every operation makes a new version holding the step that made it and its metrics.
The path from the original to any version is a replayable recipe."""

from __future__ import annotations

from dataclasses import dataclass, field

from studio.core.project.recipe import Recipe, StepResult


@dataclass
class Version:
    id: int
    label: str
    result: StepResult  # the model, the step that made it, its metrics and test logits
    parent: int | None = None

    @property
    def model(self):
        return self.result.model

    @property
    def metrics(self) -> dict:
        return self.result.metrics


@dataclass
class History:
    versions: dict[int, Version] = field(default_factory=dict)
    next_id: int = 0  # ids are never reused: a project folder's v3 file always holds the same v3

    def add(self, result: StepResult, parent: int | None, label: str | None = None) -> Version:
        vid = max(self.next_id, max(self.versions, default=-1) + 1)
        self.next_id = vid + 1
        version = Version(vid, label or f"v{vid} {result.label}", result, parent)
        self.versions[vid] = version
        return version

    def lineage(self, vid: int) -> list[Version]:
        """The versions from the original to `vid`, in order."""
        chain = []
        current: int | None = vid
        while current is not None:
            chain.append(self.versions[current])
            current = self.versions[current].parent
        return chain[::-1]

    def children(self, vid: int | None) -> list[Version]:
        return [v for v in self.versions.values() if v.parent == vid]

    def recipe(self, vid: int, data: str | dict | None, device: str = "cpu") -> Recipe:
        """The recipe that rebuilds version `vid` from the original model."""
        chain = self.lineage(vid)
        steps = [(v.result.op, v.result.options) for v in chain[1:]]
        return Recipe(chain[0].model.source, data, device, steps)
