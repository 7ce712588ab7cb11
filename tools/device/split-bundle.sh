#!/usr/bin/env bash
# Re-split a vLLM bundle (../shared/device/vllm-bundle's partNN.d folders) into parts that
# fit beside this checkout under the device tool's 64 MiB a call. Runs HERE, not on the
# GPU machine.
#
# Every call carries the working tree (tracked files plus untracked, non-ignored ones)
# and what `carry` names, so a part may be at most 64 MiB minus the tree, minus what the
# last call carries beside its part (the scripts' model folder), minus a margin. The
# parts are one byte stream (install.sh concatenates /tmp/parts/part*), so any split works.
#
#   bash tools/device/split-bundle.sh SRC [DEST]   # SRC: a folder of partNN.d (e.g.
#                                                  # .vllm-bundle or .vb); DEST: .vb
# Then carry DEST/partNN.d one call at a time; the last call also carries
# results/models/llama-1b and runs `bash DEST/partLAST.d/install.sh` (printed below).
set -euo pipefail
SRC=${1:?usage: $0 SRC_BUNDLE_DIR [DEST]}
DEST=${2:-.vb}
EXTRA_DIR=${EXTRA_DIR:-results/models/llama-1b}  # carried with the last part
MARGIN_MIB=${MARGIN_MIB:-2}
LIMIT=$((${LIMIT_MIB:-64} * 1024 * 1024))  # the device tool's limit a call

install=$(ls "$SRC"/part*.d/install.sh 2> /dev/null | head -1)
[ -n "$install" ] || { echo "no install.sh under $SRC/part*.d"; exit 2; }
tree=$( (git ls-files -z; git ls-files -z --others --exclude-standard) \
  | xargs -0 -r stat -c %s -- 2> /dev/null | awk '{s += $1} END {print s + 0}')
extra=$(du -sb "$EXTRA_DIR" 2> /dev/null | cut -f1); extra=${extra:-0}
part=$(( (LIMIT - tree - extra - MARGIN_MIB * 1024 * 1024) / (1024 * 1024) ))
if (( part < 4 )); then
  echo "the tree ($((tree / 1024 / 1024)) MiB) leaves no room for a part: keep it smaller"
  exit 2
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cat "$SRC"/part*.d/part[0-9]* > "$tmp/all"
total=$(stat -c %s "$tmp/all")
split -b "${part}M" -d -a 2 "$tmp/all" "$tmp/part"
cp "$install" "$tmp/install.sh"
rm -rf "$DEST"  # its old parts (SRC may be DEST: already read into $tmp)
for f in "$tmp"/part[0-9]*; do
  mkdir -p "$DEST/$(basename "$f").d" && mv "$f" "$DEST/$(basename "$f").d/"
done
last=$(ls -d "$DEST"/part*.d | tail -1)
cp "$tmp/install.sh" "$last/"
grep -qx "/$DEST/" .git/info/exclude 2> /dev/null || echo "/$DEST/" >> .git/info/exclude
n=$(ls -d "$DEST"/part*.d | wc -l)
echo "tree $((tree / 1024 / 1024)) MiB + $EXTRA_DIR $((extra / 1024)) KiB: bundle of" \
  "$((total / 1024 / 1024)) MiB in $n parts of ${part} MiB under $DEST/"
echo "last call: carry [\"$last\", \"$EXTRA_DIR\"], run: bash $last/install.sh"
