#!/usr/bin/env bash
# Fails if a build output is tracked by git: compiled binaries (ELF),
# test binaries and profiles. They bloat every clone for ever.
set -euo pipefail
cd "$(dirname "$0")/.."
bad=0
while IFS= read -r -d '' f; do
	case "$f" in
	*.test | *.prof | *.pprof)
		echo "build output tracked by git: $f (git rm --cached it)"
		bad=1
		continue
		;;
	esac
	if [ -f "$f" ] && [ "$(head -c 4 "$f" | od -An -tx1 | tr -d ' \n')" = "7f454c46" ]; then
		echo "binary tracked by git: $f (git rm --cached it; build outputs go to bin/)"
		bad=1
	fi
done < <(git ls-files -z)
exit $bad
