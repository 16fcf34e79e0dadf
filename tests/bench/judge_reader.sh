#!/usr/bin/env bash
# Judge a retrained reader (train-reader's --out folder) the way judge_adapter.sh judges an
# adapter, in about 50 minutes on 2 cores, the shipped adapter answering:
#   1. the reader alone through the app's own search, no generation (calibrate_reader.py),
#      beside the shipped reader: the plain held-out sets (near misses, answers taken out),
#      our own documents, 300 held-out SQuAD questions; `auc_judged` is what the decision
#      reads (the judge head's probability, for a reader with one), `auc_plain` the ranking
#      head's, and the span of the passage it rates best (what overrules an answer) whether
#      it moved;
#   2. the decision refitted on the recorded calibration answers (tests/bench/decision_rows),
#      the new reader's probability read again from the very passages each answer was given
#      (a reader whose ranking head is held to the shipped one's gives the model the same
#      passages, so the recorded answers stand);
#   3. `eval qa` on our own documents, the two plain held-out sets and 300 held-out SQuAD
#      questions through the app's path with the new reader and the refitted weights, the
#      decision out of reach (tests/bench/candidate_eval.py --balanced 1.01);
#   4. each report read at the fit's thresholds (tests/bench/rethreshold.py).
# To ship: copy reader.onnx, reader.json and training_report.json to resources/reader/, and
# the fit's weights and thresholds into assistant/answer/answerability.py.
#
# Usage: tests/bench/judge_reader.sh NEW_READER_DIR OUT_DIR
set -euo pipefail
reader=$(realpath "$1"); out=$(realpath -m "$2")
root=$(cd "$(dirname "$0")/../.." && pwd); cd "$root"
py=.venv/bin/python; squad=../shared/data/squad2-dev-half.json; qa=tests/data/qa
rows=tests/bench/decision_rows
source tests/bench/judge_common.sh
mkdir -p "$out/alone" "$out/home"
echo '{"threads": 1}' > "$out/home/settings.json"
export ASSISTANT_HOME="$out/home"
say() { echo "$(date -u +%T) $*" | tee -a "$out/progress.log"; }

say "1. the reader alone through search: $reader beside the shipped one"
alone() { # name, which (new or shipped), then calibrate_reader's arguments
  local name=$1 which=$2; shift 2
  local given=(); [ "$which" = new ] && given=(--reader "$reader")
  $py tests/bench/calibrate_reader.py "$@" "${given[@]}" --out "$out/alone/$name-$which.json" \
    > "$out/alone/$name-$which.log" 2>&1
}
for which in new shipped; do
  ( alone plain $which $qa/plain_heldout.jsonl --split all --missing
    alone plain2 $which $qa/plain_heldout2.jsonl --split all --missing ) &
  ( alone own $which $qa/own_documents.jsonl --split all --missing
    alone squad $which $squad --split held-out --limit 300 ) &
  wait
done
$py - "$out/alone" > "$out/alone/summary.txt" <<'PY'
import json, sys
from pathlib import Path
folder = Path(sys.argv[1])
for name in ("own", "plain", "plain2", "squad"):
    for which in ("shipped", "new"):
        s = json.loads((folder / f"{name}-{which}.json").read_text())["summary"]
        kinds = {k[3:]: round(v["auc_judged"], 3) for k, v in s.items() if k.startswith("vs_")}
        print(f"{name:7} {which:8} judged AUC {s['auc_judged']:.3f} by kind {kinds}; "
              f"ranking head's {s['auc_plain']:.3f}; "
              f"its best span holds gold {s['reader_span_contains_gold']:.3f}")
PY
cat "$out/alone/summary.txt"

say "2. refitting the decision with the new reader's probabilities"
fit=(--rows $rows/cal_rows.json --absent $rows/plain_rows.json --rows $rows/plain_missing.json
     --refusals missing --split calibration --with-reader)
$py tests/bench/calibrate_strictness.py "${fit[@]}" --reader "$reader" --out "$out/fit.json" \
  > "$out/fit.txt" 2>&1
w=$(fitted "$out/fit.json" "','.join(str(x) for x in f['weights'])")
lenient=$(fitted "$out/fit.json" "f['chosen']['lenient']")
balanced=$(fitted "$out/fit.json" "f['chosen']['balanced']")
strict=$(fitted "$out/fit.json" "f['chosen']['strict']")
say "   weights $w; lenient $lenient, balanced $balanced, strict $strict"
say "   $(grep -m1 'AUC of the decision' "$out/fit.txt")"

say "3. eval qa with the new reader, the decision out of reach"
eval_judged_sets --reader "$reader" --weights "$w" --balanced 1.01

say "4. the reports at the fit's thresholds"
summarize_at_fit
cat "$out/alone/summary.txt" >> "$out/summary.txt"
say "done: $out/summary.txt"
