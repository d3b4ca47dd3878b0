#!/bin/sh
# tinyfleet-delta end to end: diff/apply/info round trips and the documented exit codes
# (0 ok, 1 usage, 2 file I/O, 3 invalid or corrupt patch).
# usage: test_cli.sh path/to/tinyfleet-delta
set -u
T=$1
D=$(mktemp -d)
trap 'rm -rf "$D"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
expect() { want=$1; shift; "$@" >"$D/out" 2>"$D/err"; got=$?; [ "$got" -eq "$want" ] ||
	fail "$* exited $got, want $want: $(cat "$D/err")"; }

head -c 70000 /dev/urandom >"$D/old"
{ head -c 30000 "$D/old"; head -c 500 /dev/urandom; tail -c 40000 "$D/old"; } >"$D/new"

expect 0 "$T" --help
grep -q "usage: tinyfleet-delta diff" "$D/out" || fail "--help text"
expect 1 "$T"
expect 1 "$T" frobnicate
expect 1 "$T" diff "$D/old" "$D/new"
expect 1 "$T" diff --mode bogus "$D/old" "$D/new" "$D/p"
expect 1 "$T" diff --block 0 "$D/old" "$D/new" "$D/p"
expect 2 "$T" diff "$D/missing" "$D/new" "$D/p"
expect 3 "$T" diff --mode tensor "$D/old" "$D/new" "$D/p"
grep -q "needs two valid model containers" "$D/err" || fail "tensor mode error text"

for mode in auto full agnostic; do
	expect 0 "$T" diff --mode "$mode" --block 4096 "$D/old" "$D/new" "$D/p.$mode"
	expect 0 "$T" apply --chunk 7 "$D/old" "$D/p.$mode" "$D/out.$mode"
	cmp -s "$D/out.$mode" "$D/new" || fail "apply $mode output differs"
done
expect 0 "$T" info "$D/p.agnostic"
grep -q "^mode agnostic" "$D/out" || fail "info mode"
grep -q "^new_size 70500" "$D/out" || fail "info new_size"

# --stats: where the bytes go. Here: 18 blocks of 4096 (32 + 18 * 16 header bytes), and
# everything but the 500 inserted bytes is copied.
expect 0 "$T" diff --stats --mode agnostic --block 4096 "$D/old" "$D/new" "$D/p.st"
grep -q "^bytes headers=320 ops=" "$D/out" || fail "diff --stats headers: $(cat "$D/out")"
grep -q "^new_bytes .* copy=70000$" "$D/out" || fail "diff --stats new bytes: $(cat "$D/out")"
cmp -s "$D/p.st" "$D/p.agnostic" || fail "--stats changed the patch"

# The agnostic patch is far smaller than the full image here (one insertion).
[ "$(wc -c <"$D/p.agnostic")" -lt 5000 ] || fail "agnostic patch too large"

# Corrupt and truncated patches, wrong old image: exit 3 with the library's message.
head -c 100 "$D/p.agnostic" >"$D/p.trunc"
expect 3 "$T" apply "$D/old" "$D/p.trunc" "$D/o"
expect 3 "$T" info "$D/p.trunc"
grep -q "truncated" "$D/err" || fail "truncated message"
head -c 69999 "$D/old" >"$D/old.short"
expect 3 "$T" apply "$D/old.short" "$D/p.agnostic" "$D/o"
grep -q "old image size does not match" "$D/err" || fail "old size message"
printf 'XXXX' | dd of="$D/p.agnostic" bs=1 seek=0 conv=notrunc 2>/dev/null
expect 3 "$T" apply "$D/old" "$D/p.agnostic" "$D/o"
grep -q "not a delta patch" "$D/err" || fail "magic message"
expect 2 "$T" apply "$D/old" "$D/missing" "$D/o"
echo "ok"
