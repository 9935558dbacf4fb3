"""Synthetic full-scale LongHealth data: 20 patients × ~5,500 words of documents × 20 questions, deterministic.

The real LongHealth file (20 fictional patients, 5,090–6,754 words of clinical letters each, 20
questions each; CC BY 4.0) is not bundled; the bundled fixture has four small patients. This
writes `LongHealth/benchmark_v5.json` under a CLUE data folder in the same JSON layout as the
fixture (patient id → texts, name, birthday, diagnosis, questions, `canaray-string`), with invented
letters split into 5–9 documents per patient. Each question's correct option names a finding
planted in one of its answer documents; the wrong options use words that appear in no document,
so the baseline server's "best supported option" rule answers most questions right. Synthetic:
not LongHealth data. The same arguments give byte-identical files.

    python bench/longhealth_synth.py /tmp/clue-data --patients 20 --words 5500 --questions 20
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

LAYOUT = "LongHealth/benchmark_v5.json"
CANARY = "SYNTHETIC BENCH DATA - not LongHealth data; canary LongHealth:synthetic-bench"

FIRST = ["Anna", "Bernd", "Clara", "Dieter", "Elke", "Frank", "Greta", "Holger", "Ilse", "Jonas", "Karin", "Lukas",
         "Marta", "Norbert", "Olga", "Peter", "Renate", "Stefan", "Tanja", "Uwe", "Vera", "Walter"]
LAST = ["Becker", "Fischer", "Hartmann", "Keller", "Lange", "Meier", "Neumann", "Otto", "Richter", "Schulz",
        "Vogel", "Wagner", "Zimmermann", "Krause", "Brandt", "Lorenz", "Haas", "Sommer", "Franke", "Berger"]
DIAGNOSES = ["DLBCL", "Multiple myeloma", "Non-small cell lung cancer", "Colorectal adenocarcinoma", "AML",
             "Breast cancer", "Hodgkin lymphoma", "Pancreatic adenocarcinoma", "Melanoma", "CLL"]
KINDS = ["Discharge letter", "Outpatient consultation", "Radiology report", "Pathology report", "Tumour board note",
         "Follow-up letter", "Admission note", "Cardiology consultation", "Laboratory summary"]
SENTENCES = [
    "The patient presented in {state} general condition with {symptom} for {weeks} weeks.",
    "Laboratory values showed a haemoglobin of {hb} g/dl, leukocytes of {wbc}/nl and a CRP of {crp} mg/l.",
    "Computed tomography of the {region} revealed {finding} without evidence of further progression.",
    "Therapy with {drug} was continued at {dose} mg and was well tolerated apart from mild {symptom}.",
    "On physical examination the abdomen was soft, bowel sounds were normal and there was no tenderness.",
    "The cardiopulmonary examination was unremarkable; blood pressure was {sys}/{dia} mmHg, pulse {pulse}/min.",
    "We discussed the findings with the patient in detail and recommended a follow-up in {weeks} weeks.",
    "An echocardiogram showed a left ventricular ejection fraction of {ef}% with no regional wall motion abnormality.",
    "The interdisciplinary tumour board recommended {drug} in combination with supportive care.",
    "Histology of the {region} biopsy confirmed the known diagnosis; immunohistochemistry was consistent.",
    "Renal function remained stable with a creatinine of {crea} mg/dl and an eGFR of {egfr} ml/min.",
    "The patient reported {symptom}, which improved after symptomatic treatment with {drug}.",
    "Vital signs on discharge: temperature {temp} °C, oxygen saturation {spo2}% on room air.",
    "Medication on discharge included {drug} {dose} mg once daily and pantoprazole 40 mg in the morning.",
    "A port catheter was placed without complications via the right subclavian vein.",
]
STATES = ["good", "reduced", "stable", "fair", "markedly reduced"]
SYMPTOMS = ["fatigue", "night sweats", "nausea", "dyspnoea on exertion", "bone pain", "weight loss", "fever",
            "peripheral neuropathy", "diarrhoea", "loss of appetite", "cough", "dizziness"]
REGIONS = ["chest", "abdomen", "pelvis", "neck", "cervical lymph node", "liver", "bone marrow", "spine"]
FINDINGS = ["stable lymphadenopathy", "a small pleural effusion", "regressive hepatic lesions", "no new lesions",
            "mild splenomegaly", "sclerotic bone changes", "a partial response of the primary tumour"]
DRUGS = ["rituximab", "cyclophosphamide", "doxorubicin", "lenalidomide", "pembrolizumab", "capecitabine",
         "ondansetron", "dexamethasone", "allopurinol", "bisoprolol", "ramipril", "metamizole"]
SYLLABLES = ["ka", "lo", "mir", "zen", "tra", "vo", "pel", "quin", "dra", "sul", "fex", "mor", "tal", "bri",
             "nox", "ru", "ves", "gam", "hol", "cyr", "tep", "wan", "ox", "ild"]


def coined(rng: random.Random, used: set[str]) -> str:
    """A made-up word never handed out before: planted findings and wrong options never collide."""
    while True:
        word = "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(3, 4)))
        if word not in used:
            used.add(word)
            return word


def sentence(rng: random.Random) -> str:
    return rng.choice(SENTENCES).format(
        state=rng.choice(STATES), symptom=rng.choice(SYMPTOMS), weeks=rng.randint(2, 12),
        hb=f"{rng.uniform(8, 15):.1f}", wbc=f"{rng.uniform(2, 14):.1f}", crp=rng.randint(1, 120),
        region=rng.choice(REGIONS), finding=rng.choice(FINDINGS), drug=rng.choice(DRUGS),
        dose=rng.choice([5, 10, 20, 25, 50, 100, 375, 500]), sys=rng.randint(100, 160), dia=rng.randint(60, 95),
        pulse=rng.randint(55, 110), ef=rng.randint(40, 65), crea=f"{rng.uniform(0.6, 2.0):.2f}",
        egfr=rng.randint(30, 110), temp=f"{rng.uniform(36.2, 38.4):.1f}", spo2=rng.randint(91, 99))


def split_words(rng: random.Random, total: int, parts: int) -> list[int]:
    """`parts` document lengths summing to `total`, unequal as real letters are (a long one, short ones)."""
    weights = [rng.uniform(0.3, 2.5) for _ in range(parts)]
    sizes = [max(80, int(total * w / sum(weights))) for w in weights]
    sizes[0] += total - sum(sizes)
    return sizes


def patient(rng: random.Random, number: int, words: int, questions: int, used: set[str]) -> dict:
    name = f"{FIRST[number % len(FIRST)]} {LAST[number % len(LAST)]}"
    n_docs = rng.randint(5, 9)
    # Planted findings: one per question, in a chosen document at a chosen sentence.
    plants: dict[int, list[tuple[int, str]]] = {d: [] for d in range(n_docs)}
    qs = []
    for no in range(1, questions + 1):
        doc = rng.randrange(n_docs)
        finding = f"{coined(rng, used)} {coined(rng, used)}"
        wrong = [f"{coined(rng, used)} {coined(rng, used)}" for _ in range(4)]
        options = wrong[:]
        options.insert(rng.randrange(5), finding)
        plants[doc].append((no, finding))
        qs.append({"No": no, "question": f"Which finding was documented for {name} at visit {no} "
                                         f"({rng.choice(KINDS).lower()}, item {rng.randint(1, 99)})?",
                   **{f"answer_{k}": text for k, text in zip("abcde", options)}, "correct": finding,
                   "answer_location": {f"text_{doc}": {"start": [0.0], "end": [1.0]}}})
    texts = {}
    for d, size in enumerate(split_words(rng, words, n_docs)):
        body = [f"{rng.choice(KINDS)} for {name}, born {1940 + number}-0{1 + number % 9}-1{number % 10}."]
        count = len(body[0].split())
        while count < size:
            line = sentence(rng)
            body.append(line)
            count += len(line.split())
        for no, finding in plants[d]:
            at = rng.randrange(1, len(body))
            body.insert(at, f"At visit {no} the examination documented {finding}.")
        texts[f"text_{d}"] = " ".join(body)
    for q in qs:  # where in its document the finding sits, as a fraction (the real file's answer_location)
        tid = next(iter(q["answer_location"]))
        size = len(texts[tid])
        at = texts[tid].find(q["correct"])
        q["answer_location"][tid] = {"start": [round(at / size, 4)], "end": [round((at + len(q["correct"])) / size, 4)]}
    return {"texts": texts, "name": name, "birthday": f"{1940 + number}-0{1 + number % 9}-1{number % 10}",
            "diagnosis": DIAGNOSES[number % len(DIAGNOSES)], "questions": qs, "canaray-string": CANARY}


def write_longhealth(folder: Path, *, patients: int = 20, words: int = 5500, questions: int = 20,
                     seed: int = 0) -> Path:
    """Write the data file under `folder` (a CLUE data folder) and return its path."""
    rng = random.Random(seed)
    used: set[str] = set()
    data = {f"patient_{n:02d}": patient(rng, n, words, questions, used) for n in range(1, patients + 1)}
    path = folder / LAYOUT
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path, help="the CLUE data folder to write into")
    parser.add_argument("--patients", type=int, default=20)
    parser.add_argument("--words", type=int, default=5500, help="words of documents per patient")
    parser.add_argument("--questions", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    path = write_longhealth(args.folder, patients=args.patients, words=args.words, questions=args.questions,
                            seed=args.seed)
    print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
