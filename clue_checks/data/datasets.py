"""The CLUE data sets: the public ones this package can fetch (:data:`PUBLIC`, the one place that says what
comes from where) and the credentialed ones it cannot (:data:`CREDENTIALED`). Kept apart from the download
(fetch.py) so that naming a missing data set imports no HTTP client."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Dataset:
    name: str
    url: str  # may contain "{ref}", the git ref (branch or commit)
    path: str  # relative to --clue-data, as in CLUE's data/ folder
    sha256: str | None  # None: not known, the user pins it with --sha256 NAME=HEX
    size: int | None
    licence: str
    ref: str = "master"

    def source_url(self, ref: str | None = None, base_url: str | None = None) -> str:
        if base_url:
            return f"{base_url.rstrip('/')}/{self.path}"
        return self.url.format(ref=ref or self.ref)


PUBLIC: dict[str, Dataset] = {
    d.name: d
    for d in (
        Dataset(
            name="meqsum",
            url="https://raw.githubusercontent.com/abachaa/MeQSum/{ref}/MeQSum_ACL2019_BenAbacha_Demner-Fushman.xlsx",
            path="MeQSum/MeQSum_ACL2019_BenAbacha_Demner-Fushman.xlsx",
            sha256="abedd939d5014306ca576522416bf69103e85dc8fcf1668a4099e8b84a39eeea",
            size=216_310,
            licence="MeQSum: CC BY 4.0. Cite Ben Abacha & Demner-Fushman, "
            '"On the Summarization of Consumer Health Questions", ACL 2019.',
            ref="master",
        ),
        Dataset(
            name="longhealth",
            url="https://raw.githubusercontent.com/kbressem/LongHealth/{ref}/data/benchmark_v5.json",
            path="LongHealth/benchmark_v5.json",
            sha256=None,  # LongHealth publishes no checksum; the command prints the one it computed
            size=None,
            licence="LongHealth: the authors ask that benchmark examples not be re-posted publicly; "
            "the file carries a canary string. Do not paste its questions or documents anywhere public.",
            ref="main",
        ),
    )
}

# Sets that cannot be fetched: PhysioNet credentialed access (or local generation).
CREDENTIALED: dict[str, str] = {
    "mednli": "MedNLI: PhysioNet credentialed, mednli/1.0.0 -> MedNLI/mli_test_v1.jsonl",
    "problemsummary": "Problem Summary: PhysioNet credentialed, bionlp-workshop-2023-task-1a/2.0.0 "
    "-> ProblemSummary/BioNLP2023-1A-Test.csv",
    "medisumqa": "MeDiSumQA: PhysioNet credentialed, medisumqa/1.0.0 -> MeDiSumQA/MeDiSumQA.json",
    "medisumcode": "MeDiSumCode: never published; generate it locally from MIMIC-IV (credentialed) with "
    "CLUE's data/MeDiSumCode/generate_code_dataset.py -> MeDiSumCode/MeDiSumCode.json",
}
