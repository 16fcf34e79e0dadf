#!/usr/bin/env bash
# Judge a retrained grounded adapter the way the shipped one was (tests/bench/ANSWER_QUALITY.md,
# "The adapter learns plain documents"), in about 45 minutes on 2 cores:
#   1. record its answers to the calibration questions of tests/bench/decision_rows (SQuAD's
#      2 calibration articles with answers taken out; the plain calibration documents, near
#      misses and answers taken out), no refusal acted on;
#   2. refit the decision on them, with and without the reader (thresholds by the shipped
#      rules);
#   3. `eval qa` on our own documents, the two plain held-out sets and 300 held-out SQuAD
#      questions through the app's path with the refitted weights and the decision out of reach
#      (tests/bench/candidate_eval.py --balanced 1.01);
#   4. read each report at the fit's thresholds (tests/bench/rethreshold.py).
# Compare OUT/summary.txt with the shipped adapter's figures (README, "Answer quality"). To
# ship: copy the adapter to resources/adapters/grounded-gemma3-270m.gguf, OUT/rows/*.json to
# tests/bench/decision_rows/, and the fit's weights and thresholds into
# assistant/answer/answerability.py.
#
# Usage: tests/bench/judge_adapter.sh NEW_ADAPTER.gguf OUT_DIR
set -euo pipefail
adapter=$(realpath "$1"); out=$(realpath -m "$2")
root=$(cd "$(dirname "$0")/../.." && pwd); cd "$root"
py=.venv/bin/python; squad=../shared/data/squad2-dev-half.json
source tests/bench/judge_common.sh
mkdir -p "$out/rows" "$out/home" "$out/lora"
echo '{"threads": 1}' > "$out/home/settings.json"
export ASSISTANT_HOME="$out/home"
# the decision applies to the adapter by its file name (answerability.calibrated_for)
lora="$out/lora/grounded-gemma3-270m.gguf"; cp "$adapter" "$lora"
cal=tests/bench/calibrate_strictness.py
say() { echo "$(date -u +%T) $*" | tee -a "$out/progress.log"; }

say "1. recording answers with $adapter"
( $py $cal $squad --split calibration --limit 240 --seed 1 --missing 120 --skip-unanswerable \
    --with-reader --refusals missing --lora "$lora" --out "$out/rows/cal_rows.json" \
    > "$out/rows/cal_rows.log" 2>&1 ) &
( $py $cal tests/data/qa/plain_calibration.jsonl --split all --limit 1000 --with-reader \
    --lora "$lora" --out "$out/rows/plain_rows.json" > "$out/rows/plain_rows.log" 2>&1
  $py $cal tests/data/qa/plain_calibration.jsonl --split all --limit 1 --missing-only \
    --missing 200 --with-reader --lora "$lora" --out "$out/rows/plain_missing.json" \
    > "$out/rows/plain_missing.log" 2>&1 ) &
wait

say "2. refitting the decision"
rows=(--rows "$out/rows/cal_rows.json" --absent "$out/rows/plain_rows.json"
      --rows "$out/rows/plain_missing.json" --refusals missing --split calibration)
$py $cal "${rows[@]}" --with-reader --out "$out/fit.json" > "$out/fit.txt" 2>&1
$py $cal "${rows[@]}" --out "$out/fit_without_reader.json" > "$out/fit_without_reader.txt" 2>&1
w=$(fitted "$out/fit.json" "','.join(str(x) for x in f['weights'])")
wo=$(fitted "$out/fit_without_reader.json" "','.join(str(x) for x in f['weights'])")
lenient=$(fitted "$out/fit.json" "f['chosen']['lenient']")
balanced=$(fitted "$out/fit.json" "f['chosen']['balanced']")
strict=$(fitted "$out/fit.json" "f['chosen']['strict']")
say "   weights $w; without the reader $wo; lenient $lenient, balanced $balanced, strict $strict"

say "3. eval qa with the decision out of reach"
eval_judged_sets --adapter "$lora" --weights "$w" --weights-without-reader "$wo" \
  --balanced 1.01 --balanced-without-reader 1.01

say "4. the reports at the fit's thresholds"
summarize_at_fit
echo "without the reader: $wo" >> "$out/summary.txt"
say "done: $out/summary.txt"
