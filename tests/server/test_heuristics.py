"""The baseline's rules per CLUE task, its prompt reading (chat, rendered, merged system,
plain transcript, prefill) and that it never raises."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import simple_icd_10_cm as cm
from hypothesis import given
from hypothesis import strategies as st

from clue_checks.server import heuristics as h
from clue_checks.server import icd_codes

P = h.PROMPTS
CLUE_ICD_RE = re.compile(r"\b[A-TV-Z][0-9]{2}(?:\.?[0-9A-Z]{1,4})?\b")  # CLUE's MeDiSumCode parser
CLUE_LH_RE = re.compile(r"The correct answer is (\w):")  # CLUE's LongHealth parser


def conversation(task: str, shots: list[dict[str, str]], target: dict[str, str],
                 era: str = "head") -> list[dict[str, str]]:
    """CLUE's layout: system, (user, assistant) per shot, then the target user turn."""
    user, assistant = P[task]["user"], P[task]["assistant"]
    user = user[era] if isinstance(user, dict) else user
    assistant = assistant[era]
    msgs = [{"role": "system", "content": P[task]["system"]}]
    for fields in shots:
        msgs.append({"role": "user", "content": user.format(**fields)})
        msgs.append({"role": "assistant", "content": assistant.format(**fields)})
    msgs.append({"role": "user", "content": user.format(**target)})
    return msgs


def transcript(msgs: list[dict[str, str]], prefix: str) -> str:
    """CLUE's base-model layout: every turn joined by a blank line, then the prefix."""
    return "\n\n".join(m["content"] for m in msgs) + "\n\n" + prefix


def merged_system(msgs: list[dict[str, str]]) -> list[dict[str, str]]:
    """CLUE's instruct-without-system layout: SYS + "\\n\\n" + first user turn."""
    first = {"role": "user", "content": msgs[0]["content"] + "\n\n" + msgs[1]["content"]}
    return [first, *msgs[2:]]


# ---------------------------------------------------------------- detection and layouts


def test_detect_task_by_system_prompt_and_markers() -> None:
    for task in h.TASKS:
        assert h.detect_task("<s><|system|>\n" + P[task]["system"] + "<|end|>") == task
    assert h.detect_task("\nSENTENCE_1: a\nSENTENCE_2: b\n") == "mednli"
    assert h.detect_task(P["meqsum"]["user"].format(CHQ="x")) == "meqsum"
    assert h.detect_task(P["problemsummary"]["user"].format(Subjectives="s", Assessment="a")) == "problemsummary"
    assert h.detect_task(P["medisumcode"]["user"].format(text="t")) == "medisumcode"
    assert h.detect_task(P["medisumqa"]["user"]["head"].format(discharge_summary="d", Question="q")) == "medisumqa"
    longhealth = P["longhealth"]["user"].format(documents="d", question_text="q", options="A: x")
    assert h.detect_task(longhealth) == "longhealth"
    assert h.detect_task("What is the capital of France?") is None


def test_unknown_task_and_empty_requests() -> None:
    assert h.answer([{"role": "user", "content": "hello"}], None) == h.UNKNOWN_ANSWER
    assert h.answer(None, None) == h.UNKNOWN_ANSWER
    assert h.answer([], None) == h.UNKNOWN_ANSWER
    assert h.answer(None, "") == h.UNKNOWN_ANSWER


def test_render_chat_matches_the_jinja_template() -> None:
    import jinja2

    config = json.loads((Path(h.__file__).parent / "baseline_tokenizer" / "tokenizer_config.json").read_text())
    template = jinja2.Environment().from_string(config["chat_template"])
    msgs = [{"role": "system", "content": "S"}, {"role": "user", "content": "U\n"},
            {"role": "assistant", "content": "A"}]
    for gen in (True, False):
        assert template.render(messages=msgs, add_generation_prompt=gen) == h.render_chat(msgs, gen)


# ---------------------------------------------------------------- MedNLI


@pytest.mark.parametrize(
    ("premise", "hypothesis", "label"),
    [
        ("Patient denies chest pain.", "Patient has chest pain.", "contradiction"),
        ("He has a fever of 39 C.", "He does not have a fever.", "contradiction"),
        ("CT head was negative for hemorrhage.", "CT head shows hemorrhage.", "contradiction"),
        ("The patient has a history of hypertension and diabetes.", "The patient has hypertension.", "entailment"),
        ("Labs notable for elevated creatinine and potassium.", "Creatinine is elevated.", "entailment"),
        ("He was admitted for pneumonia.", "He has a broken leg.", "neutral"),
    ],
)
def test_mednli_rule(premise: str, hypothesis: str, label: str) -> None:
    assert h.nli_label(premise, hypothesis) == label


def test_mednli_answers_the_last_pair_in_lowercase() -> None:
    shots = [{"sentence1": "No fever.", "sentence2": "Has fever.", "gold_label": "contradiction"},
             {"sentence1": "Has asthma.", "sentence2": "Has asthma.", "gold_label": "entailment"}]
    target = {"sentence1": "He was admitted for pneumonia.", "sentence2": "He has a broken leg."}
    msgs = conversation("mednli", shots, target)
    assert h.answer(msgs, None) == "neutral"
    assert h.answer(None, h.render_chat(msgs)) == "neutral"
    assert h.answer(None, transcript(msgs, "")) == "neutral"
    assert h.answer(merged_system(msgs), None) == "neutral"


# ---------------------------------------------------------------- MeQSum

CHQ = ("SUBJECT: cetirizine and ibuprofen\nMESSAGE: Hello. I have been taking cetirizine for my allergies "
       "for two years.  can   i take it together with ibuprofen?? Thanks for your help.")


def test_meqsum_question_extraction() -> None:
    assert h.summarize_question(CHQ) == "Can i take it together with ibuprofen?"
    assert h.summarize_question("SUBJECT: nulytely\nMESSAGE: I need information on this drug.") == "What is nulytely?"
    assert h.summarize_question("My knee hurts when I run. Why?") == "What is My knee hurts when I run?"
    assert h.summarize_question("") == "What is this?"


def test_meqsum_modes_and_layouts() -> None:
    shot = {"CHQ": "SUBJECT: x\nMESSAGE: Is x bad for me?", "Summary": "Is x harmful?"}
    msgs = conversation("meqsum", [shot], {"CHQ": CHQ, "Summary": ""})
    want = "Can i take it together with ibuprofen?"
    assert h.answer(msgs, None) == want  # chat: no prefix
    assert h.answer(None, h.render_chat(msgs)) == want  # generate without prefill
    assert h.answer(None, h.render_chat(msgs) + "Question: ") == want  # continuation only
    assert h.answer(None, transcript(msgs, "Question: ")) == want
    assert h.answer(merged_system(msgs), None) == want
    assert h.answer([*msgs, {"role": "assistant", "content": "Question: "}], None) == want  # chat prefill
    paper = conversation("meqsum", [shot], {"CHQ": CHQ, "Summary": ""}, era="paper")  # shots say "Question: …"
    assert h.answer(None, h.render_chat(paper) + "Question: ") == want
    assert h.answer(None, transcript(paper, "Question: ")) == want


# ---------------------------------------------------------------- Problem Summary


def test_problem_summary() -> None:
    target = {"Subjectives": "Pt c/o SOB and cough for 3 days.",
              "Assessment": "72 yo F with hx of COPD, HTN presenting with acute hypoxic respiratory failure "
                            "likely due to COPD exacerbation and community acquired pneumonia. Also with AKI."}
    shot = {"Subjectives": "a", "Assessment": "Sepsis.", "Summary": "sepsis"}
    msgs = conversation("problemsummary", [shot], target)
    want = "COPD, HTN, acute hypoxic respiratory failure, COPD exacerbation, community acquired pneumonia, AKI"
    assert h.answer(msgs, None) == want
    assert h.answer(None, h.render_chat(msgs) + "Diagnoses/Patient problems: ") == want
    # No clinical term anywhere: the first words of the assessment.
    assert h.extract_problems("Assessment: Plan discussed with family.") == "Plan discussed with family."


# ---------------------------------------------------------------- LongHealth

LH_DOCS = ("Discharge letter\nDiagnosis: Diffuse large B-cell lymphoma (DLBCL), stage IIIA.\n"
           "Therapy: six cycles of R-CHOP chemotherapy. Date of birth: 01.02.1960.")
LH_OPTIONS = ("A: Hodgkin lymphoma\nB: Diffuse large B-cell lymphoma\nC: Breast cancer\n"
              "D: Malignant melanoma\nE: Small cell lung cancer")


def longhealth_prompt(docs: str, options: str) -> list[dict[str, str]]:
    user = P["longhealth"]["user"].format(documents=docs, question_text="What is the main diagnosis?", options=options)
    return [{"role": "system", "content": P["longhealth"]["system"]}, {"role": "user", "content": user}]


def test_longhealth_picks_the_supported_option() -> None:
    msgs = longhealth_prompt(LH_DOCS, LH_OPTIONS)
    out = h.answer(msgs, None)
    assert out == "The correct answer is B: Diffuse large B-cell lymphoma."
    assert CLUE_LH_RE.search(out).group(1) == "B"
    # TGI-era layouts: SYS + prompt as one user turn; base model SYS + "\n\n\n" + prompt.
    assert h.answer([{"role": "user", "content": msgs[0]["content"] + msgs[1]["content"]}], None) == out
    assert h.answer(None, msgs[0]["content"] + "\n\n\n" + msgs[1]["content"]) == out


def test_longhealth_answers_f_when_unsupported() -> None:
    options = LH_OPTIONS + "\nF: " + P["longhealth"]["option_f"]
    unrelated = "Discharge letter\nKnee replacement on the left, physiotherapy twice a week."
    out = h.answer(longhealth_prompt(unrelated, options), None)
    assert out == f"The correct answer is F: {P['longhealth']['option_f']}."
    assert h.answer(longhealth_prompt(LH_DOCS, options), None).startswith("The correct answer is B:")
    # Task 1 has no F: the best-scoring letter even without support.
    assert CLUE_LH_RE.search(h.answer(longhealth_prompt(unrelated, LH_OPTIONS), None))


# ---------------------------------------------------------------- MeDiSumQA

LETTER = ("Discharge Diagnosis: NSTEMI.\n"
          "You were admitted to the hospital because you had a heart attack.\n"
          "We placed a stent in one of the arteries of your heart.\n"
          "Your kidney function was stable during the stay.")


def test_medisumqa_best_sentence() -> None:
    assert h.best_sentence(LETTER, "Why was I admitted?") == \
        "You were admitted to the hospital because you had a heart attack."
    assert h.best_sentence(LETTER, "What was done to the arteries of my heart?") == \
        "We placed a stent in one of the arteries of your heart."
    assert h.best_sentence(LETTER, "zebra?") == h.UNKNOWN_ANSWER


def test_medisumqa_layouts() -> None:
    shot = {"discharge_summary": "Other letter.", "Question": "Why?", "Answer": "Because."}
    target = {"discharge_summary": LETTER, "Question": "Why was I admitted to the hospital?", "Answer": ""}
    want = "You were admitted to the hospital because you had a heart attack."
    head = conversation("medisumqa", [shot], target, era="head")
    assert h.answer(head, None) == want
    paper = conversation("medisumqa", [shot], target, era="paper")
    assert h.answer(None, h.render_chat(paper) + "Answer: ") == want
    assert h.answer(None, transcript(paper, "Answer: ")) == want


# ---------------------------------------------------------------- MeDiSumCode

CODE_LETTER = """Admission Date: ___   Discharge Date: ___
Chief Complaint: dizziness
History of Present Illness: 66 year old man with type 2 diabetes mellitus without complications
and essential (primary) hypertension, presenting with dizziness.
Discharge Diagnosis:
Type 2 diabetes mellitus without complications
Essential (primary) hypertension
"""


def test_medisumcode_codes_are_valid_icd10cm() -> None:
    codes = h.match_icd_codes(CODE_LETTER)
    assert "E11.9" in codes and "I10" in codes
    assert 1 <= len(codes) <= icd_codes.ICD_MAX_CODES
    assert all(cm.is_valid_item(c) and cm.is_leaf(c) for c in codes)
    assert "E10.9" not in codes and "E13.9" not in codes  # same phrase, weaker codes


def test_medisumcode_modes() -> None:
    shot = {"text": "Asthma.", "codes": "J45909"}
    msgs = conversation("medisumcode", [shot], {"text": CODE_LETTER, "codes": ""})
    chat = h.answer(msgs, None)
    assert chat.startswith("ICD-10 Codes: ") and "E11.9" in chat and "I10" in chat
    generated = h.answer(None, h.render_chat(msgs) + "ICD-10 Codes: ")
    assert generated == chat[len("ICD-10 Codes: "):]
    assert {"E11.9", "I10"} <= set(CLUE_ICD_RE.findall(generated))
    empty = conversation("medisumcode", [], {"text": "Nothing to see.", "codes": ""})
    assert h.answer(empty, None) == "ICD-10 Codes: R69"


def test_medisumcode_handles_a_long_letter() -> None:
    letter = (CODE_LETTER + "The patient was seen by cardiology and physical therapy. ") * 60
    codes = h.match_icd_codes(letter)
    assert "E11.9" in codes


def test_longhealth_handles_long_documents() -> None:
    docs = "\n\n--------------\n\n".join([LH_DOCS + " Follow-up in the oncology clinic." * 50] * 40)
    out = h.answer(longhealth_prompt(docs, LH_OPTIONS), None)
    assert out.startswith("The correct answer is B:")


# ---------------------------------------------------------------- never raises

FRAGMENTS = [P[t]["system"] for t in h.TASKS] + [
    "SENTENCE_1:", "\nSENTENCE_2:", "--------------PATIENT INQUIRY--------------", "SUBJECT:", "MESSAGE:",
    "--------------END PATIENT INQUIRY--------------", "--------------BEGIN DISCHARGE LETTER--------------",
    "--------------END DISCHARGE LETTER--------------", "--------------BEGIN DOCUMENTS--------------",
    "--------------END DOCUMENTS--------------", "A: x", "F: none", "Question: ", "Answer: ", "ICD-10 Codes: ",
    "Assessment:", "Do not generate anything else.", "Please answer using the following format",
    "<|user|>\n", "<|assistant|>\n", "<|end|>\n", "<s>", "\n", "\n\n", "?", ".", "type 2 diabetes mellitus",
]
texts = st.lists(st.one_of(st.sampled_from(FRAGMENTS), st.text(max_size=40)), max_size=12).map("".join)
contents: st.SearchStrategy[Any] = st.one_of(
    texts, st.none(), st.integers(),
    st.lists(st.one_of(st.fixed_dictionaries({"type": st.just("text"), "text": texts}), st.text(max_size=5))),
)
messages = st.lists(
    st.one_of(
        st.fixed_dictionaries(
            {"role": st.sampled_from(["system", "user", "assistant", "tool", ""]), "content": contents}
        ),
        st.dictionaries(st.text(max_size=5), st.text(max_size=5), max_size=2),
    ),
    max_size=6,
)


@given(prompt=texts)
def test_answer_never_raises_on_prompts(prompt: str) -> None:
    assert isinstance(h.answer(None, prompt), str)


@given(msgs=messages)
def test_answer_never_raises_on_messages(msgs: list[dict[str, Any]]) -> None:
    assert isinstance(h.answer(msgs, None), str)
