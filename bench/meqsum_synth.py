"""Synthetic MeQSum-sized data: 1,000 consumer health questions (997 scored + 3 shots), deterministic.

The real MeQSum file (1,000 inquiries, CC BY 4.0) is not bundled; the bundled fixture has only a
few rows. This writes an xlsx in MeQSum's exact layout (sheet `QS`, columns File/CHQ/Summary, at
`MeQSum/MeQSum_ACL2019_BenAbacha_Demner-Fushman.xlsx` under a CLUE data folder) with invented
patient e-mails of realistic length (median about 60 words, a long tail to 300, as in MeQSum),
typos and all, and a one-question reference summary built from the same facts. Synthetic: not
MeQSum data. The same seed gives byte-identical rows.

    python bench/meqsum_synth.py /tmp/clue-data --rows 1000
"""

from __future__ import annotations

import argparse
import random
from pathlib import Path

LAYOUT = "MeQSum/MeQSum_ACL2019_BenAbacha_Demner-Fushman.xlsx"

DRUGS = ["lisinopril", "metformin", "warfarin", "atorvastatin", "levothyroxine", "amlodipine", "omeprazole",
         "sertraline", "gabapentin", "prednisone", "ibuprofen", "allopurinol", "tamsulosin", "escitalopram",
         "hydrochlorothiazide", "montelukast", "losartan", "methotrexate", "amoxicillin", "furosemide",
         "insulin glargine", "apixaban", "clopidogrel", "duloxetine", "trazodone", "finasteride", "tramadol",
         "pantoprazole", "cetirizine", "propranolol"]
CONDITIONS = ["high blood pressure", "type 2 diabetes", "atrial fibrillation", "hypothyroidism", "gout",
              "asthma", "COPD", "migraine", "rheumatoid arthritis", "celiac disease", "psoriasis", "GERD",
              "kidney stones", "shingles", "osteoporosis", "sleep apnea", "fibromyalgia", "anemia",
              "hepatitis C", "restless legs syndrome", "plantar fasciitis", "vertigo", "glaucoma", "eczema",
              "irritable bowel syndrome", "Lyme disease", "polycystic ovary syndrome", "tinnitus", "sciatica",
              "macular degeneration", "Crohn's disease", "lupus", "Parkinson's disease", "epilepsy"]
SYMPTOMS = ["a dry cough", "dizziness when i stand up", "swollen ankles", "ringing in my ears", "night sweats",
            "a rash on my arms", "muscle cramps", "trouble sleeping", "blurry vision", "tingling in my feet",
            "heart palpitations", "a metallic taste", "hair loss", "constant fatigue", "stomach pain after meals",
            "joint pain in the mornings", "shortness of breath on stairs", "headaches behind the eyes"]
PEOPLE = [("I", "my", "I am"), ("my mother", "her", "she is"), ("my father", "his", "he is"),
          ("my husband", "his", "he is"), ("my wife", "her", "she is"), ("my son", "his", "he is"),
          ("my daughter", "her", "she is"), ("my grandmother", "her", "she is"), ("my brother", "his", "he is")]
DURATIONS = ["two weeks", "3 months", "about a year", "6 weeks", "since last summer", "a few days", "8 months",
             "almost 2 years", "10 days", "since christmas"]
SIGNOFFS = ["thank you", "thanks in advance", "please help", "any advice appreciated", "Very worried",
            "I would appreciate an answer", "thank you for your time", "God bless", "", ""]
FILLER = [
    "The doctor did not really explain anything and the appointment was very short.",
    "I have read a lot of different things online and now I am confused.",
    "We live far from the hospital so going back is not easy for us.",
    "The pharmacist said to ask the doctor but the doctor is on vacation.",
    "I dont want to bother the clinic again for something that might be nothing.",
    "My insurance changed this year so I had to switch to a new clinic.",
    "It started after I came back from a trip but I am not sure it is related.",
    "Nobody in our family had this before as far as I know.",
    "I try to eat healthy and walk every day but it does not seem to help.",
    "The leaflet in the box is very small and hard to read.",
    "Last time the lab results were normal except for something with the liver numbers.",
    "I also take vitamin D and fish oil, not sure if that matters.",
    "At night it is worse and I wake up two or three times.",
    "The nurse on the phone told me to keep taking it until I hear back.",
]
# (question asked in the e-mail, reference summary); {d} drug, {c} condition, {s} symptom, {p} person
QUESTIONS = [
    ("can {d} cause {s}? is that a known side effect", "Can {d} cause {s_bare}?"),
    ("is it safe to take {d} for a long time, like years", "Is long-term use of {d} safe?"),
    ("what is the best treatment for {c} these days", "What are the treatment options for {c}?"),
    ("is {c} hereditary, should the rest of the family get tested", "Is {c} hereditary, and should relatives be tested?"),
    ("what foods should be avoided with {d}", "What foods should be avoided while taking {d}?"),
    ("can {d} be stopped or does it have to be tapered", "How should {d} be stopped?"),
    ("is there a cure for {c} or only medicine to control it", "Is there a cure for {c}?"),
    ("what causes {c} and can it be prevented", "What causes {c}, and how can it be prevented?"),
    ("can i drink alcohol while on {d}", "Is it safe to drink alcohol while taking {d}?"),
    ("where can i find a specialist for {c} near me", "Where can I find a specialist for {c}?"),
    ("does {d} interact with {d2}", "Does {d} interact with {d2}?"),
    ("how long does it take for {d} to start working", "How long does {d} take to work?"),
    ("is {s_bare} a sign that {c} is getting worse", "Is {s_bare} a sign of worsening {c}?"),
    ("are there any clinical trials for {c}", "Are there clinical trials for {c}?"),
]
TYPOS = {"the": "teh", "because": "becuase", "medicine": "medecine", "doctor": "docter", "pressure": "presure",
         "really": "realy", "about": "abut", "would": "woudl", "know": "konw", "since": "sinse"}


def _typos(text: str, rng: random.Random) -> str:
    words = text.split(" ")
    for i, w in enumerate(words):
        if w.lower() in TYPOS and rng.random() < 0.3:
            words[i] = TYPOS[w.lower()]
    return " ".join(words)


def _target_words(rng: random.Random) -> int:
    """MeQSum-like lengths: median about 60 words, 20 at the least, a long tail capped at 300."""
    return int(min(300, max(20, rng.lognormvariate(3.95, 0.55))))


def _row(i: int, rng: random.Random) -> tuple[str, str, str]:
    drug, drug2 = rng.sample(DRUGS, 2)
    condition = rng.choice(CONDITIONS)
    symptom = rng.choice(SYMPTOMS)
    who, pos, is_ = rng.choice(PEOPLE)
    asked, summary = rng.choice(QUESTIONS)
    age = rng.randint(19, 91)
    s_bare = symptom.replace("my ", "").replace(" i ", " one ")
    fill = {"d": drug, "d2": drug2, "c": condition, "s": symptom, "s_bare": s_bare, "p": who}
    intro = [
        f"{who.capitalize()} ({age}) {'have' if who == 'I' else 'has'} {condition} and "
        f"{'take' if who == 'I' else 'takes'} {drug} {rng.choice(['10mg', '20 mg', '500 two times a day', 'once daily', '75 mcg'])}.",
        f"For {rng.choice(DURATIONS)} {who} {'have' if who == 'I' else 'has'} had {symptom}.",
    ]
    sentences = list(intro)
    target = _target_words(rng)
    fillers = rng.sample(FILLER, len(FILLER))
    while sum(len(s.split()) for s in sentences) < target - 12 and fillers:
        sentences.append(fillers.pop())
    while sum(len(s.split()) for s in sentences) < target - 12:  # the long tail: a history in detail
        sentences.append(f"In {rng.randint(1995, 2023)} {who} had {rng.choice(SYMPTOMS)} and was given "
                         f"{rng.choice(DRUGS)} for {rng.choice(DURATIONS)}, which {rng.choice(['helped a bit', 'did nothing', 'made it worse'])}.")
    rng.shuffle(sentences[1:])
    question = asked.format(**fill)
    body = " ".join(sentences) + " " + question[0].upper() + question[1:] + "? " + rng.choice(SIGNOFFS)
    body = _typos(body.strip(), rng)
    if rng.random() < 0.4:
        body = body.lower()
    if rng.random() < 0.6:
        subject = rng.choice([drug, condition, f"{drug} and {condition}", f"question about {drug}", symptom])
        body = f"SUBJECT: {subject}\nMESSAGE: {body}"
    pattern = rng.randrange(4)
    file_id = (f"1-{130000000 + i * 7919}.xml.txt", f"{10000 + i * 37 % 89999:05d}.txt", f"NF_{i:03d}.txt",
               f"{20000 + i * 53 % 79999:05d}.xml.txt")[pattern]
    file_id = file_id if pattern != 1 and pattern != 3 else f"{i:04d}-{file_id}"  # unique, still id-like
    summary_text = summary.format(**fill)
    return file_id, body, summary_text[0].upper() + summary_text[1:]


def rows(n: int = 1000, seed: int = 20240404) -> list[tuple[str, str, str]]:
    rng = random.Random(seed)
    out, seen = [], set()
    i = 0
    while len(out) < n:
        row = _row(i, rng)
        i += 1
        if row[0] in seen or row[1] in seen:
            continue
        seen.update((row[0], row[1]))
        out.append(row)
    return out


def write(data_dir: Path, n: int = 1000, seed: int = 20240404) -> Path:
    """The xlsx at CLUE's path under `data_dir`; returns its path."""
    import openpyxl

    path = data_dir / LAYOUT
    path.parent.mkdir(parents=True, exist_ok=True)
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.title = "QS"
    sheet.append(["File", "CHQ", "Summary"])
    for row in rows(n, seed):
        sheet.append(list(row))
    workbook.properties.title = "SYNTHETIC MeQSum-format benchmark data - not MeQSum data"
    workbook.save(path)
    return path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data_dir", type=Path)
    parser.add_argument("--rows", type=int, default=1000)
    args = parser.parse_args()
    print(write(args.data_dir, args.rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
