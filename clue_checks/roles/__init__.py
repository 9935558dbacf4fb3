"""The plugin's roles, one class per mode (as pytest-xdist registers `DSession` on the controller and
`WorkerInteractor` on a worker): no role asks which mode it is in.

- single process (single_process.py): a `LocalSession`, which connects, sends every selected sample's
  request and draws the live line, and a `SingleProcessController` beside it;
- xdist controller (xdist_controller.py): an `XdistController`, which learns what ran from the workers'
  reports and their `WorkerReport`s (record.py);
- xdist worker (xdist_worker.py): a `WorkerSession`, which sends its share and hands back a `WorkerReport`.

What the sessions share is `SampleSession` (session.py), what the controllers share `Controller`
(controller.py, with the report's run facts in run_facts.py). Each role is built from plain values
(options.py: `RunOptions`, `WorkerPlace`, `ProcessLinks`), so a test builds one without a pytest session;
adapters.py reads the pytest configuration and builds the roles of this process's mode when a session
asks for CLUE (plugin.py). The other modules are the roles' pytest-facing helpers: the live line
(progress.py), JUnit (junit_file.py), the selections (select.py, kind_selection.py), reruns, the
garbage collector, the baseline side, the workers' private records and request counts.
"""

from __future__ import annotations
