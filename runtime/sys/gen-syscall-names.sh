#!/bin/sh
# Turns musl's bits/syscall.h into the x86-64 system call names, as one string of
# NUL-terminated names in number order (an empty name for a gap), so the runtime can name a
# system call it does not support without a table of pointers.
set -eu
echo "/* Generated from $1 by runtime/sys/gen-syscall-names.sh. */"
echo "static const char syscall_names[] ="
sed -n 's/^#define __NR_\([a-z0-9_]*\)[ \t]\{1,\}\([0-9]\{1,\}\)$/\2 \1/p' "$1" | sort -n |
	awk 'BEGIN { n = 0 } { while (n < $1) { printf "\t\"\\0\"\n"; n++ } printf "\t\"%s\\0\"\n", $2; n++ }'
echo "\t;"
