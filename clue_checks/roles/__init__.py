"""The plugin's role objects, registered by mode (as pytest-xdist registers `DSession` or `WorkerInteractor`).

- `Controller` (controller.py): one per run, in the single process or the xdist controller: which
  samples were selected, the records that come back, the aggregation, the report, the JUnit additions,
  the exit code and the terminal table.
- `SampleSession` (session.py): in the single process or each xdist worker: reads the data, connects
  (starting the embedded baseline when no endpoint is given), sends this process's share of the
  requests, and builds each sample's check and record.

Both are registered when a session asks for CLUE (plugin.py) and import nothing heavy until a
sample is collected.
"""

from __future__ import annotations
