"""A run's tasks, their data and its response store, without the endpoint side: what the xdist controller
needs (its checks at start, the report's facts), so it never imports the client, the scheduler or the
renderer's tokenizers. `runner.Run` adds the connection and the requests for a process that sends them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from clue_checks import egress
from clue_checks.endpoint.redact import Redactor
from clue_checks.endpoint.store import NullStore, ResponseStore
from clue_checks.settings import Settings
from clue_checks.tasks import LoadedTask, Sample, Task, get_profile
from clue_checks.tasks.registry import TaskCatalog, TaskInstances

if TYPE_CHECKING:
    from clue_checks.endpoint.store_side import Store


class RunData:
    def __init__(self, settings: Settings, catalog: TaskCatalog | None = None) -> None:
        self.settings = settings
        self.profile = get_profile(settings.profile)
        options = {"bertscore_model": settings.bertscore_model, "bertscore_layers": settings.bertscore_layers}
        # CLUE's tasks and the user's (the catalog grows as test modules name task files).
        self.catalog = catalog or TaskCatalog.builtin()
        self.tasks: Mapping[str, Task] = TaskInstances(self.catalog, lambda cls: cls(self.profile, options))
        self._loaded: dict[str, LoadedTask] = {}
        self._by_test_id: dict[str, Sample] = {}
        self._index: dict[str, int] = {}
        self.store: Store | None = None
        # Masks the API key (and any other secret the user gave) in whatever is printed or written.
        self.redact = Redactor.for_endpoint(api_key=settings.api_key, urls=settings.endpoints)

    # -- data (collection time: no network) -----------------------------------------------

    def load(self, task_name: str) -> LoadedTask:
        """Read a task's data once; raises DataError."""
        if task_name not in self._loaded:
            loaded = self.tasks[task_name].load(self.settings.data_dir)
            self._loaded[task_name] = loaded
            for index, sample in enumerate(loaded.samples):
                self._by_test_id[sample.test_id] = sample
                self._index[sample.test_id] = index
        return self._loaded[task_name]

    def samples(self, task_name: str) -> tuple[Sample, ...]:
        samples = self.load(task_name).samples
        return samples[: self.settings.limit] if self.settings.limit else samples

    def sample(self, test_id: str) -> Sample:
        return self._by_test_id[test_id]

    def index_of(self, sample: Sample) -> int:
        """The sample's position in its task's scored order (a dict: a list search per test is quadratic)."""
        return self._index[sample.test_id]

    # -- the store and the hosts -----------------------------------------------------------

    def open_store(self) -> Store:
        """The response store, opened once; raises StoreError (one line: the file and the fixes).

        Call it before any inference to turn an unusable cache into a usage error; `Run.connect` calls it."""
        if self.store is None:
            s = self.settings
            self.store = (ResponseStore(s.cache_dir / "responses.sqlite3", replace_corrupt=s.refresh)
                          if s.cache_dir else NullStore())
        return self.store

    def credentialed_tasks(self) -> list[str]:
        """The run's tasks whose data may go only to local, private or listed hosts (`egress`)."""
        return [t for t in self.settings.tasks if getattr(self.tasks.get(t), "credentialed", False)]

    def check_egress(self, urls: Sequence[str]) -> list[egress.HostDecision]:
        """Raises egress.EgressRefused (one line) when a credentialed task would leave the allowed hosts."""
        return egress.check(urls, self.credentialed_tasks(), self.settings.allow_hosts, shown=self.redact)

    def egress_manifest(self) -> dict[str, Any]:
        """Where this run's credentialed tasks were allowed to go, and why, for the manifest."""
        s = self.settings
        urls = [*(s.endpoints or ["http://127.0.0.1 (the embedded baseline)"]), *s.baseline_endpoints]
        tasks = self.credentialed_tasks()
        try:
            decisions = egress.check(urls, tasks, s.allow_hosts, shown=self.redact)
        except egress.EgressRefused:  # nothing was sent then; say what the hosts are
            decisions = [egress.decide(u, s.allow_hosts, shown=self.redact) for u in urls]
        return egress.manifest_entry(decisions, tasks, s.allow_hosts)

    def close(self) -> None:
        if self.store is not None:
            self.store.close()
