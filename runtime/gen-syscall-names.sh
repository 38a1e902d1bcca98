#!/bin/sh
# Turns musl's bits/syscall.h into a table of x86-64 system call names, indexed by number,
# so the runtime can name a system call it does not support.
set -eu
echo "/* Generated from $1 by runtime/gen-syscall-names.sh. */"
echo "static const char *const syscall_names[] = {"
sed -n 's/^#define __NR_\([a-z0-9_]*\)[ \t]\{1,\}\([0-9]\{1,\}\)$/\t[\2] = "\1",/p' "$1"
echo "};"
