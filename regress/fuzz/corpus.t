#!/bin/sh
# Every fuzz target over every input of its corpus, once, without fuzzing
# (regress/fuzz/run -regress): the inputs that once crashed stay fixed.
# Skipped where clang cannot build a libFuzzer program.
set -u

top=${RELAYD_TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
cd "$top" || exit 1

probe=$(mktemp -d "${TMPDIR:-/tmp}/relayd-fuzz-probe.XXXXXX") || exit 1
cat >"$probe/p.c" <<'EOF'
#include <stddef.h>
#include <stdint.h>
int LLVMFuzzerTestOneInput(const uint8_t *, size_t);
int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{ (void)d; (void)n; return 0; }
EOF
if ! clang -fsanitize=fuzzer,address,undefined -o "$probe/p" "$probe/p.c" \
    >/dev/null 2>&1; then
	rm -rf "$probe"
	echo "1..0 # SKIP clang with libFuzzer is not available"
	exit 0
fi
rm -rf "$probe"

set --
for src in regress/fuzz/*.c; do
	set -- "$@" "$(basename "$src" .c)"
done
echo "1..$(($# + 1))"

if ${MAKE:-make} -s fuzz >/dev/null 2>&1; then
	echo "ok 1 - make fuzz"
else
	echo "not ok 1 - make fuzz"
	echo "Bail out! the fuzz targets do not build"
	exit 1
fi

n=1
for t in "$@"; do
	n=$((n + 1))
	if out=$(regress/fuzz/run -regress "$t" 2>&1); then
		echo "ok $n - $out"
	else
		echo "not ok $n - $t"
		echo "$out" | sed 's/^/# /'
	fi
done
