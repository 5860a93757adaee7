#!/usr/bin/env bash
# How much of the plugins' behaviour the conformance suite notices (issue 14): plants mutants in the reference
# gateway's plugin code with cargo-mutants and runs ONLY the Gherkin conformance suite against each one, then
# prints per plugin folder: viable mutants, caught, missed, score.
#
#   ci/mutants.sh                                 every plugin folder (gateway/src/plugins/*)
#   ci/mutants.sh --file 'gateway/src/plugins/key_auth/**/*.rs' [--file ...]   a subset
#   ci/mutants.sh --list                          only list the mutants, run nothing
#
# It works on a clean copy of the committed tree (HEAD) under target/mutants-work/, so the work tree is never left
# mutated even when interrupted; uncommitted changes are not measured. Results go to target/mutants/ (cargo-mutants'
# own mutants.out/ plus summary.md). It takes about 20 s per mutant on two cores, so it is not part of ci/test.sh:
# run it before resolving a change to a plugin and copy the table into the README.
#
# `--baseline=skip` because cargo-mutants' baseline would run the mutated package's own tests, and the conformance
# target lives in `steps`. A timeout counts as caught (the suite failed on that mutant, by hanging).
set -euo pipefail
cd "$(dirname "$0")/.."
root="$(pwd)"

# The version the issue's measurement was made with; pinned so scores compare across runs.
mutants_version="27.1.0"
timeout_s=180
files=()
list_only=""
while (($#)); do
    case "$1" in
        --file) files+=("$2"); shift 2 ;;
        --timeout) timeout_s="$2"; shift 2 ;;
        --list) list_only=1; shift ;;
        -h|--help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "ci/mutants.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
    esac
done
((${#files[@]})) || files=('gateway/src/plugins/**/*.rs')

if ! cargo mutants --version 2>/dev/null | grep -q "$mutants_version"; then
    echo "ci/mutants.sh: installing cargo-mutants $mutants_version from crates.io" >&2
    cargo install cargo-mutants --locked --version "$mutants_version" >&2
fi

# The clean copy and its build cache live under target/mutants-work/, at a fixed path so the next run rebuilds
# only what changed; the source copy is made afresh from HEAD every run.
work="$root/target/mutants-work/src"
export CARGO_TARGET_DIR="$root/target/mutants-work/target"
rm -rf "$work"
mkdir -p "$work"
git archive --format=tar HEAD | tar -x -C "$work"
# The first run starts from the work tree's build cache when there is one.
if [[ ! -d "$CARGO_TARGET_DIR" && -d target/debug ]]; then
    mkdir -p "$CARGO_TARGET_DIR"
    cp -a --reflink=auto target/debug "$CARGO_TARGET_DIR/"
fi
mkdir -p "$work/.cargo"
cat >"$work/.cargo/mutants.toml" <<'EOF'
test_package = ["steps"]
additional_cargo_test_args = ["--test", "conformance"]
EOF

file_args=()
for f in "${files[@]}"; do file_args+=(--file "$f"); done

out="$root/target/mutants"
mkdir -p "$out"
if [[ -n "$list_only" ]]; then
    (cd "$work" && cargo mutants --list "${file_args[@]}")
    exit 0
fi

commit="$(git rev-parse --short HEAD)"
started="$(date -u '+%Y-%m-%d %H:%M UTC')"
set +e
(cd "$work" && cargo mutants --in-place --baseline=skip --timeout "$timeout_s" "${file_args[@]}" -o "$out")
status=$?
set -e
# cargo-mutants exits 2 when mutants were missed, 3 on timeouts: both are results, not failures of this script.
if ((status != 0 && status != 2 && status != 3)); then
    echo "ci/mutants.sh: cargo mutants failed (exit $status); see $out/mutants.out/debug.log" >&2
    exit "$status"
fi

python3 - "$out/mutants.out" "$commit" "$started" <<'EOF' | tee "$out/summary.md"
import collections, pathlib, re, sys

outdir, commit, started = pathlib.Path(sys.argv[1]), sys.argv[2], sys.argv[3]
counts = collections.defaultdict(collections.Counter)
for outcome in ("caught", "missed", "timeout", "unviable"):
    path = outdir / f"{outcome}.txt"
    for line in path.read_text().splitlines() if path.exists() else []:
        m = re.match(r"gateway/src/plugins/([^/:]+)/", line)
        counts[m.group(1) if m else line.split(":", 1)[0]][outcome] += 1

print(f"Mutation score of the conformance suite alone, {started}, commit `{commit}` (`ci/mutants.sh`).\n")
print("| plugin folder | viable | caught | missed | score |")
print("|---|---|---|---|---|")
total = collections.Counter()
for plugin in sorted(counts):
    c = counts[plugin]
    total.update(c)
    viable = c["caught"] + c["missed"] + c["timeout"]
    score = f"{100 * (c['caught'] + c['timeout']) / viable:.0f} %" if viable else "n/a"
    print(f"| {plugin} | {viable} | {c['caught'] + c['timeout']} | {c['missed']} | {score} |")
viable = total["caught"] + total["missed"] + total["timeout"]
if viable:
    print(f"| **all** | {viable} | {total['caught'] + total['timeout']} | {total['missed']} | "
          f"{100 * (total['caught'] + total['timeout']) / viable:.0f} % |")
print(f"\nUnviable (did not build, not counted): {total['unviable']}. Missed mutants: `target/mutants/mutants.out/missed.txt`.")
EOF
