# Shared by judge_adapter.sh and judge_reader.sh (sourced; needs $py, $out and $squad).

# the fit's --out JSON, then a Python expression over it (`f`)
fitted() { $py -c "import json, sys; f = json.load(open(sys.argv[1])); print($2)" "$1"; }

# `eval qa` on the judged sets through the app's path with a candidate: candidate_eval.py's
# own options as arguments (the candidate, its weights, --balanced 1.01 to keep the decision
# out of reach); 300 held-out SQuAD questions beside our own documents and the two plain
# held-out sets, one after another
eval_judged_sets() {
  local candidate=("$@")
  judged() { # name, then eval qa's arguments
    local name=$1; shift
    $py tests/bench/candidate_eval.py "${candidate[@]}" -- "$@" --out "$out/ev_$name" \
      > "$out/ev_$name.log" 2>&1
  }
  judged squad "$squad" --split held-out --limit 200 --balanced --missing 100 &
  ( judged own tests/data/qa/own_documents.jsonl
    judged plain tests/data/qa/plain_heldout.jsonl
    judged plain2 tests/data/qa/plain_heldout2.jsonl ) &
  wait
}

# each report read at the fit's thresholds ($strict, $balanced, $lenient), then the fit's
# AUC, weights ($w) and thresholds, into $out/summary.txt (callers append their own lines)
summarize_at_fit() {
  $py tests/bench/rethreshold.py "$out"/ev_*/*.json --at "$strict" "$balanced" "$lenient" \
    > "$out/summary.txt" 2>&1
  { echo "fit: $(grep -m1 'AUC of the decision' "$out/fit.txt")"; echo "weights: $w"
    echo "thresholds: lenient $lenient, balanced $balanced, strict $strict"; } \
    >> "$out/summary.txt"
}
