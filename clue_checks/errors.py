"""Every error clue-checks raises for a user to read, in one tree.

* ClueError                   ``str(error)`` is what the user reads: the file, record or URL, what is wrong, what to do
  x ConfigError               an option, a thresholds file, a task file or a task source that cannot be used
    + ThresholdsError         report/numbers/thresholds.py: the thresholds file
    + TaskFileError           tasks/taskfile_reader.py: a task file (its line and the fix)
    + TaskDiscoveryError      tasks/registry.py: a task source (entry point) that cannot be used
      - TaskClash             two sources define a task of one name
    + InitError               cli/init.py: ``clue init`` cannot write the suite
    + UsageError              data/fetch.py: ``clue data fetch`` asked for what cannot be fetched (also a FetchError)
  x DataError                 missing or malformed benchmark data: the file, the record, the field
  x FetchError                data/fetch.py: a download that failed or could not be verified
  x TokenizerError            the model's tokenizer or chat template cannot be had
    + TemplateUnavailable     rendering.py: generate mode without a usable chat template
    + TokenizerUnavailable    tasks/tokens.py: no tokenizer to count a token budget with
  x EndpointError             endpoint/types.py (its fields speak the endpoint's failure vocabulary):
                              a request that failed: the URL, the status, the server's message, the fix
    + EndpointUnavailable     the endpoint cannot be used at all
      - EgressRefused         egress.py: credentialed data would leave for a host not allowed
    + ReplicaDown             internal: a replica left the rotation; the request goes to another one
  x StoreError                the response store cannot be used (unreadable, corrupt, locked, read-only)
    + BadRow                  endpoint/store_types.py: one stored answer cannot be read back; it is asked again
  x ReportError               a report folder, file or document that cannot be read, written, merged or compared
    + ReportDirError          report/write/html.py: not a report directory, or a file of it unreadable
    + RunDirError             report/run_dir.py: a report directory ``clue compare`` cannot read
    + ReportFormatError       report/document.py: JSON that is not a report this version reads (also a ValueError)
    + PredictionLineError     report/prediction_lines.py: a prediction file or line (also a ValueError)
    + IntegrityError          report/integrity.py: prediction files that do not match their manifest
    + MergeError              report/merge.py: shards that cannot be merged
    + ComparabilityError      report/compare/manifest_check.py: two runs that must not be compared
    + FolderBusy              report/folder_lock.py: another run holds the report folder
    + TextSpoolError          text_spool.py: a sample's texts that cannot be spooled or read back (also an OSError)

Catch the family (or ``ClueError``) where the message is shown; the message is already what the user reads.
Two exceptions stay outside the tree because no user ever sees them: ``endpoint.wire.Malformed`` (a 2xx
body the client turns into an EndpointError) and ``server.tgi_requests.RequestError`` (the baseline server's
HTTP error answer).

This module imports nothing heavy: the plugin imports it at start-up.
"""

from __future__ import annotations

from pathlib import Path


class ClueError(Exception):
    """Something the user must fix or know. ``str(error)`` is the message as shown: it names the file, record
    or URL, what is wrong and what to do, so a catch site prints it as it is (one line, after its prefix)."""


class ConfigError(ClueError):
    """An option, a thresholds file, a task file or a task source that cannot be used."""


class DataError(ClueError):
    """Bad or missing benchmark data. The message names the file, the record and the field."""

    def __init__(self, path: Path | str, problem: str, *, where: str | None = None, hint: str | None = None) -> None:
        self.path = Path(path)
        self.problem = problem
        self.where = where
        self.hint = hint
        location = f"{self.path}" + (f", {where}" if where else "")
        text = f"{location}: {problem}"
        if hint:
            text += f" ({hint})"
        super().__init__(text)


class TokenizerError(ClueError):
    """The model's tokenizer or chat template cannot be had; the message names the option that helps."""


class StoreError(ClueError):
    """The response store cannot be used (unreadable, corrupt, locked, read-only): the message names the
    file and the fixes (--clue-refresh, --clue-no-cache, or deleting the file)."""


class ReportError(ClueError):
    """A report folder, file or document that cannot be read, written, merged or compared; names the file."""
