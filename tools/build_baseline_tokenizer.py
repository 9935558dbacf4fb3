"""Regenerate ``clue_checks/server/baseline_tokenizer/``: the tokenizer of the parameterless baseline model.

A development tool, not part of the package (the built files ship as its data). Run
``python tools/build_baseline_tokenizer.py`` from the repository root (optionally with an output
directory).  The result is deterministic: the corpus is built only from text that ships
with this repository (the CLUE prompt texts plus the word lists and sentences below), so
the same tokenizers version always writes byte-identical files.

Why a trained BPE and not whitespace splitting: the benchmark counts tokens (truncation,
``max_new_tokens``, LongHealth document packing), and a byte-level BPE of a few thousand
entries gives realistic counts (about 1.2-1.6 tokens per English word) in a ~100 kB file.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

VOCAB_SIZE = 5000
SPECIAL_TOKENS = ["<unk>", "<s>", "</s>", "<pad>", "<|system|>", "<|user|>", "<|assistant|>", "<|end|>"]
# One turn is "<|role|>\ncontent<|end|>\n"; the BOS is written by the template itself, so
# the tokenizer has no post-processor (encoding a rendered prompt must not add a second <s>).
CHAT_TEMPLATE = (
    "<s>{% for message in messages %}"
    "<|{{ message['role'] }}|>\n{{ message['content'] }}<|end|>\n"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)

_PACKAGE = Path(__file__).resolve().parent.parent / "clue_checks"
DEFAULT_OUT = _PACKAGE / "server" / "baseline_tokenizer"
PROMPTS_JSON = _PACKAGE / "tasks" / "clue_prompts.json"

# Frequent English function and general words (weighted up: they dominate real text).
COMMON_WORDS = """
the of and to a in is it you that he was for on are with as I his they be at one have this
from or had by not word but what some we can out other were all there when up use your how
said an each she which do their time if will way about many then them write would like so
these her long make thing see him two has look more day could go come did number sound no
most people my over know water than call first who may down side been now find any new work
part take get place made live where after back little only round man year came show every
good me give our under name very through just form sentence great think say help low line
differ turn cause much mean before move right boy old too same tell does set three want air
well also play small end put home read hand port large spell add even land here must big high
such follow act why ask men change went light kind off need house picture try us again animal
point mother world near build self earth father head stand own page should country found answer
school grow study still learn plant cover food sun four between state keep eye never last let
thought city tree cross farm hard start might story saw far sea draw left late run don't while
press close night real life few north open seem together next white children begin got walk
example ease paper group always music those both mark often letter until mile river car feet
care second book carry took science eat room friend began idea fish mountain stop once base
hear horse cut sure watch color face wood main enough plain girl usual young ready above ever
red list though feel talk bird soon body dog family direct pose leave song measure door product
black short numeral class wind question happen complete ship area half rock order fire south
problem piece told knew pass since top whole king space heard best hour better true during
hundred five remember step early hold west ground interest reach fast verb sing listen six table
travel less morning ten simple several vowel toward war lay against pattern slow center love
person money serve appear road map rain rule govern pull cold notice voice unit power town fine
certain fly fall lead cry dark machine note wait plan figure star box noun field rest correct
able pound done beauty drive stood contain front teach week final gave green oh quick develop
ocean warm free minute strong special mind behind clear tail produce fact street inch multiply
nothing course stay wheel full force blue object decide surface deep moon island foot system busy
test record boat common gold possible plane stead dry wonder laugh thousand ago ran check game
shape equate hot miss brought heat snow tire bring yes distant fill east paint language among
please thank hello hi dear doctor wife husband son daughter baby child mom dad years months
weeks days ago today yesterday tomorrow recently currently since because however therefore also
would should could might must shall will can cannot isn't doesn't didn't wasn't aren't won't I'm
I've it's there's what's let's help information information advice treatment cure cause causes
""".split()

CLINICAL_WORDS = """
patient patients history admitted admission discharge discharged hospital hospitalization
diagnosis diagnoses diagnosed problem problems assessment plan physical exam examination
presented presenting complaint chief illness medical surgical family social medications
medication allergies allergy vital signs temperature pulse blood pressure heart rate respiratory
oxygen saturation weight height pain chest abdominal abdomen headache nausea vomiting diarrhea
constipation fever chills cough shortness breath dyspnea fatigue weakness dizziness syncope
palpitations edema swelling rash bleeding infection infections sepsis septic shock pneumonia
bronchitis asthma copd emphysema tuberculosis influenza covid virus viral bacterial fungal
antibiotic antibiotics vancomycin ceftriaxone piperacillin tazobactam azithromycin levofloxacin
metronidazole insulin metformin lisinopril amlodipine metoprolol atorvastatin aspirin heparin
warfarin apixaban furosemide prednisone acetaminophen ibuprofen morphine oxycodone omeprazole
pantoprazole gabapentin levothyroxine albuterol hypertension hypotension diabetes mellitus
hyperlipidemia hypercholesterolemia obesity coronary artery disease myocardial infarction angina
heart failure congestive atrial fibrillation flutter arrhythmia tachycardia bradycardia stroke
cerebrovascular accident transient ischemic attack seizure epilepsy dementia delirium depression
anxiety schizophrenia bipolar disorder alcohol abuse withdrawal tobacco smoking substance
kidney renal chronic acute injury failure dialysis creatinine urea electrolytes sodium potassium
chloride bicarbonate calcium magnesium phosphate glucose hemoglobin hematocrit platelets white
cells count leukocytosis anemia thrombocytopenia coagulopathy liver hepatic cirrhosis hepatitis
pancreatitis cholecystitis appendicitis diverticulitis colitis gastritis ulcer gastrointestinal
esophageal reflux hernia obstruction bowel colon rectal cancer carcinoma tumor malignant benign
neoplasm metastatic metastasis lymphoma leukemia chemotherapy radiation oncology biopsy surgery
resection laparoscopic cholecystectomy appendectomy colectomy mastectomy amputation fracture
femur hip knee shoulder spine lumbar cervical thoracic vertebral osteoarthritis arthritis
rheumatoid osteoporosis gout lupus thyroid hypothyroidism hyperthyroidism adrenal pituitary
urinary tract bladder prostate hyperplasia incontinence retention catheter pregnancy pregnant
delivery cesarean gestational preeclampsia postpartum neonatal pediatric infant thrombosis
embolism pulmonary deep vein venous arterial peripheral vascular aneurysm dissection aortic
valve stenosis regurgitation mitral tricuspid echocardiogram electrocardiogram ejection fraction
ventricular left right cardiac cardiomyopathy pericardial effusion pleural ascites edema
hyponatremia hyperkalemia hypokalemia hypoglycemia hyperglycemia ketoacidosis dehydration
malnutrition cellulitis abscess osteomyelitis wound ulcer pressure debridement skin soft tissue
neuropathy retinopathy nephropathy complications complication without with essential primary
secondary unspecified other specified type stage end status post procedure intubation extubation
ventilation mechanical intensive care unit emergency department outpatient follow appointment
clinic primary care physician nurse consult consultation imaging radiograph x-ray computed
tomography magnetic resonance ultrasound scan contrast findings impression normal abnormal
elevated decreased increased mild moderate severe stable improved worsened resolved negative
positive denies reports states noted likely possible probable consistent suspicious concern
continue start stop hold increase decrease dose daily twice nightly oral intravenous iv po mg
mcg units ml hour hours tablet tablets capsule injection infusion drip bolus
htn dm cad chf ckd aki uti dvt pe mi afib gerd bph osa etoh hx pmh sob cp abd yo pt
""".split()

MORE_WORDS = """
about above across actually add added after afternoon again against age ago agree agreed ahead allow
almost alone along already although among amount another anyone anything anyway around arrive asked
available avoid away become becomes becoming behind being believe below beside best beyond bill
board born bought break bring brought budget building business buy called calling came cannot
cases certainly chance changed changes choice choose city clearly coming community company compare
concern concerns condition conditions consider considered continue continued control costs could
couple course create current data daughter deal death debate decade decided decision describe
despite detail details difference different difficult discuss discussed doing done during easy
economic effect effects either else employee enough entire especially evening event events eventually
everyone everything evidence exactly expect experience explain face fact failed fairly feeling felt
final finally financial finding finished former forward friday future gave general getting given
giving goes going gone government greater group growing guess happened happens having health heard
heavy held helped helpful here herself himself hope hoped hospital however huge human hundreds
husband important include included including increase indeed individual industry instead interested
investment issue issues itself job join just knowledge known later least leaving less level likely
little living local longer looked looking lost lot lower major making manager many market matter
maybe meeting member members might million minutes moment monday month months morning mostly moved
nearly necessary needed needs neither nobody none normally nothing noticed office often okay older
others otherwise outside overall paid parents particular past pay perhaps period personal phone
placed plans point policy political position possible postpone power prepared president pretty
previous price private probably process program provide provided public purpose quality quite
raised rather reason reasons received recent recently record related remain report reported
required research result results return rising risk role saturday saying school seemed seen send
sent serious service services seven several shall share short shown significant similar simply
since single sister situation social society someone something sometimes soon sorry sort speak
specific spend spent staff standard started starting states still stopped strong student students
subject success suddenly suggest sunday support supposed sure taken taking talked team term terms
than thanks themselves theory thing things thinking third thursday tired together total toward
trouble trying tuesday turned type understand unless until upon used using usually various version
view visit wanted wants weekend whatever whether which while whole whom whose wife willing within
without woman women wonderful working worried worse worth wrote yet yourself
"""

# Original prose (written for this file) so that ordinary sentences tokenize realistically.
PROSE = """
Yesterday afternoon the committee met to discuss the plans for the coming year. Several members were
worried about rising costs, while others believed that the investment would pay off within a decade.
After a long and sometimes heated debate, they agreed to postpone the final decision until more
information becomes available. Most people expected the meeting to end early, but it lasted well into
the evening. When I arrived at the station, the train had already left, so I walked home through the
park. The weather was cold and the streets were quiet. My neighbour, who works as a nurse at the local
hospital, told me that the emergency department had been unusually busy all week. Many patients came in
with breathing problems, fever and a persistent cough, and some of them had to stay for several days.
She explained that older adults and people with chronic conditions are at a higher risk of developing
complications. It is important to wash your hands, get enough sleep, eat a balanced diet and see a
doctor if your symptoms get worse. Please call us if you have any questions about your appointment or
your prescriptions. We would be happy to help you find the information you need. The results of the
study were published last month in a medical journal. The authors reported that the new treatment
reduced the number of hospital admissions by almost one third, although the effect was smaller in
patients who were already taking other medications. Further research is needed to confirm these
findings and to understand which patients benefit most. In the meantime, doctors should continue to
follow the current guidelines and discuss the risks and benefits with each patient individually.
The patient was seen in the clinic today for a routine follow up visit. He reports feeling much better
since his last admission and has been walking every day. He still gets short of breath when climbing
stairs but denies chest pain, palpitations or swelling of the legs. His wife says that he has been
sleeping well and eating normally. On examination he appeared comfortable and in no acute distress.
The lungs were clear to auscultation bilaterally and the heart sounds were regular without murmurs.
The abdomen was soft and non tender. There was no peripheral edema. Laboratory studies showed stable
kidney function and a slightly elevated blood sugar. We reviewed his medication list and made no
changes. He was advised to keep a record of his blood pressure readings at home and to return in three
months, or sooner if his symptoms change. Dear Mr. Smith, it was a pleasure taking care of you during
your recent stay at our hospital. You were admitted because of a serious infection of the blood that
was caused by bacteria in your urine. You were treated with antibiotics through a vein and your
condition improved. Before you left, we changed some of your medicines. Please stop taking the water
pill until you see your primary care doctor next week, and continue all of your other medicines as
prescribed. If you develop a fever, confusion, pain when passing urine, or feel light headed, please
call your doctor or come back to the emergency room.
"""

# Sentences in the style of the benchmark's inputs (never any dataset text).
SENTENCES = [
    "The patient is a 67 year old man with a history of hypertension and type 2 diabetes mellitus.",
    "He presented to the emergency department with chest pain and shortness of breath.",
    "She was admitted to the hospital for community acquired pneumonia and treated with antibiotics.",
    "Her blood pressure was 150/90 and her heart rate was 102 beats per minute.",
    "Labs were notable for a creatinine of 2.1, potassium of 5.4 and a white blood cell count of 14.",
    "An echocardiogram showed an ejection fraction of 35% with moderate mitral regurgitation.",
    "The patient denies fever, chills, nausea or vomiting.",
    "There is no evidence of acute intracranial hemorrhage.",
    "You were admitted to the hospital because you had an infection in your lungs.",
    "Please take all of your medications as prescribed and follow up with your primary care doctor.",
    "Discharge Diagnosis: Acute on chronic systolic heart failure, atrial fibrillation, acute kidney injury.",
    "Assessment and Plan: 72 yo F with COPD exacerbation, HTN, CKD stage 3, admitted for hypoxia.",
    "What are the side effects of metformin and can I take it with lisinopril?",
    "My mother was diagnosed with breast cancer last year. What treatments are available?",
    "Is it safe to take ibuprofen during pregnancy? I have had a headache for three days.",
    "The correct answer is C: Acute bronchitis.",
    "Type 2 diabetes mellitus without complications. Essential (primary) hypertension.",
    "Chronic obstructive pulmonary disease with (acute) exacerbation.",
    "Sepsis, unspecified organism. Urinary tract infection, site not specified.",
    "Brief Hospital Course: The patient was started on IV vancomycin and piperacillin-tazobactam.",
    "Medications on Admission: aspirin 81 mg daily, atorvastatin 40 mg nightly, metoprolol 25 mg twice daily.",
    "Followup Instructions: Please call your doctor if you develop fever greater than 101.",
    "Date of birth: 01/02/1950. Sex: M. Service: MEDICINE. Allergies: Penicillins.",
    "ENTAILMENT NEUTRAL CONTRADICTION entailment neutral contradiction",
    "SUBJECT: question about medication MESSAGE: Hello, I would like to know more about this drug.",
]


def icd_descriptions() -> list[str]:
    """Descriptions of billable ICD-10-CM codes outside chapters S-Y, in code order."""
    import re

    import simple_icd_10_cm as cm

    code_re = re.compile(r"[A-RUZ][0-9][0-9A-Z](\.[0-9A-Z]{1,3})?")
    return [cm.get_description(c) for c in cm.get_all_codes(True) if code_re.fullmatch(c) and cm.is_leaf(c)]


def corpus() -> list[str]:
    """The training texts, in a fixed order (order matters for tie-breaking merges)."""
    texts: list[str] = []
    prompts = json.loads(PROMPTS_JSON.read_text(encoding="utf-8"))

    def walk(node: object) -> None:
        if isinstance(node, str):
            texts.append(node)
        elif isinstance(node, dict):
            for key in sorted(node):
                if not key.startswith("_"):
                    walk(node[key])

    walk(prompts)
    general = COMMON_WORDS + MORE_WORDS.split()
    # Word lists as running text (a leading space per word, as in sentences), weighted so
    # that everyday and clinical words win merges over the long tail of ICD terms.
    texts += [PROSE] * 30
    texts += [" ".join(general)] * 40
    texts += [" ".join(w.capitalize() for w in general)] * 10
    texts += [" ".join(CLINICAL_WORDS)] * 25
    texts += [" ".join(w.capitalize() for w in CLINICAL_WORDS)] * 6
    texts += [" ".join(w.upper() for w in CLINICAL_WORDS[-30:] + ["SUBJECT", "MESSAGE"])] * 6
    texts += SENTENCES * 10
    texts += [" ".join(str(n) for n in range(0, 200))] * 5
    # ICD-10-CM descriptions: a broad, freely licensed clinical vocabulary that is already a
    # dependency (injury/external-cause chapters skipped: mostly laterality variants).
    texts += icd_descriptions()
    return texts


def build(out_dir: Path = DEFAULT_OUT) -> Path:
    """Train the BPE and write ``tokenizer.json`` + ``tokenizer_config.json`` to ``out_dir``."""
    from transformers import PreTrainedTokenizerFast  # only needed at build time

    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB_SIZE,
        min_frequency=2,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(corpus(), trainer)

    hf_tok = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="<s>",
        eos_token="</s>",
        unk_token="<unk>",
        pad_token="<pad>",
        additional_special_tokens=SPECIAL_TOKENS[4:],
    )
    hf_tok.chat_template = CHAT_TEMPLATE
    hf_tok.model_max_length = 1_000_000
    out_dir.mkdir(parents=True, exist_ok=True)
    # Template inline in tokenizer_config.json: TGI's router reads only that (or chat_template.json).
    hf_tok.save_pretrained(str(out_dir), save_jinja_files=False)

    cfg_path = out_dir / "tokenizer_config.json"
    cfg = json.loads(cfg_path.read_text(encoding="utf-8"))
    # transformers 5 writes "TokenizersBackend", unknown to transformers 4.x servers.
    cfg["tokenizer_class"] = "PreTrainedTokenizerFast"
    # v5 calls the list "extra_special_tokens"; v4 expects a dict under that name and the
    # list under "additional_special_tokens", which v5 still reads.
    if isinstance(cfg.get("extra_special_tokens"), list):
        cfg["additional_special_tokens"] = cfg.pop("extra_special_tokens")
    cfg_path.write_text(json.dumps(cfg, indent=2, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8")
    # Keep only the two files we need (save_pretrained may add special_tokens_map.json etc.).
    for extra in out_dir.iterdir():
        if extra.name not in {"tokenizer.json", "tokenizer_config.json"}:
            extra.unlink()
    return out_dir


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    out = build(Path(args[0]) if args else DEFAULT_OUT)
    print(out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
