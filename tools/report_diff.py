"""Compare two report folders apart from times: clue-report.json leaf by leaf, predictions/*.jsonl row by row,
clue-report.md line by line. For checking that a change leaves the report as it was.

    python tools/report_diff.py OLD_REPORT_DIR NEW_REPORT_DIR
"""
import json, re, sys
from pathlib import Path

TIMEY = re.compile(r"(time|duration|latency|elapsed|started|finished|_at$|wall|throughput|per_s|seconds|_s$|rss|cpu)", re.I)

def scrub(v, key=""):
    if isinstance(v, dict):
        return {k: ("<t>" if TIMEY.search(k) else scrub(x, k)) for k, x in v.items()}
    if isinstance(v, list):
        return [scrub(x) for x in v]
    return v

def flat(v, path=""):
    if isinstance(v, dict):
        for k, x in v.items():
            yield from flat(x, f"{path}.{k}")
    elif isinstance(v, list):
        for i, x in enumerate(v):
            yield from flat(x, f"{path}[{i}]")
    else:
        yield path, v

a, b = Path(sys.argv[1]), Path(sys.argv[2])
ja, jb = (scrub(json.loads((d / "clue-report.json").read_text())) for d in (a, b))
for k in ("schema_version",):
    ja.pop(k, None); jb.pop(k, None)
fa, fb = dict(flat(ja)), dict(flat(jb))
diffs = [(k, fa.get(k), fb.get(k)) for k in sorted(set(fa) | set(fb)) if fa.get(k) != fb.get(k)]
print(f"clue-report.json: {len(fa)} leaves, {len(diffs)} differ (times scrubbed)")
for d in diffs[:40]:
    print("   ", d)
for pa in sorted((a / "predictions").glob("*.jsonl")):
    pb = b / "predictions" / pa.name
    ra = [scrub(json.loads(l)) for l in pa.read_text().splitlines()]
    rb = [scrub(json.loads(l)) for l in pb.read_text().splitlines()] if pb.exists() else []
    print(f"predictions/{pa.name}: {len(ra)} rows vs {len(rb)}, {'identical' if ra == rb else 'DIFFER'} (times scrubbed)")
ma = [l for l in (a / "clue-report.md").read_text().splitlines()]
mb = [l for l in (b / "clue-report.md").read_text().splitlines()]
import difflib
md = [l for l in difflib.unified_diff(ma, mb, lineterm="", n=0) if l[:1] in "+-" and l[:3] not in ("+++", "---")]
print(f"clue-report.md: {len(ma)} lines vs {len(mb)}, {len(md)} differing lines")
for l in md[:30]:
    print("   ", l)
